"""Whole response bodies over one kept-alive plain-http connection, read into a reused buffer.

A transfer's batches of values are bounded (the sender ends an answer when the
receiver's batch is full), so each answer can be read whole before it is decoded
(:func:`dvidctl.httpkit.framebody.read_body`). httpx reads a body through h11, which
copies every piece into its receive buffer and out again: about 0.9 ms of CPU per MB
here, as much as everything else a receiver does with the bytes but writing them. The
standard library's ``http.client`` reads a body with ``readinto`` straight into the
caller's buffer (chunked transfer encoding included): measured against the same
loopback server, a 121 MB body took 0.035 s instead of httpx's 0.083 s
(``bench/sync_rig.py``'s ``raw_get_socket``).

Only plain ``http://`` remotes without a proxy from the environment take this path
(:func:`direct_http`); the others stay with httpx (its certificate store and proxy
rules). Timeouts: ``connect`` seconds to connect, then ``stall`` seconds without a
byte (the stall watchdog, as the httpx requests). A failure leaves the connection
closed; the next request opens a new one.
"""

from __future__ import annotations

import http.client
import mmap
import os
import socket
import struct
import sys
import threading
import urllib.request
from queue import SimpleQueue
from urllib.parse import urlencode, urlsplit

#: Bytes the reused buffer starts with (grown to the largest body seen).
FIRST_BUFFER = 1 << 20
#: Whether a body of known length is read in one kernel call (Linux: blocking sockets
#: with the stall time as SO_RCVTIMEO, as ``struct timeval``; elsewhere piece by piece).
WHOLE_READS = sys.platform.startswith("linux") and hasattr(socket, "MSG_WAITALL")


def direct_http(base_url: str) -> bool:
    """Whether ``base_url`` is plain http reached without a proxy (the environment's
    ``http_proxy``/``no_proxy``, as httpx reads them)."""
    u = urlsplit(base_url)
    if u.scheme != "http" or not u.hostname:
        return False
    proxies = urllib.request.getproxies()
    if not proxies.get("http") and not proxies.get("all"):
        return True
    return bool(urllib.request.proxy_bypass(u.hostname))


