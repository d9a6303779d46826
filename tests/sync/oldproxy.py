"""A loopback HTTP proxy in front of a real server that plays an older or flaky DVID: it
answers chosen endpoints with DVID's "unknown endpoint" 400 (or a 404), and can fail the
next requests with 503 before passing them on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class OldDvid:
    """What the proxy refuses (path segment -> status) and how many requests it fails."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.refuse: dict[str, int] = {}
        self.fail_next = 0
        self.failed = 0
        self.refused: list[str] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=120)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                self.failed += 1
                return 503, b"busy"
        route = path.split("?", 1)[0]
        for seg, status in self.refuse.items():
            if f"/{seg}/" in route + "/" and route.startswith("/api/node/"):
                self.refused.append(route)
                return status, f"unknown endpoint {seg!r}".encode()
        r = self.client.request(method, self.target + path, content=body or None)
        return r.status_code, r.content


def _handler(old: OldDvid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            status, out = old.answer(self.command, self.path, body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_DELETE = do_HEAD = _do

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def old_dvid(target: str) -> Iterator[tuple[str, OldDvid]]:
    """``(url, control)`` of a proxy to ``target`` running in a thread."""
    old = OldDvid(target)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(old))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", old
    finally:
        srv.shutdown()
        srv.server_close()
        old.client.close()
