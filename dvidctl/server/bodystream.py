"""A request body read as it arrives: a binary file for handlers that stream it.

Most routes get their body whole (:func:`dvidctl.server.dispatcher.read_body`).
A route made with ``stream_body=True`` (``POST key/{key}``: a value of any size)
gets :class:`RequestBody` instead, as ``call.body_stream``: its ``readinto``,
called from the handler's worker thread, takes the next pieces of the body from
the event loop, so a 200 MB value is never held whole. The server's body limit
and the ``Content-Length`` are checked as the bytes come; a handler that fails
there (or anywhere) writes nothing, as its write is one atomic batch at the end.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import anyio.from_thread
from starlette.requests import Request

from dvidctl.errors import BadRequestError
from dvidctl.server.errors import PayloadTooLargeError


class RequestBody(io.RawIOBase):
    """The body of ``request`` as a readable binary file (worker threads only)."""

    def __init__(self, request: Request, limit: int) -> None:
        super().__init__()
        cl = request.headers.get("content-length")
        self._length: int | None = None
        if cl is not None:
            try:
                self._length = int(cl)
            except ValueError:
                raise BadRequestError(f"bad Content-Length {cl!r}") from None
            if self._length > limit:
                raise PayloadTooLargeError(
                    f"request body of {self._length} bytes exceeds the limit of {limit}"
                )
        self._limit = limit
        self._chunks: AsyncIterator[bytes] | None = None
        if self._length != 0 and (cl is not None or "transfer-encoding" in request.headers):
            self._chunks = request.stream().__aiter__()
        self._pending = memoryview(b"")
        self._seen = 0

    async def _next(self) -> bytes | None:
        # The end is None, not StopAsyncIteration: an exception crossing threads is
        # kept (with the caller's frames, and so the caller's buffer) by the portal.
        assert self._chunks is not None
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the body; 0 at its end."""
        while not self._pending and self._chunks is not None:
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                self._chunks = None
                if self._length is not None and self._seen != self._length:
                    raise BadRequestError(
                        f"request body ended after {self._seen} of {self._length} bytes"
                    )
                break
            self._seen += len(chunk)
            if self._length is not None and self._seen > self._length:
                raise BadRequestError("request body is longer than its Content-Length")
            if self._seen > self._limit:
                raise PayloadTooLargeError(f"request body exceeds the limit of {self._limit} bytes")
            self._pending = memoryview(chunk)
        with memoryview(buffer) as view, view.cast("B") as out:  # no export left behind
            n = min(len(out), len(self._pending))
            out[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