class RawConnection:
    """One kept-alive connection to the server at ``base_url`` (see the module doc)."""

    def __init__(self, base_url: str, connect: float, stall: float) -> None:
        u = urlsplit(base_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.prefix = u.path.rstrip("/")
        self.connect_timeout = connect
        self.stall = stall
        self._conn: http.client.HTTPConnection | None = None
        self._buf = _buffer(FIRST_BUFFER)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
            conn.connect()
            assert conn.sock is not None
            sock = conn.sock
            if WHOLE_READS:
                # Blocking, with the stall time as the kernel's timeout for each receive
                # and send: a body is then read whole in one call (_read_whole).
                sock.settimeout(None)
                stall = _timeval(self.stall)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, stall)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, stall)
            else:
                sock.settimeout(self.stall)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        content: bytes | None = None,
        expect: int = 0,
    ) -> tuple[int, memoryview]:
        """``(status, body)``: the body is a view into the reused buffer, valid until the
        next request. ``expect``: the bytes the body is likely to reach (the buffer is made
        that large at once: growing it by halves touched twice the memory). Raises
        ``OSError`` or ``http.client.HTTPException`` on a failure (the connection is then
        closed)."""
        if expect > len(self._buf):
            self._buf = _buffer(expect)
        conn = self._connection()
        url = self.prefix + path + ("?" + urlencode(params) if params else "")
        try:
            conn.request(method, url, body=content, headers=headers)
            resp = conn.getresponse()
            n = self._read(resp)
            if resp.will_close:
                self.close()
        except BaseException:
            self.close()
            raise
        return resp.status, memoryview(self._buf)[:n]

    def _read(self, resp: http.client.HTTPResponse) -> int:
        """Read the body into the buffer; its length. A buffer too small is replaced by
        one twice as large (never resized: a view of the last body may still exist)."""
        length = resp.length  # None when chunked
        if length is not None and length > len(self._buf):
            self._buf = _buffer(length)
        if WHOLE_READS and length and resp.fp is not None:
            return self._read_whole(resp, length)
        got = 0
        while True:
            with memoryview(self._buf) as view:
                while got < len(view):
                    k = resp.readinto(view[got:])
                    if not k:
                        if length is not None and got < length:
                            # http.client returns a body cut short of its length as if it
                            # had ended; a chunked one raises this itself.
                            raise http.client.IncompleteRead(b"", length - got)
                        return got
                    got += k
            if length is not None and got >= length:
                return got
            bigger = _buffer(2 * len(self._buf))  # full, and the body goes on
            bigger[:got] = self._buf
            self._buf = bigger

    def _read_whole(self, resp: http.client.HTTPResponse, length: int) -> int:
        """A body of known ``length`` read by the kernel in one call (``MSG_WAITALL``),
        without the GIL: read a piece at a time, it took the GIL back after each piece,
        and waited for it while another stream wrote a batch (rocksdict keeps the GIL
        through a table file's writes and ingestion). A pull's 16 MiB bodies took 41-57
        ms that way, 23-33 ms now. The kernel gives up after the stall time without a
        byte (``SO_RCVTIMEO``), and a cut body raises, as in :meth:`_read`."""
        fp = resp.fp
        assert fp is not None and self._conn is not None and self._conn.sock is not None
        with memoryview(self._buf) as view:
            head = fp.peek(1)[:length]  # what http.client's reader already holds
            n = len(head)
            view[:n] = head
            fp.read(n)
            sock = self._conn.sock
            while n < length:
                k = sock.recv_into(view[n:length], length - n, socket.MSG_WAITALL)
                if not k:
                    raise http.client.IncompleteRead(b"", length - n)
                n += k
        resp.length = 0
        resp.close()  # done: the connection takes the next request
        return n

    def close(self) -> None:
        """Close the connection (a later request opens a new one) and give the buffer's
        memory back on another thread (a fresh one is made for a later request)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if len(self._buf) > FIRST_BUFFER:
            box = [self._buf]  # from here the only reference, handed to the thread
            self._buf = _buffer(FIRST_BUFFER)
            _drop_elsewhere(box)


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))


def _buffer(size: int) -> mmap.mmap:
    """A writable buffer of ``size`` bytes whose pages are only made when a body reaches
    them (anonymous memory): ``bytearray(size)`` zeroes all of it first, holding the
    GIL (~20 ms of a pull's for its 16 MiB buffers, most of them never filled)."""
    return mmap.mmap(-1, max(size, 1))


def _drop_elsewhere(box: list[mmap.mmap]) -> None:
    """Let go of the buffer in ``box`` (its only reference) on the unmapping thread:
    giving back the pages a body filled takes 3-8 ms per 16 MiB (GIL released), and a
    transfer closes its streams' connections on the thread that then completes the
    node and ends the command. A view of the buffer's last body keeps it, as before."""
    global _unmapping
    with _unmapping_lock:
        if _unmapping is None:
            _unmapping = SimpleQueue()
            threading.Thread(
                target=_unmap, args=(_unmapping,), name="dvidctl-unmap", daemon=True
            ).start()
        _unmapping.put(box)


def _unmap(boxes: SimpleQueue[list[mmap.mmap]]) -> None:
    while True:
        boxes.get().clear()


def _forget_unmapping() -> None:
    """In a forked child the thread is gone: the next buffer starts another."""
    global _unmapping, _unmapping_lock
    _unmapping, _unmapping_lock = None, threading.Lock()


#: Buffers on their way out, and the lock that starts the one thread that drops them.
_unmapping: SimpleQueue[list[mmap.mmap]] | None = None
_unmapping_lock = threading.Lock()
os.register_at_fork(after_in_child=_forget_unmapping)


__all__ = ["FIRST_BUFFER", "RawConnection", "direct_http"]
