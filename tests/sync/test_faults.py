"""Faults on the wire: damaged and cut-off bodies, stalls. Each gives one clear error or is
retried, nothing is half-applied, and a rerun completes.

Damage is done by an httpx transport between the client and a real server (httpx's own
extension point); the server and the client are the real ones.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dvidctl import Repository
from dvidctl.api.versions import new_version
from dvidctl.errors import RemoteError
from dvidctl.httpkit.frames import FrameWriter, encode
from dvidctl.store.keys import digest
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.http import HttpEndpoint, Policy
from dvidctl.sync.push import push
from dvidctl.sync.transfer import Options
from tests.sync.helpers import assert_same_nodes, remote, served, server

FAST = Policy(attempts=3, backoff=0.01, stall=5)
SMALL = Options(batch_values=8)


class _Damaged(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, mode: str, at: int) -> None:
        self.inner, self.mode, self.at = inner, mode, at

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        at = self.at
        for chunk in self.inner:
            if sent + len(chunk) > at and self.mode != "done":
                if self.mode == "cut":
                    yield chunk[: at - sent]
                    return
                chunk = bytearray(chunk)
                chunk[max(0, at - sent)] ^= 0x20
                chunk = bytes(chunk)
                self.mode = "done"
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Mangler(httpx.BaseTransport):
    """Damages the first ``times`` requests (or responses) whose path holds ``part``."""

    def __init__(
        self, part: str, times: int, *, what: str, mode: str = "flip", at: int = 200
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.part, self.left, self.what, self.mode, self.at = part, times, what, mode, at
        self.hits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        hit = self.part in request.url.path and self.left > 0
        if hit:
            self.left -= 1
            self.hits += 1
        if hit and self.what == "request":
            body = bytearray(request.read())
            body[len(body) // 2] ^= 0x20
            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=bytes(body)
            )
        response = self.inner.handle_request(request)
        if hit and self.what == "response":
            assert isinstance(response.stream, httpx.SyncByteStream)
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_Damaged(response.stream, self.mode, self.at),
            )
        return response

    def close(self) -> None:
        self.inner.close()


def _endpoint(url: str, root: str, transport: httpx.BaseTransport) -> HttpEndpoint:
    client = httpx.Client(transport=transport, timeout=5)
    return HttpEndpoint(url, root, policy=FAST, client=client)


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Repository]:
    with Repository.init(tmp_path / "src") as repo:
        repo.new_instance("keyvalue", "kv")
        repo.head.instance("kv").put_many({f"k{i:03d}": bytes([i]) * 3000 for i in range(60)})
        repo.commit("one")
        yield repo


def test_a_damaged_batch_is_refused_and_the_retry_rebuilds_it(
    src: Repository, tmp_path: Path
) -> None:
    with server(tmp_path / "store") as srv:
        mangler = Mangler("/batch", 2, what="request")
        ep = _endpoint(srv.url, src.root_uuid, mangler)
        res = push(src, remote(srv, src.root_uuid), endpoint=ep, options=SMALL)
        assert mangler.hits == 2 and res.stats.keys == 60
        assert assert_same_nodes(src, served(srv, src.root_uuid), [src.node("master~1").uuid])


def test_a_body_damaged_every_time_fails_cleanly_then_a_rerun_completes(
    src: Repository, tmp_path: Path
) -> None:
    tip = src.node("master~1").uuid
    with server(tmp_path / "store") as srv:
        mangler = Mangler("/batch", 10**6, what="request")
        with pytest.raises(RemoteError, match="damaged"):
            push(
                src, remote(srv, src.root_uuid), endpoint=_endpoint(srv.url, src.root_uuid, mangler)
            )
        there = served(srv, src.root_uuid)
        root = there.dag.node(there.dag.root.vid)
        assert root.incoming and not root.locked  # not completed: nothing claims it is there
        assert list(there.store.changes(root.vid)) == []
        assert there.state.branches[""] == root.vid  # the branch did not move
        res = push(src, remote(srv, src.root_uuid))
        assert res.stats.keys == 60 and assert_same_nodes(src, there, [tip]) == 60


@pytest.mark.parametrize("mode", ["flip", "cut"])
def test_a_damaged_or_cut_dump_stream_is_resumed(
    src: Repository, tmp_path: Path, mode: str
) -> None:
    """A clone reads each node in one stream (``dump``); a broken one resumes after its last key."""
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        mangler = Mangler("/dump", 2, what="response", mode=mode)
        ep = _endpoint(srv.url, src.root_uuid, mangler)
        got = clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy", endpoint=ep, options=SMALL)
        assert mangler.hits == 2 and got.fetch.stats.keys == 60
        with Repository.open(tmp_path / "copy") as copy:
            assert assert_same_nodes(src, copy, [src.node("master~1").uuid]) == 60


@pytest.mark.parametrize("mode", ["flip", "cut"])
def test_a_damaged_or_cut_values_stream_is_resumed(
    src: Repository, tmp_path: Path, mode: str
) -> None:
    """A snapshot written since is diffed: its values come in requests, resumed when broken."""
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        head = new_version(there, there.state.branches[""])
        head.instance("kv").put_many({f"n{i:03d}": b"x" * 300 for i in range(20)})
        clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
        head.instance("kv").put_many({f"m{i:03d}": b"y" * 300 for i in range(40)})
        mangler = Mangler("/values", 2, what="response", mode=mode)
        ep = _endpoint(srv.url, src.root_uuid, mangler)
        with Repository.open(tmp_path / "copy") as copy:
            got = fetch(copy, remote(srv, src.root_uuid), endpoint=ep, options=SMALL)
            assert mangler.hits == 2 and got.snapshots == [head.uuid]
            assert (got.stats.keys, got.stats.same) == (40, 20)
            assert assert_same_nodes(there, copy, [head.uuid]) == 60


def test_a_listing_cut_off_is_resumed_after_its_last_key(src: Repository, tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        head = new_version(there, there.state.branches[""])
        head.instance("kv").put_many({f"n{i:05d}": b"x" for i in range(12000)})
        clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
        head.instance("kv").put("zz-written-since", b"y")  # so the snapshot is listed again
        mangler = Mangler("/keys", 1, what="response", mode="cut", at=260_000)  # in chunk 2
        with Repository.open(tmp_path / "copy") as copy:
            got = fetch(
                copy,
                remote(srv, src.root_uuid),
                endpoint=_endpoint(srv.url, src.root_uuid, mangler),
            )
            # The snapshot came with the clone: the refresh lists it again, cut off once and
            # resumed after the last key it got: every key seen once, only the new one sent.
            assert mangler.hits == 1 and got.snapshots == [head.uuid]
            assert (got.stats.same, got.stats.keys, got.stats.deleted) == (12000, 1, 0)


def test_a_batch_cut_off_mid_stream_is_refused_whole(src: Repository, tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        from dvidctl.api.receive import reopen_node

        tip = src.node("master~1").uuid
        reopen_node(there, tip)
        duuid = there.instance_record("kv").data_uuid
        w = FrameWriter()
        recs = [w.value(f"z{i}".encode() + b"\x00", digest(b"\x00v"), b"\x00v") for i in range(50)]
        body = b"".join(encode(recs, w))
        url = f"{srv.url}/api/sync/{src.root_uuid}/node/{tip}/batch?instance={duuid}"
        before = sorted(there.store.changes(there.dag.by_uuid[tip]))
        for cut in (len(body) // 3, len(body) - 1):
            r = httpx.post(url, content=body[:cut])
            assert r.status_code == 400 and r.json()["error"] == "corrupt-data"
            assert "cut off" in r.json()["message"]
        bad = bytearray(body)
        bad[-30] ^= 1
        assert httpx.post(url, content=bytes(bad)).status_code == 400
        assert sorted(there.store.changes(there.dag.by_uuid[tip])) == before
        assert httpx.post(url, content=body).status_code == 200


def test_a_stalled_server_is_abandoned_and_reported() -> None:
    """A server that accepts and never answers: the stall watchdog gives up, no hang."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ep = HttpEndpoint(url, "abcd", policy=Policy(stall=0.3, attempts=2, backoff=0.01))
    t0 = time.monotonic()
    try:
        with pytest.raises(RemoteError, match="failed after 2 tries"):
            ep.state()
    finally:
        stop.set()
        ep.close()
        for c in held:
            c.close()
        sock.close()
    assert time.monotonic() - t0 < 5
