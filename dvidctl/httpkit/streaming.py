"""Large response bodies: sent in 1 MiB pieces, numpy buffers without copies.

``buffer_response`` serves an in-memory buffer (a numpy array's bytes, an
encoded image) as slices of one memoryview; ``iter_response`` serves a sync
generator (block streams read lazily from the store) in the thread pool,
gathering small pieces into ~1 MiB chunks so each thread hop moves real data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

CHUNK = 1 << 20
OCTET = "application/octet-stream"


def as_bytes_view(buf: np.ndarray | bytes | bytearray | memoryview) -> memoryview:
    """A flat byte memoryview of ``buf`` (arrays are made C-contiguous first)."""
    if isinstance(buf, np.ndarray):
        buf = np.ascontiguousarray(buf)
        return buf.reshape(-1).view(np.uint8).data
    view = memoryview(buf)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


async def _slices(view: memoryview) -> AsyncIterator[memoryview]:
    for i in range(0, len(view), CHUNK):
        yield view[i : i + CHUNK]


def buffer_response(
    buf: np.ndarray | bytes | bytearray | memoryview,
    media_type: str = OCTET,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Serve a buffer; above 1 MiB it streams in 1 MiB memoryview slices (no copy)."""
    view = as_bytes_view(buf)
    hdrs = dict(headers or {})
    if len(view) <= CHUNK:
        return Response(bytes(view), status_code=status_code, media_type=media_type, headers=hdrs)
    hdrs["content-length"] = str(len(view))
    return StreamingResponse(
        _slices(view), status_code=status_code, media_type=media_type, headers=hdrs
    )


def coalesce(
    pieces: Iterable[bytes | bytearray | memoryview], size: int = CHUNK
) -> Iterator[bytes | memoryview]:
    """Join small pieces into chunks of about ``size`` bytes; a piece of a quarter of that
    or more passes through as it is (no copy)."""
    pending: list[bytes | bytearray | memoryview] = []
    n = 0
    big = size // 4
    for p in pieces:
        if len(p) >= big:
            if pending:
                yield b"".join(pending)
                pending, n = [], 0
            yield bytes(p) if isinstance(p, bytearray) else p
            continue
        pending.append(p)
        n += len(p)
        if n >= size:
            yield b"".join(pending)
            pending, n = [], 0
    if pending:
        yield b"".join(pending)


def iter_response(
    pieces: Iterable[bytes | bytearray | memoryview],
    media_type: str = OCTET,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Serve a lazily produced body (e.g. a block stream) in ~1 MiB chunks."""
    return StreamingResponse(coalesce(pieces), media_type=media_type, headers=dict(headers or {}))


def slab_response(
    first: np.ndarray,
    produce: Callable[[int], np.ndarray],
    count: int,
    nbytes: int,
    media_type: str = OCTET,
) -> Response:
    """Serve ``count`` slabs (slab 0 already computed) as one body, overlapping work and sending.

    While slab i goes out in 1 MiB pieces, slab i+1 is produced on the thread
    pool (reads and decodes release the GIL), so a large subvolume streams at
    about the speed of the slower of the two instead of their sum, and at most
    two slabs are in memory. An error after the first slab truncates the body.
    """

    async def body() -> AsyncIterator[memoryview]:
        pending: asyncio.Future[np.ndarray] | None = None
        buf = first
        for i in range(count):
            if i + 1 < count:
                pending = asyncio.ensure_future(run_in_threadpool(produce, i + 1))
            view = as_bytes_view(buf)
            for j in range(0, len(view), CHUNK):
                yield view[j : j + CHUNK]
            if pending is not None:
                buf = await pending
                pending = None

    return StreamingResponse(body(), media_type=media_type, headers={"content-length": str(nbytes)})
