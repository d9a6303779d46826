"""A node the receiver holds nothing of comes as a stream per instance (``dump``, one batch per
request), with no listing; a sender that wraps another and filters its listings is still read
through them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dvidctl import Repository
from dvidctl.api.syncstate import RepoInfo
from dvidctl.httpkit import frames
from dvidctl.sync.clone import clone
from dvidctl.sync.diff import Keys
from dvidctl.sync.endpoint import Endpoint, LocalEndpoint
from dvidctl.sync.fetch import fetch_from
from dvidctl.sync.http import HttpEndpoint
from dvidctl.sync.push import push
from tests.sync.helpers import assert_same_nodes, build_source, remote, server


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Repository]:
    with Repository.init(tmp_path / "src", alias="dump") as repo:
        build_source(repo)
        repo.head.instance("kv").put_many({f"many{i:05d}": b"v" * 100 for i in range(6000)})
        repo.commit("many")
        yield repo


def test_a_clone_streams_each_node_without_listing_it(src: Repository, tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        # No label lease: its one small request would go up; this counts the transfer only.
        got = clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy", label_lease=0)
        s = got.fetch.stats
        committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
        # No wanted keys went up (nothing was listed, nothing asked for): only the node lists
        # of the spans (several new nodes come in one stream per instance, store/nodespan.py).
        assert s.up <= s.requests * (40 * len(committed) + 20)
        assert s.requests <= 1 + 4 * len(committed)  # the state, then a stream per instance
        with Repository.open(tmp_path / "copy") as copy:
            assert assert_same_nodes(src, copy, committed) > 6000


class _Wrapper:
    """A sender that delegates everything and counts its listings (as a partial clone's
    wrapper, which filters them, does: it must be read through its listings)."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.listings = 0

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        self.listings += 1
        return self.ep.listing(node, data_uuid)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.ep, attr)


class _Counting(LocalEndpoint):
    listings = 0

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        self.listings += 1
        return super().listing(node, data_uuid)


def test_a_wrapping_sender_is_read_through_its_listings(src: Repository, tmp_path: Path) -> None:
    root = src.root_uuid
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    for name, sender in (("own", _Counting(src)), ("wrapped", _Wrapper(LocalEndpoint(src)))):
        with Repository.init(tmp_path / name, root_uuid=root, incoming_root=True) as dst:
            got = fetch_from(dst, "origin", sender)  # type: ignore[arg-type]
            assert got.stats.keys > 6000
            assert_same_nodes(src, dst, committed)
        # a class with its own dump streams new nodes; a wrapper does not say how it dumps
        assert (sender.listings == 0) == (name == "own")


class _Older(HttpEndpoint):
    """The client's view of a server from before dump, runs and wire encodings."""

    def state(self) -> RepoInfo:
        info = super().state()
        self.dumps, self.spans, self.speaks = False, False, []
        return info


def test_a_server_without_dump_is_read_and_written_as_before(
    src: Repository, tmp_path: Path
) -> None:
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        ep = _Older(srv.url, src.root_uuid)
        res = push(src, remote(srv, src.root_uuid), endpoint=ep)
        assert res.stats.keys > 6000
        ep = _Older(srv.url, src.root_uuid)
        got = clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy", endpoint=ep)
        assert got.fetch.stats.up > 6000 * 10  # wanted keys went up: listed, then asked for
        with Repository.open(tmp_path / "copy") as copy:
            assert assert_same_nodes(src, copy, committed) > 6000


def test_a_dump_or_values_request_answers_one_batch(src: Repository, tmp_path: Path) -> None:
    node = [n for n in src.dag.nodes.values() if n.locked][-1].uuid
    kv = src.state.instances["kv"].data_uuid
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        base = f"{srv.url}/api/sync/{src.root_uuid}/node/{node}"

        def dump(**params: str) -> list[tuple[bytes, bytes, bytes]]:
            r = httpx.get(f"{base}/dump", params={"instance": kv, **params})
            assert r.status_code == 200, r.text
            return [(x.tkey, x.digest, x.value) for x in frames.read_all([r.content])]

        whole = dump()
        assert len(whole) == 6000
        first = dump(limit="100")
        assert first == whole[:100]
        assert dump(limit="100", after=first[-1][0].hex()) == whole[100:200]
        by_bytes = dump(bytes="1000")  # ends after the value that reaches 1000 stored bytes
        assert by_bytes == whole[: len(by_bytes)] and sum(len(v) for *_, v in by_bytes) >= 1000
        assert sum(len(v) for *_, v in by_bytes[:-1]) < 1000
        # A batch is sent whole, with its length; a dump without a byte bound streams.
        r = httpx.get(f"{base}/dump", params={"instance": kv, "bytes": "1000"})
        assert r.headers["content-length"] == str(len(r.content))
        r = httpx.get(f"{base}/dump", params={"instance": kv})
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        r = httpx.get(f"{base}/dump", params={"instance": kv, "limit": "0"})
        assert r.status_code == 400 and "limit" in r.text
        w = frames.FrameWriter()
        body = b"".join(frames.encode((w.key(tk) for tk, _, _ in whole[:50]), w))
        r = httpx.post(f"{base}/values", params={"instance": kv, "bytes": "500"}, content=body)
        got = [x.tkey for x in frames.read_all([r.content])]
        assert r.headers["content-length"] == str(len(r.content))
        assert 0 < len(got) < 50 and got == [tk for tk, _, _ in whole[: len(got)]]
