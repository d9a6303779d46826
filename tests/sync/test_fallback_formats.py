"""DVID's block formats on our server's endpoints, grayscale through the fallback, and the
fallback against servers that lack an endpoint or fail for a while."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import lz4.block
import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk.blockstream import iter_block_stream
from dvidctl.datatypes.imageblk.labelblock import decode_label_block
from dvidctl.errors import RemoteError
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.sync.clone import clone
from dvidctl.sync.dvidblocks import decode_gray_payload, decode_label_payload
from dvidctl.sync.http import Policy
from tests.sync.helpers import BOX, gray
from tests.sync.oldproxy import old_dvid
from tests.sync.test_fallback_labels import assert_same_labels, build_labels
from tests.testdata import DATA

SHAPE = (64, 64, 64)


@pytest.fixture
def served_repo(tmp_path: Path) -> Iterator[tuple[Repository, BackgroundServer]]:
    """A repository with labels (merged, cleaved) and grayscale stored three ways."""
    repo = Repository.init(tmp_path / "src")
    build_labels(repo)
    for name, comp in (("em", "lz4"), ("emz", "zstd"), ("emj", "jpeg")):
        repo.new_instance("uint8blk", name, {"BlockSize": "16,16,16", "Compression": comp})
        repo.head.instance(name).put_subvolume(gray(7), (0, 0, 0))
    repo.new_instance("labelmap", "dv", {"Compression": "labelblock"})
    repo.commit("gray")
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        yield repo, srv
    state.close()


def _golden() -> tuple[bytes, np.ndarray]:
    """DVID's own ``POST blocks`` body of one 64^3 block, and the Block inside it."""
    body = (DATA / "stream_1block.dat").read_bytes()
    ((_, payload),) = list(iter_block_stream(body))
    return body, decode_label_block(gzip.decompress(bytes(payload)))


def test_label_blocks_are_served_in_dvids_framing_and_formats(
    served_repo: tuple[Repository, BackgroundServer],
) -> None:
    repo, srv = served_repo
    body, vol = _golden()
    block = gzip.decompress(bytes(next(iter(iter_block_stream(body)))[1]))
    head = repo.head.uuid
    api = f"{srv.url}/api/node/{head}/dv"
    httpx.post(f"{api}/blocks", content=body).raise_for_status()
    for q in ("compression=blocks", "compression=blocks&supervoxels=true"):
        got = httpx.get(f"{api}/blocks/64_64_64/0_0_0?{q}").content
        assert struct.unpack_from("<4i", got) == (0, 0, 0, len(got) - 16)  # one record
        # A gzip'd label Block with DVID's header and label table. Not DVID's bytes: DVID's
        # encoder orders labels by Go map iteration, so no encoder reproduces them.
        served = gzip.decompress(got[16:])
        assert served[:16] == block[:16]  # gx, gy, gz, N
        table = [np.sort(np.frombuffer(b[16 : 16 + 8 * 10], "<u8")) for b in (served, block)]
        assert np.array_equal(*table)
        assert np.array_equal(decode_label_block(served), vol)
        assert np.array_equal(decode_label_payload(got[16:], SHAPE), vol)
    got = httpx.get(f"{api}/specificblocks?blocks=0,0,0").content  # default: blocks
    assert np.array_equal(decode_label_block(gzip.decompress(got[16:])), vol)
    got = httpx.get(f"{api}/blocks/64_64_64/0_0_0").content  # default: lz4, no size
    raw = lz4.block.decompress(got[16:], uncompressed_size=vol.nbytes)
    assert np.array_equal(np.frombuffer(raw, "<u8").reshape(SHAPE), vol)
    got = httpx.get(f"{api}/blocks/64_64_64/64_0_0?compression=blocks").content
    assert got == b""  # unwritten blocks are left out of the stream
    # A DVID instance stored with lz4 serves compression=blocks as LZ4 of the Block.
    lz = lz4.block.compress(block, store_size=False)
    assert np.array_equal(decode_label_payload(lz, SHAPE), vol)
    assert np.array_equal(decode_label_payload(block, SHAPE), vol)


def test_gray_blocks_are_served_as_dvid_stores_them(
    served_repo: tuple[Repository, BackgroundServer],
) -> None:
    repo, srv = served_repo
    want = gray(7)[:16, :16, :16]
    api = f"{srv.url}/api/node/{repo.head.uuid}"
    got = httpx.get(f"{api}/em/subvolblocks/16_16_16/0_0_0").content
    assert struct.unpack_from("<4i", got)[:3] == (0, 0, 0)
    assert int.from_bytes(got[16:20], "little") == want.size  # DVID's lz4: uint32 size first
    assert np.array_equal(decode_gray_payload(got[16:], (16, 16, 16)), want)
    got = httpx.get(f"{api}/em/subvolblocks/16_16_16/0_0_0?compression=uncompressed").content
    assert got[16:] == want.tobytes()
    jpeg = httpx.get(f"{api}/emj/subvolblocks/16_16_16/0_0_0").content
    assert jpeg[16:18] == b"\xff\xd8"  # a JPEG: never used for a clone
    with pytest.raises(Exception, match="never used for a clone"):
        decode_gray_payload(jpeg[16:], (16, 16, 16))


