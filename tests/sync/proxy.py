"""A loopback TCP proxy that counts the bytes it forwards each way (kill tests: bytes sent again).

Threads, one pair per connection; ``target`` may be changed between connections (a
restarted server on another port). A byte counts once the proxy has handed it to
the other side's socket: what a killed peer's kernel buffers held counts as sent.
"""

from __future__ import annotations

import socket
import threading


class CountingProxy:
    """``http://127.0.0.1:PORT`` forwarding to ``127.0.0.1:target``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.up = 0  # client -> server
        self.down = 0  # server -> client
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def moved(self) -> int:
        """Bytes forwarded so far, both ways."""
        with self._lock:
            return self.up + self.down

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "down"), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
                with self._lock:
                    setattr(self, way, getattr(self, way) + len(data))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed = True
        self._sock.close()
