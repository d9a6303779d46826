"""zstd block bodies: one frame per block, or tiled (one frame per (z, y) tile).

A tiled body is ``u16 tz, u16 ty, u16 n, n * u32 frame sizes`` followed by ``n``
zstd frames, one per tile of ``tz * ty * X`` voxels, z-major, so a read decodes
only the tiles it needs. Frames are streamed with ``stream_reader(...).readinto``
straight into the destination (it releases the GIL; ``decompress()`` scales worse
on two threads).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator

import numpy as np
import zstandard

from dvidctl.datatypes.imageblk.scratch import byte_view, dctx, row_kind, scratch, tile_buffer
from dvidctl.errors import CorruptDataError

Buffer = bytes | bytearray | memoryview
TILE_HEAD = struct.Struct("<HHH")


def zstd_decompress_into(body: Buffer, out: np.ndarray) -> None:
    """Decompress one zstd frame into ``out``, which must be exactly its content size.

    Raises:
        CorruptDataError: Not a zstd frame, wrong content size, or truncated.
    """
    dest = byte_view(out)
    try:
        size = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"stored block is not a zstd frame: {exc}") from None
    if size != len(dest):
        raise CorruptDataError(f"stored zstd block holds {size} bytes, the block needs {len(dest)}")
    got = 0
    try:
        with dctx().stream_reader(body) as reader:
            while got < len(dest):
                n = reader.readinto(dest[got:])
                if not n:
                    break
                got += n
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"stored zstd block does not decode: {exc}") from None
    if got != len(dest):
        raise CorruptDataError(f"stored zstd block is truncated ({got} of {len(dest)} bytes)")


def _tiles(body: memoryview, shape: tuple[int, ...]) -> tuple[int, int, list[int]]:
    """Parse a tiled payload body: ``(tz, ty, frame offsets)`` (``n + 1`` offsets)."""
    head = TILE_HEAD
    if len(body) < head.size:
        raise CorruptDataError("tiled zstd block is truncated")
    tz, ty, n = head.unpack_from(body)
    if tz == 0 or ty == 0 or n != -(-shape[0] // tz) * -(-shape[1] // ty):
        raise CorruptDataError(f"tiled zstd block has {n} tiles of {tz}x{ty}, not fit for {shape}")
    start = head.size + 4 * n
    if len(body) < start:
        raise CorruptDataError("tiled zstd block is truncated")
    offsets = list(
        itertools.accumulate(struct.unpack_from(f"<{n}I", body, head.size), initial=start)
    )
    if offsets[-1] != len(body):
        raise CorruptDataError("tiled zstd block frame sizes do not match its length")
    return tz, ty, offsets


def _spans(r: slice, t: int, n: int) -> list[tuple[int, int, slice, slice]]:
    """Tiles of edge ``t`` (block edge ``n``) that ``r`` touches.

    Each is ``(tile index, tile length, slice in the tile, slice in the region)``.
    """
    out = []
    lo, hi = r.start, r.stop
    for i in range(lo // t, (hi - 1) // t + 1):
        a = i * t
        b = min(a + t, n)
        s, e = max(a, lo), min(b, hi)
        out.append((i, b - a, slice(s - a, e - a), slice(s - lo, e - lo)))
    return out


def decode_tiled_region(
    body: memoryview, shape: tuple[int, ...], region: tuple[slice, ...], dst: np.ndarray
) -> None:
    """Copy ``block[region]`` of a tiled zstd body (after the id byte) into ``dst``.

    Only the tiles ``region`` touches are decoded, each into a per-thread tile
    buffer that is copied into ``dst`` row by row.
    """
    dtype = dst.dtype
    tz, ty, offs = _tiles(body, shape)
    nx = shape[2]
    nyt = -(-shape[1] // ty)
    ys = _spans(region[1], ty, shape[1])
    sx = region[2]
    kind = row_kind(dst)
    dst_rows = dst.view(kind) if kind is not None else dst
    bufs: dict[tuple[int, int], tuple[memoryview, np.ndarray]] = {}
    reader = dctx().stream_reader
    try:
        for iz, lz, sz, dz in _spans(region[0], tz, shape[0]):
            for iy, ly, sy, dy in ys:
                got = bufs.get((lz, ly))
                if got is None:
                    tile, view = tile_buffer((lz, ly, nx), dtype)
                    rows = tile[:, :, sx]
                    got = bufs[lz, ly] = (view, rows.view(kind) if kind is not None else rows)
                view, rows = got
                i = iz * nyt + iy
                # readinto releases the GIL (decompress() scales worse on 2 threads)
                if reader(body[offs[i] : offs[i + 1]]).readinto(view) != len(view):
                    raise CorruptDataError(f"stored zstd tile {i} is too short")
                dst_rows[dz, dy] = rows[sz, sy]
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"stored zstd block does not decode: {exc}") from None


def decode_tile_major(
    body: memoryview, shape: tuple[int, ...], dtype: np.dtype, slot: str = "tile-major"
) -> tuple[np.ndarray, int, int] | None:
    """Every tile of a tiled zstd body (after the id byte), tile after tile: no reordering.

    Returns ``(tiles, tz, ty)``, ``tiles`` a per-thread ``(n, tz, ty, X)`` buffer (``slot``)
    (tile ``i`` covers z from ``(i // (Y / ty)) * tz``, y from ``(i % (Y / ty)) * ty``),
    or None when the tiles do not divide the block evenly (the caller decodes it whole).
    Skipping the copy into ZYX order saves about a third of a whole-block decode.
    """
    tz, ty, offs = _tiles(body, shape)
    nz, ny, nx = shape
    if nz % tz or ny % ty:
        return None
    n = len(offs) - 1
    out = scratch((n, tz, ty, nx), dtype, slot)
    flat = out.reshape(n, -1).view(np.uint8)
    reader = dctx().stream_reader
    try:
        for i in range(n):
            # readinto releases the GIL (decompress() scales worse on 2 threads)
            if reader(body[offs[i] : offs[i + 1]]).readinto(flat[i].data) != flat.shape[1]:
                raise CorruptDataError(f"stored zstd tile {i} is too short")
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"stored zstd block does not decode: {exc}") from None
    return out, tz, ty


def tile_frames(body: memoryview, shape: tuple[int, ...]) -> tuple[int, int, list[int]] | None:
    """``(tz, ty, frame offsets)`` of a tiled zstd body (after the id byte) whose tiles
    divide the block evenly (tile ``i`` is ``body[offs[i]:offs[i + 1]]``), else None."""
    tz, ty, offs = _tiles(body, shape)
    if shape[0] % tz or shape[1] % ty:
        return None
    return tz, ty, offs


def frame_into(frame: memoryview, dest: memoryview, what: str = "tile") -> None:
    """Decode one zstd frame that must fill ``dest`` exactly (``readinto``: the GIL is
    released while it works).

    Raises:
        CorruptDataError: The frame does not decode or is short of ``dest``.
    """
    try:
        got = dctx().stream_reader(frame).readinto(dest)
    except zstandard.ZstdError as exc:
        raise CorruptDataError(f"stored zstd block does not decode: {exc}") from None
    if got != len(dest):
        raise CorruptDataError(f"stored zstd {what} is too short")


def tile_decoder(
    body: memoryview, shape: tuple[int, ...], dtype: np.dtype, slot: str
) -> tuple[int, int, int, Callable[[int], np.ndarray]] | None:
    """Decode single tiles of a tiled zstd body (after the id byte), in any order.

    Returns ``(tz, ty, n, decode)``: ``decode(i)`` decodes tile ``i`` into the same
    per-thread ``(tz * ty, X)`` buffer (``slot``: valid until the next call). None
    when the tiles do not divide the block evenly.
    """
    got = tile_frames(body, shape)
    if got is None:
        return None
    tz, ty, offs = got
    tile = scratch((tz * ty, shape[2]), dtype, slot)
    dest = tile.reshape(-1).view(np.uint8).data

    def decode(i: int) -> np.ndarray:
        frame_into(body[offs[i] : offs[i + 1]], dest, f"tile {i}")
        return tile

    return tz, ty, len(offs) - 1, decode


def tile_rows(
    body: memoryview, shape: tuple[int, ...], dtype: np.dtype, slot: str = "tile-rows"
) -> tuple[int, int, Iterator[np.ndarray]] | None:
    """The tiles of a tiled zstd body (after the id byte) one at a time, in stored order.

    Returns ``(tz, ty, tiles)``: each tile is decoded when the iterator reaches it into
    the same per-thread ``(tz * ty, X)`` buffer (``slot``: valid until the next one),
    small enough to stay in a core's cache for what the caller does with it. None when
    the tiles do not divide the block evenly.
    """
    got = tile_decoder(body, shape, dtype, slot)
    if got is None:
        return None
    tz, ty, n, decode = got
    return tz, ty, (decode(i) for i in range(n))


__all__ = [
    "TILE_HEAD",
    "decode_tile_major",
    "decode_tiled_region",
    "frame_into",
    "tile_decoder",
    "tile_frames",
    "tile_rows",
    "zstd_decompress_into",
]
