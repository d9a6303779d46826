"""Whole bodies read in one buffer: the decoder (``httpkit/framebody``) and the plain-http
connection (``sync/rawbody``) a transfer's batches of values come over.

The decoder is checked against the streaming reader on the same bodies, and against
every cut and every flipped byte; the connection against a real server, directly and
through a real TCP proxy that damages or cuts the first answers (a clone and a fetch
still end equal to the source, key for key).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvidctl import Repository
from dvidctl.api.versions import new_version
from dvidctl.errors import CorruptDataError
from dvidctl.httpkit import frames
from dvidctl.httpkit.framebody import read_body
from dvidctl.sync import rawbody
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.http import HttpEndpoint, Policy
from dvidctl.sync.push import push
from dvidctl.sync.rawbody import FIRST_BUFFER, RawConnection, direct_http
from dvidctl.sync.remotes import Remote
from dvidctl.sync.transfer import Options
from tests.sync.helpers import assert_same_nodes, remote, served, server

FAST = Policy(attempts=4, backoff=0.01, stall=5)
SMALL = Options(batch_values=8)


def _body(every: int = 1 << 20) -> bytes:
    w = frames.FrameWriter()
    small = [(b"s%03d" % i, bytes(range(i % 200)) * 3 + b"v") for i in range(40)]

    def recs() -> Iterator[frames.Encoded]:  # made one at a time, as a server does
        yield w.listing([b"a", b"bb"], [b"1" * 16, b"2" * 16])
        yield w.key(b"wanted")
        yield w.missing(b"gone")
        yield w.delete(b"old")
        yield from frames.value_records([[(k, b"d" * 16, v, 0) for k, v in small]], w)
        yield w.value_pieces(b"big", b"e" * 16, b"\x01" + bytes(70_000))
        yield w.wired(b"wire", b"f" * 16, 3, b"payload")

    return b"".join(frames.encode(frames.checkpointed(recs(), w, every), w))


def _plain(recs: list[object]) -> list[object]:
    out: list[object] = []
    for r in recs:
        if isinstance(r, frames.ValueRun):
            out.append(("run", r.triples()))
        elif isinstance(r, frames.ListingChunk):
            out.append(("listing", list(r.entries())))
        else:
            out.append(r)
    return out


@pytest.mark.parametrize("every", [1 << 20, 256])
def test_a_whole_body_decodes_as_the_streaming_reader_does(every: int) -> None:
    body = _body(every)
    streamed = list(frames.FrameReader([body[i : i + 777] for i in range(0, len(body), 777)]))
    buf = bytearray(body)
    got = read_body(memoryview(buf))
    plain = _plain(got)  # a run's values are a view until its triples are taken
    assert plain == _plain(streamed) and len(got) == 7  # L K X D B V W
    buf[:] = bytes(len(buf))  # the buffer is reused: what was taken out holds copies
    assert plain == _plain(streamed)


def test_any_cut_or_flipped_byte_gives_out_no_record() -> None:
    body = _body(256)
    for cut in range(0, len(body), 97):
        with pytest.raises(CorruptDataError):
            read_body(memoryview(body[:cut]))
    for at in range(0, len(body), 89):
        damaged = bytearray(body)
        damaged[at] ^= 0x20
        with pytest.raises(CorruptDataError):
            read_body(memoryview(damaged))
    with pytest.raises(CorruptDataError):
        read_body(memoryview(body + b"x"))


def test_a_body_with_another_record_count_is_refused() -> None:
    w = frames.FrameWriter()
    parts = [w.start(), w.key(b"a")]
    w.records += 1  # the end record claims one more record than the body holds
    parts.append(w.end())
    with pytest.raises(CorruptDataError, match="end record"):
        read_body(memoryview(b"".join(parts)))


def test_only_direct_plain_http_takes_the_raw_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert direct_http("http://127.0.0.1:8000")
    assert not direct_http("https://example.org")
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert not direct_http("http://data.example:8000")
    monkeypatch.setenv("no_proxy", "data.example")
    assert direct_http("http://data.example:8000")


class DamagingProxy:
    """A loopback TCP proxy that damages the answers to the first ``times`` requests whose
    request line holds ``part``: one byte flipped ``at`` bytes into the answer, or the
    connection closed there (``cut``)."""

    def __init__(self, target: int, part: bytes, times: int, mode: str, at: int) -> None:
        self.target, self.part, self.left, self.mode, self.at = target, part, times, mode, at
        self.hits = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            state = {"damage": -1}  # bytes of the answer still to go before the damage
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, state: dict[str, int]) -> None:
        try:
            while data := src.recv(1 << 16):
                if self.part in data and self.left > 0:
                    self.left -= 1
                    self.hits += 1
                    state["damage"] = self.at
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def _down(self, src: socket.socket, dst: socket.socket, state: dict[str, int]) -> None:
        try:
            while data := src.recv(1 << 16):
                at = state["damage"]
                if 0 <= at < len(data):
                    state["damage"] = -1
                    if self.mode == "cut":
                        dst.sendall(data[:at])
                        return
                    data = data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]
                elif at >= len(data):
                    state["damage"] = at - len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def close(self) -> None:
        self._sock.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Repository]:
    with Repository.init(tmp_path / "src") as repo:
        repo.new_instance("keyvalue", "kv")
        repo.head.instance("kv").put_many({f"k{i:03d}": bytes([i]) * 3000 for i in range(60)})
        repo.commit("one")
        yield repo


@pytest.mark.parametrize("mode", ["flip", "cut"])
def test_a_damaged_or_cut_dump_over_the_raw_path_is_asked_for_again(
    src: Repository, tmp_path: Path, mode: str
) -> None:
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        px = DamagingProxy(_port(srv.url), b"/dump", 2, mode, at=4000)
        try:
            ep = HttpEndpoint(px.url, src.root_uuid, policy=FAST)
            assert ep._raw_ok
            got = clone(f"{px.url}/{src.root_uuid}", tmp_path / "copy", endpoint=ep, options=SMALL)
        finally:
            px.close()
        assert px.hits == 2 and got.fetch.stats.keys == 60
        with Repository.open(tmp_path / "copy") as copy:
            assert assert_same_nodes(src, copy, [src.node("master~1").uuid]) == 60


@pytest.mark.parametrize("mode", ["flip", "cut"])
def test_damaged_values_over_the_raw_path_are_asked_for_again(
    src: Repository, tmp_path: Path, mode: str
) -> None:
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        head = new_version(there, there.state.branches[""])
        head.instance("kv").put_many({f"n{i:03d}": b"x" * 3000 for i in range(20)})
        clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
        head.instance("kv").put_many({f"m{i:03d}": b"y" * 3000 for i in range(40)})
        px = DamagingProxy(_port(srv.url), b"/values", 2, mode, at=4000)
        try:
            ep = HttpEndpoint(px.url, src.root_uuid, policy=FAST)
            with Repository.open(tmp_path / "copy") as copy:
                rem = Remote("px", px.url, src.root_uuid)
                got = fetch(copy, rem, endpoint=ep, options=SMALL)
                assert px.hits == 2 and got.snapshots == [head.uuid]
                assert (got.stats.keys, got.stats.same) == (40, 20)
                assert assert_same_nodes(there, copy, [head.uuid]) == 60
        finally:
            px.close()


def test_the_connection_grows_its_buffer_and_keeps_the_connection(
    src: Repository, tmp_path: Path
) -> None:
    """Bodies larger than the first buffer come whole; one connection serves them all; an
    error answer is the server's error."""
    with Repository.init(tmp_path / "big") as big:
        big.new_instance("keyvalue", "kv")
        big.head.instance("kv").put_many({f"k{i}": bytes([i]) * 400_000 for i in range(8)})
        big.commit("big")
        with server(tmp_path / "store") as srv:
            push(big, remote(srv, big.root_uuid))
            ep = HttpEndpoint(srv.url, big.root_uuid, policy=FAST)
            ep.state()
            node = big.node("master~1").uuid
            data_uuid = big.state.instances["kv"].data_uuid
            values = list(ep.dump(node, data_uuid, None, 100, 1 << 30))
            assert len(values) == 8 and sum(len(v) for _, _, v in values) > 3_200_000
            raw = ep._raw
            assert isinstance(raw, RawConnection) and len(raw._buf) > FIRST_BUFFER
            sock = raw._conn.sock if raw._conn else None
            again = list(ep.dump(node, data_uuid, values[3][0], 100, 1 << 30))
            assert [t for t, _, _ in again] == [t for t, _, _ in values[4:]]
            assert raw._conn is not None and raw._conn.sock is sock  # kept alive
            raw.close()  # its grown buffer goes; the next request reconnects and grows anew
            assert len(raw._buf) == FIRST_BUFFER and raw._conn is None
            assert list(ep.dump(node, data_uuid, None, 100, 1 << 30)) == values
            with pytest.raises(Exception, match="unknown|not found|no node|404"):
                list(ep.dump("f" * 32, data_uuid, None, 100, 1 << 30))
            ep.close()