def test_clone_moves_grayscale_exactly_as_dvid_serves_it(
    served_repo: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    repo, srv = served_repo
    with old_dvid(srv.url) as (url, old):
        got = clone(f"{url}/{repo.root_uuid}", tmp_path / "copy")
        assert got.fetch.stats.notes == [] and not old.refused
    with Repository.open(tmp_path / "copy") as copy:
        for name in ("em", "emz", "emj"):  # the JPEG one as DVID decodes it, exactly
            a = repo.head.parents[0].instance(name).get_subvolume(BOX)
            b = copy.node(repo.head.parents[0].uuid).instance(name).get_subvolume(BOX)
            assert np.array_equal(a, b), name


def test_a_server_without_label_endpoints_degrades_with_a_note(
    served_repo: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    repo, srv = served_repo
    with old_dvid(srv.url) as (url, old):
        old.refuse = {"mappings": 400, "indices": 400, "blocks": 404, "mutations": 400}
        got = clone(f"{url}/{repo.root_uuid}", tmp_path / "copy")
        notes = " ".join(got.fetch.stats.notes)
        assert "no 'mappings'" in notes and "read with raw" in notes
        assert "no 'mutations'" in notes
        assert got.fetch.stats.labels == "raw" and old.refused
    with Repository.open(tmp_path / "copy") as copy:
        for n in repo.dag.nodes.values():  # every body answers as there
            a, b = repo.node(n.uuid).instance("seg"), copy.node(n.uuid).instance("seg")
            assert np.array_equal(a.get_subvolume(BOX), b.get_subvolume(BOX))
            bodies = np.unique(a.get_subvolume(BOX)).tolist()
            assert a.sizes(bodies) == b.sizes(bodies)
    with old_dvid(srv.url) as (url, old):  # without indices only: rebuilt, still exact
        old.refuse = {"indices": 404}
        got = clone(f"{url}/{repo.root_uuid}", tmp_path / "copy2")
        assert any("no 'indices'" in n for n in got.fetch.stats.notes)
    with Repository.open(tmp_path / "copy2") as copy:
        head = repo.head.parents[0].uuid
        a, b = repo.node(head).instance("seg"), copy.node(head).instance("seg")
        assert a.mappings()[0].tolist() == b.mappings()[0].tolist()
        bodies = np.unique(a.get_subvolume(BOX)).tolist()
        assert a.sizes(bodies) == b.sizes(bodies)


def test_the_fallback_retries_a_failing_server_then_says_it_gave_up(
    served_repo: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    repo, srv = served_repo
    with old_dvid(srv.url) as (url, old):
        old.fail_next = 3  # 503s, a busy DVID: retried with back-off
        got = clone(
            f"{url}/{repo.root_uuid}", tmp_path / "copy", policy=Policy(backoff=0.01), label_lease=0
        )
        assert old.failed == 3 and got.fetch.stats.nodes == len(repo.dag.nodes)
        with Repository.open(tmp_path / "copy") as copy:
            assert_same_labels(repo, copy, repo.head.parents[0].uuid)
        old.fail_next = 10_000
        with pytest.raises(RemoteError, match="after 3 tries"):
            clone(
                f"{url}/{repo.root_uuid}",
                tmp_path / "copy2",
                policy=Policy(attempts=3, backoff=0.01),
            )


def test_cli_clone_says_what_an_old_server_made_it_do(
    served_repo: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    """A real ``dvidctl clone`` process: the degrades are notes on stderr and in ``--json``."""
    import json
    import subprocess
    import sys

    repo, srv = served_repo
    with old_dvid(srv.url) as (url, old):
        old.refuse = {"mappings": 400}
        cmd = [sys.executable, "-m", "dvidctl", "clone", f"{url}/{repo.root_uuid}"]
        got = subprocess.run([*cmd, str(tmp_path / "a")], capture_output=True, text=True)
        assert got.returncode == 0, got.stderr
        assert "note: seg: the server has no 'mappings'" in got.stderr
        got = subprocess.run([*cmd, str(tmp_path / "b"), "--json"], capture_output=True, text=True)
        doc = json.loads(got.stdout)
        assert any("no 'mappings'" in n for n in doc["notes"]) and doc["labels"] == "dvid-blocks"
