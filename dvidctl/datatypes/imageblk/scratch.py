"""Per-thread reusable buffers and codec contexts for block encoding and decoding.

Decoding into a fresh 2 MiB buffer per block costs page faults (zstd ran at about
1.8 GB/s that way against 8 GB/s into a reused one), and zstd's contexts are not
thread-safe: each thread keeps its own here.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import zstandard

_local = threading.local()


def cctx(level: int) -> zstandard.ZstdCompressor:
    """A per-thread compressor for ``level`` (ZstdCompressor is not thread-safe)."""
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "cctx", None)
    if cache is None:
        cache = _local.cctx = {}
    c = cache.get(level)
    if c is None:
        c = cache[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return c


def scratch(shape: tuple[int, ...], dtype: np.dtype, slot: str = "block") -> np.ndarray:
    """A per-thread reusable buffer: page faults once, not once per block."""
    cache: dict[tuple[Any, ...], np.ndarray] | None = getattr(_local, "scratch", None)
    if cache is None:
        cache = _local.scratch = {}
    key = (slot, shape, dtype.str)
    buf = cache.get(key)
    if buf is None:
        buf = cache[key] = np.empty(shape, dtype)
    return buf


def tile_buffer(shape: tuple[int, int, int], dtype: np.dtype) -> tuple[np.ndarray, memoryview]:
    """A per-thread reusable tile buffer and its byte view."""
    cache: dict[tuple[Any, ...], tuple[np.ndarray, memoryview]] | None = getattr(
        _local, "tiles", None
    )
    if cache is None:
        cache = _local.tiles = {}
    key = (shape, dtype.str)
    got = cache.get(key)
    if got is None:
        arr = np.empty(shape, dtype)
        got = cache[key] = (arr, arr.reshape(-1).view(np.uint8).data)
    return got


def row_kind(a: np.ndarray) -> np.dtype | None:
    """A void dtype holding one whole row (last axis) of ``a``, if its rows are contiguous.

    Copying through such views moves each row as one element: numpy's per-row
    loop overhead, not the bytes, dominated copying 64-voxel rows into a large
    output (512 KB uint64 tiles: 9.8 -> 18 GB/s).
    """
    row = a.shape[-1] * a.itemsize
    if not row or a.strides[-1] != a.itemsize:
        return None
    kind = _ROW_KINDS.get(row)
    if kind is None:
        kind = _ROW_KINDS[row] = np.dtype((np.void, row))
    return kind


def copy_rows(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for same-shape 3-D views, row by row when both allow it."""
    kind = row_kind(src)
    if kind is not None and dst.strides[-1] == dst.itemsize:
        dst.view(kind)[...] = src.view(kind)
    else:
        dst[...] = src


_ROW_KINDS: dict[int, np.dtype] = {}


def dctx() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if d is None:
        d = _local.dctx = zstandard.ZstdDecompressor()
    return d


def contiguous(block: np.ndarray) -> np.ndarray:
    """The block as C-contiguous little-endian voxels (a per-thread scratch copy if needed)."""
    if (
        block.flags.c_contiguous
        and block.dtype.byteorder in ("<", "|", "=")
        and (block.dtype.byteorder != "=" or np.little_endian)
    ):
        return block
    buf = scratch(block.shape, block.dtype.newbyteorder("<"), "encode")
    buf[...] = block
    return buf


def byte_view(out: np.ndarray) -> memoryview:
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("decode output must be a writeable C-contiguous array")
    return out.reshape(-1).view(np.uint8).data


__all__ = [
    "byte_view",
    "contiguous",
    "copy_rows",
    "cctx",
    "dctx",
    "row_kind",
    "scratch",
    "tile_buffer",
]
