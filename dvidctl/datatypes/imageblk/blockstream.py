"""DVID's block stream (DVID_API.md 5.3): ``blocks``, ``subvolblocks``, ``specificblocks`` bodies.

A stream is a sequence of records, little-endian, until EOF::

    int32 bx, int32 by, int32 bz     block coordinate
    int32 n                          payload length in bytes (>= 0)
    n bytes                          payload (its format depends on the endpoint)

An empty stream holds no blocks. Parsing is zero-copy: payloads are memoryview
slices of the input.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from dvidctl.errors import CorruptDataError

BlockCoord = tuple[int, int, int]
"""A block coordinate (bx, by, bz)."""

HEADER = struct.Struct("<iiii")
HEADER_BYTES = HEADER.size
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


class BlockStreamError(CorruptDataError):
    """Bytes that are not a valid block stream, or a record that cannot be written."""

    kind = "bad-stream"


def _as_view(data: bytes | bytearray | memoryview) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError as exc:
        raise BlockStreamError(f"block stream must be bytes-like: {exc}") from None
    if view.ndim != 1 or view.itemsize != 1:
        try:
            view = view.cast("B")
        except TypeError as exc:
            raise BlockStreamError(f"block stream must be contiguous bytes: {exc}") from None
    return view


def iter_block_stream(
    data: bytes | bytearray | memoryview,
) -> Iterator[tuple[BlockCoord, memoryview]]:
    """Yield ``((bx, by, bz), payload)`` for each record of a block stream.

    Args:
        data: The whole stream body.

    Yields:
        The coordinate and a memoryview of the payload (it aliases ``data``).

    Raises:
        BlockStreamError: On a truncated header, a negative length, or a payload that
            runs past the end of ``data``. Records before the bad one are still yielded.
    """
    view = _as_view(data)
    total = len(view)
    pos = 0
    index = 0
    while pos < total:
        if total - pos < HEADER_BYTES:
            raise BlockStreamError(
                f"block stream record {index} at byte {pos}: truncated header "
                f"({total - pos} of {HEADER_BYTES} bytes)"
            )
        bx, by, bz, n = HEADER.unpack_from(view, pos)
        pos += HEADER_BYTES
        if n < 0:
            raise BlockStreamError(
                f"block stream record {index} ({bx},{by},{bz}): negative payload length {n}"
            )
        if total - pos < n:
            raise BlockStreamError(
                f"block stream record {index} ({bx},{by},{bz}): truncated payload "
                f"({total - pos} of {n} bytes)"
            )
        yield (bx, by, bz), view[pos : pos + n]
        pos += n
        index += 1


class StreamParser:
    """Incremental block-stream parser: feed pieces of a body as they arrive, get whole records.

    The same format and checks as :func:`iter_block_stream`, for streamed HTTP
    bodies; payloads are copied out so the pieces can be released.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._index = 0

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[tuple[BlockCoord, bytes]]:
        """Add ``chunk``; return the records it completed."""
        buf = self._buf
        buf += chunk
        out = []
        pos = 0
        while len(buf) - pos >= HEADER_BYTES:
            bx, by, bz, n = HEADER.unpack_from(buf, pos)
            if n < 0:
                raise BlockStreamError(
                    f"block stream record {self._index} ({bx},{by},{bz}): "
                    f"negative payload length {n}"
                )
            end = pos + HEADER_BYTES + n
            if end > len(buf):
                break
            out.append(((bx, by, bz), bytes(buf[pos + HEADER_BYTES : end])))
            pos = end
            self._index += 1
        if pos:
            del buf[:pos]
        return out

    def finish(self) -> None:
        """Raise if the stream ended inside a record."""
        if self._buf:
            raise BlockStreamError(
                f"block stream record {self._index} is truncated "
                f"({len(self._buf)} bytes after the last whole record)"
            )


def encode_block_header(coord: BlockCoord, length: int) -> bytes:
    """Return the 16-byte record header for a block at ``coord`` with ``length`` payload bytes.

    Raises:
        BlockStreamError: If a coordinate or the length does not fit in an int32.
    """
    if len(coord) != 3:
        raise BlockStreamError(f"block coordinate must have 3 values, got {coord!r}")
    for value in (*coord, length):
        if not _INT32_MIN <= int(value) <= _INT32_MAX:
            raise BlockStreamError(f"block stream value {value} does not fit in an int32")
    if length < 0:
        raise BlockStreamError(f"negative payload length {length}")
    return HEADER.pack(int(coord[0]), int(coord[1]), int(coord[2]), int(length))


def encode_block_stream(
    items: Iterable[tuple[BlockCoord, bytes | bytearray | memoryview]],
) -> Iterator[bytes | bytearray | memoryview]:
    """Yield a block stream piece by piece: header, payload, header, payload, ...

    Suitable as a streaming HTTP body. Payloads are passed through without copying
    (empty payloads yield only their header).

    Raises:
        BlockStreamError: If a coordinate or payload length does not fit in an int32.
    """
    for coord, payload in items:
        length = memoryview(payload).nbytes
        yield encode_block_header(coord, length)
        if length:
            yield payload


def block_stream_bytes(items: Iterable[tuple[BlockCoord, bytes | bytearray | memoryview]]) -> bytes:
    """Return a whole block stream as one bytes object."""
    return b"".join(encode_block_stream(items))


__all__ = [
    "BlockCoord",
    "BlockStreamError",
    "StreamParser",
    "block_stream_bytes",
    "encode_block_header",
    "encode_block_stream",
    "iter_block_stream",
]
