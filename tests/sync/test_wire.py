"""Label blocks on the sync wire: DVID's label Block under zstd, stored again as the receiver stores
them, with digests of the stored values still equal on both sides (real server, real RocksDB)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api import wire
from dvidctl.api.instances import update_instance
from dvidctl.datatypes.imageblk.codec import ZstdCodec, decode_into
from dvidctl.datatypes.imageblk.wirelabels import LabelBlockWire
from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK
from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.httpkit import frames
from dvidctl.server.runner import BackgroundServer
from dvidctl.store.keys import digest
from dvidctl.sync.clone import clone
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch, fetch_from
from dvidctl.sync.push import push
from dvidctl.sync.transfer import Options
from tests.sync.helpers import assert_same_nodes, remote, served, server

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "dvid"
ENCODINGS = ("stored", "labelblock", "auto")


def _sample(name: str, offset: int) -> np.ndarray:
    raw = gzip.decompress((SAMPLES / f"{name}.dat.gz").read_bytes())
    s = np.frombuffer(raw, "<u8").reshape(64, 64, 64)
    _, inv = np.unique(s, return_inverse=True)
    return inv.reshape(s.shape).astype(np.uint64) + np.uint64(offset)


def _blocks() -> list[tuple[tuple[int, int, int], np.ndarray]]:
    names = ("fib19-64x64x64-sample1", "fib19-64x64x64-sample2", "cx-64x64x64-sample1")
    return [((0, 0, i), _sample(n, 1000 * i + 1)) for i, n in enumerate(names)]


def _build(path: Path, compression: str = "zstd") -> Repository:
    repo = Repository.init(path, alias="labels")
    repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "Compression": compression})
    repo.new_instance("keyvalue", "kv")
    repo.head.instance("seg").put_blocks(_blocks(), 0)
    repo.head.instance("kv").put("note", b"labels on the wire")
    repo.commit("blocks")
    repo.head.instance("seg").put_blocks([((0, 0, 1), _sample("cx-64x64x64-sample2", 7))], 0)
    repo.commit("one more")
    return repo


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[BackgroundServer]:
    with server(tmp_path / "store") as s:
        yield s


def _wire_of(repo: Repository) -> LabelBlockWire:
    rec = repo.state.instances["seg"]
    return LabelBlockWire(rec.config, CLASS_BLOCK)


def test_a_label_block_comes_back_byte_for_byte(tmp_path: Path) -> None:
    with _build(tmp_path / "a") as repo:
        enc = _wire_of(repo)
        stored = ZstdCodec().encode_labelled(_blocks()[0][1], b"\x00")  # an indexed write's
        tk = bytes([CLASS_BLOCK, 0]) + bytes(12)
        w = enc.encode(tk, stored)
        assert w is not None and len(w) < 0.7 * len(stored)
        assert enc.decode(tk, w) == stored
        assert enc.encode(tk, ZstdCodec().encode(_blocks()[0][1], b"\x00")) is None  # codec 4
        assert enc.encode(b"\x18", b"\x00extents") is None  # not a block: sent as stored
        assert enc.encode(tk, b"\x01") is None  # a tombstone
        with pytest.raises(CorruptDataError):
            enc.decode(tk, stored[1:])  # a stored payload is not a wire label block


def test_decode_values_asks_again_for_what_it_cannot_make_the_same(tmp_path: Path) -> None:
    with _build(tmp_path / "a") as repo:
        enc = _wire_of(repo)
        block = _blocks()[1][1]
        tk = bytes([CLASS_BLOCK, 0]) + bytes(12)
        other = ZstdCodec(level=9).encode_labelled(block, b"\x00")  # the sender's other settings
        mine = ZstdCodec().encode_labelled(block, b"\x00")
        w = enc.encode(tk, mine)
        assert w is not None
        number = wire.NUMBERS["labelblock"]
        items = [(tk, digest(mine), w, number), (tk[:-1] + b"\x01", digest(other), w, number)]
        done, again = wire.decode_values({number: enc}, items)
        assert done == [(tk, digest(mine), mine)]
        assert again == [tk[:-1] + b"\x01"]
        with pytest.raises(BadRequestError):
            wire.decode_values({}, items)


def test_w_records_round_trip_and_need_an_encoding() -> None:
    w = frames.FrameWriter()
    body = b"".join(frames.encode([w.wired(b"k", bytes(16), 1, b"payload")], w))
    (rec,) = frames.read_all([body])
    assert (rec.kind, rec.tkey, rec.value, rec.encoding) == ("W", b"k", b"payload", 1)
    broken = body.replace(
        b"W\x00\x00\x00\x01k" + bytes(16) + b"\x01", b"W\x00\x00\x00\x01k" + bytes(17)
    )
    with pytest.raises(CorruptDataError):
        frames.read_all([broken])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_sync_through_each_wire_encoding_then_nothing_to_send(
    tmp_path: Path, srv: BackgroundServer, encoding: str
) -> None:
    opts = Options(wire=encoding)
    with _build(tmp_path / "src") as src:
        pushed = push(src, remote(srv, src.root_uuid), "master", options=opts)
        assert pushed.stats.keys >= 5
        # auto keeps stored bytes on loopback: converting costs more than the bytes it saves
        assert pushed.stats.labels == ("labelblock" if encoding == "labelblock" else "stored")
        assert_same_nodes(
            src, served(srv, src.root_uuid), [n.uuid for n in src.dag.nodes.values() if n.locked]
        )
        got = clone(f"{srv.url}/{src.root_uuid}", tmp_path / "c", options=opts)
        with Repository.open(tmp_path / "c") as c:
            assert_same_nodes(src, c, [n.uuid for n in src.dag.nodes.values() if n.locked])
            again = fetch(c, remote(srv, src.root_uuid), options=opts)
            assert (again.stats.nodes, again.stats.keys) == (0, 0)
            assert got.fetch.stats.nodes_same == 0
        again_push = push(src, remote(srv, src.root_uuid), "master", options=opts)
        assert again_push.up_to_date and again_push.stats.keys == 0


def test_labelblock_moves_fewer_bytes_both_ways(tmp_path: Path) -> None:
    sent: dict[str, tuple[int, int]] = {}
    for encoding in ("stored", "labelblock"):
        with (
            server(tmp_path / f"store-{encoding}") as s,
            _build(tmp_path / f"src-{encoding}") as src,
        ):
            up = push(src, remote(s, src.root_uuid), "master", options=Options(wire=encoding))
            got = clone(
                f"{s.url}/{src.root_uuid}",
                tmp_path / f"c-{encoding}",
                options=Options(wire=encoding),
            )
            sent[encoding] = (up.stats.up, got.fetch.stats.down)
            assert up.stats.bytes == got.fetch.stats.bytes  # stored bytes written: the same
    assert sent["labelblock"][0] < 0.75 * sent["stored"][0]
    assert sent["labelblock"][1] < 0.75 * sent["stored"][1]


def test_a_block_the_receiver_stores_differently_goes_again_as_stored(
    tmp_path: Path, srv: BackgroundServer
) -> None:
    with _build(tmp_path / "src", compression="zstd:1") as src:
        rec = src.state.instances["seg"]
        rec.config["codec"] = {**rec.config["codec"], "level": 9}  # new writes: another level
        update_instance(src, rec)
        res = push(src, remote(srv, src.root_uuid), "master", options=Options(wire="labelblock"))
        locked = [n.uuid for n in src.dag.nodes.values() if n.locked]
        assert_same_nodes(src, served(srv, src.root_uuid), locked)
        assert res.stats.keys >= 5
        got = clone(
            f"{srv.url}/{src.root_uuid}", tmp_path / "c", options=Options(wire="labelblock")
        )
        assert got.fetch.stats.keys == res.stats.keys
        with Repository.open(tmp_path / "c") as c:
            assert_same_nodes(src, c, locked)


class _SlowLink(LocalEndpoint):
    """A local sender whose link looks like 100 bytes a second (what auto judges by)."""

    link_bytes = 1000
    link_seconds = 10.0


@pytest.mark.parametrize(("bytes_per_s", "chosen"), [(100.0, "labelblock"), (1e12, "stored")])
def test_auto_picks_labelblock_only_on_a_slow_link(
    tmp_path: Path, bytes_per_s: float, chosen: str
) -> None:
    with _build(tmp_path / "src") as src:
        root = src.root_uuid
        sender = _SlowLink(src)
        sender.link_bytes, sender.link_seconds = int(bytes_per_s * 10), 10.0
        with Repository.init(tmp_path / "dst", root_uuid=root, incoming_root=True) as dst:
            got = fetch_from(dst, "origin", sender, options=Options(wire="auto"))
            assert got.stats.labels == chosen
            assert_same_nodes(src, dst, [n.uuid for n in src.dag.nodes.values() if n.locked])


@pytest.mark.parametrize(("bytes_per_s", "converts"), [(100.0, True), (1e12, False)])
def test_auto_tells_a_fast_link_without_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bytes_per_s: float, converts: bool
) -> None:
    """On a link faster than any saving could pay for (a whole value's bytes take less
    time to send than decoding it, which every conversion does first), auto keeps stored
    bytes without encoding a sample; on a slow link it still times a real conversion."""
    calls: list[int] = []
    real = LabelBlockWire.encode

    def counted(self, tkey: bytes, stored: bytes) -> bytes | None:  # type: ignore[no-untyped-def]
        out = real(self, tkey, stored)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(LabelBlockWire, "encode", counted)
    with _build(tmp_path / "src") as src:
        sender = _SlowLink(src)
        sender.link_bytes, sender.link_seconds = int(bytes_per_s * 10), 10.0
        with Repository.init(tmp_path / "dst", root_uuid=src.root_uuid, incoming_root=True) as dst:
            got = fetch_from(dst, "origin", sender, options=Options(wire="auto"))
            assert got.stats.labels == ("labelblock" if converts else "stored")
            assert any(calls) == converts
            assert_same_nodes(src, dst, [n.uuid for n in src.dag.nodes.values() if n.locked])


def test_floor_seconds_only_for_values_that_convert(tmp_path: Path) -> None:
    with _build(tmp_path / "a") as repo:
        enc = _wire_of(repo)
        block = _blocks()[0][1]
        tk = bytes([CLASS_BLOCK, 0]) + bytes(12)
        stored = ZstdCodec().encode_labelled(block, b"\x00")
        floor = enc.floor_seconds(tk, stored)
        assert floor is not None and floor > 0
        # a bound: below what decoding the block (every conversion's first step) takes
        t0 = time.perf_counter()
        decode_into(memoryview(stored)[1:], np.empty(block.shape, np.uint64))
        assert floor < time.perf_counter() - t0
        assert enc.floor_seconds(tk, ZstdCodec().encode(block, b"\x00")) is None  # codec 4
        assert enc.floor_seconds(b"\x18", b"\x00extents") is None
        assert enc.floor_seconds(tk, b"\x01") is None


def test_a_transfer_that_converts_nothing_loads_no_wire_codec(tmp_path: Path) -> None:
    """Which encodings an instance offers is known without making one (its codec import
    was ~3 ms of a pull): with stored bytes asked for, a fetch of labels loads none."""
    script = """
import sys
from pathlib import Path
import numpy as np
from dvidctl import Repository
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch_from
from dvidctl.sync.transfer import Options
where = Path(sys.argv[1])
src = Repository.init(where / "src")
src.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
for i in range(2):
    src.head.instance("seg").put_subvolume(np.full((16, 16, 32), i + 1, np.uint64), (0, 0, 0))
    src.commit(f"c{i}")
with Repository.init(where / "c", root_uuid=src.root_uuid, incoming_root=True) as c:
    got = fetch_from(c, "origin", LocalEndpoint(src), options=Options(wire=sys.argv[2]), lease=0)
    assert got.stats.keys > 0 and got.stats.labels == sys.argv[2]
src.close()
print("dvidctl.datatypes.imageblk.wirelabels" in sys.modules)
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "stored"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