def test_a_closed_connection_gives_its_buffer_back_on_another_thread() -> None:
    """Unmapping a filled buffer takes milliseconds: closing hands it to the unmapping
    thread, unless a view of its last body still holds it (then that view's end does)."""
    freed: list[str] = []
    done = threading.Event()

    def gone(_: object) -> None:
        freed.append(threading.current_thread().name)
        done.set()

    raw = RawConnection("http://127.0.0.1:9", connect=1, stall=1)
    for keep_view in (False, True):
        done.clear()
        raw._buf = rawbody._buffer(4 * FIRST_BUFFER)
        raw._buf[:] = b"\x01" * len(raw._buf)  # its pages are made
        ref = weakref.ref(raw._buf, gone)
        view = memoryview(raw._buf)[:10] if keep_view else None
        raw.close()
        assert len(raw._buf) == FIRST_BUFFER and raw._buf is not ref()
        if view is not None:
            assert not done.wait(0.2) and bytes(view) == b"\x01" * 10  # still whole
            view.release()
        assert done.wait(5)
    assert freed[0] == "dvidctl-unmap"
    raw.close()  # a buffer of the first size stays
    assert len(raw._buf) == FIRST_BUFFER


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.parametrize("sent", [0, 1000], ids=["no-answer", "mid-body"])
def test_a_body_that_stops_coming_fails_after_the_stall_time(sent: int) -> None:
    """A body read whole in one kernel call still obeys the stall watchdog: a server that
    answers nothing, or stops part way through a body, fails the request within about
    the stall time (and the connection is closed), instead of hanging."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    held: list[socket.socket] = []

    def serve() -> None:
        conn, _ = lsock.accept()
        held.append(conn)
        conn.recv(65536)  # the request
        if sent:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * sent)

    threading.Thread(target=serve, daemon=True).start()
    raw = RawConnection(f"http://127.0.0.1:{lsock.getsockname()[1]}", connect=1, stall=0.3)
    t0 = time.monotonic()
    try:
        with pytest.raises((OSError, http.client.HTTPException)):
            raw.request("GET", "/x", {}, {})
        assert time.monotonic() - t0 < 3
        assert raw._conn is None
    finally:
        raw.close()
        for c in held:
            c.close()
        lsock.close()
