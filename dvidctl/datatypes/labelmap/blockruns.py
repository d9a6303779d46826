"""Runs along x of a label set in one stored block: a mask, bit words, and only its rows.

The sparse volume of a body costs, per block its index names, what decoding the
block costs plus as little as possible (bench/bench_labels.py measures both):

* the block is decoded **tile-major** when it is stored as zstd tiles (each
  tile's frame straight into its own part of one per-thread buffer: no copy
  of the tiles into ZYX order, which a plain decode pays for);
* one comparison pass (``np.equal`` into a reused mask; an OR per further
  label) marks the body's voxels; only the supervoxels the index lists for
  *this* block are compared;
* ``np.packbits`` turns each row of the mask into 64-bit words; rows without
  the body are dropped by one test on the words, and the first and last voxel
  of every run are bit operations on the words left (``w & ~(w << 1)``,
  ``w & ~(w >> 1)``, carried across words of rows longer than 64);
* a block the body fills (its index counts say so) is not read at all.

Runs come back in the decoded order of the rows (tile-major); the caller's
stable sort by row puts them in ZYX order (:func:`.sparsevol.sparse_runs`).
"""

from __future__ import annotations

import sys

import numpy as np

from dvidctl.datatypes.imageblk.codec import ZSTD_TILED, decode_into, payload_codec
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.imageblk.zstdbody import decode_tile_major
from dvidctl.datatypes.labelmap.counting import runs

#: Up to this many labels per block a mask is one comparison pass per label; above
#: it, runs of equal values are tested against the sorted labels (one pass whatever
#: their number: :func:`label_row_runs`). Measured on 64^3 blocks: one comparison
#: and the mask's runs ~0.12 ms, the runs of values ~0.25 ms, a decode ~0.5 ms.
MAX_COMPARES = 2

_BOOL = np.dtype(bool)
_LITTLE = sys.byteorder == "little"


def mask_row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of set values along the rows of a 2D bool mask: ``(row, x start, length)``.

    Each row is packed into 64-bit words; runs are found only in the rows whose words
    are not zero and differ from the row before, and repeated for the rows equal to
    them. Runs of one row come in x order (rows interleaved).
    """
    nrows, nx = mask.shape
    packed = np.packbits(mask, axis=1, bitorder="little")  # (rows, ceil(nx / 8)) bytes
    nwords = -(-packed.shape[1] // 8)
    if packed.shape[1] != 8 * nwords:
        wide = np.zeros((nrows, 8 * nwords), np.uint8)
        wide[:, : packed.shape[1]] = packed
        packed = wide
    words = packed.view("<u8")
    if not _LITTLE:  # pragma: no cover - bit positions below assume native little-endian
        words = words.astype(np.uint64)
    new = np.empty(nrows, bool)
    new[0] = True
    if nwords == 1:
        flat = words[:, 0]
        np.not_equal(flat[1:], flat[:-1], out=new[1:])
        heads = np.flatnonzero(new)
        keep = flat[heads] != 0
    else:
        np.any(words[1:] != words[:-1], axis=1, out=new[1:])
        heads = np.flatnonzero(new)
        keep = words[heads].any(axis=1)
    weight = np.diff(np.append(heads, nrows))[keep]
    heads = heads[keep]
    if not len(heads):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    w = words[heads]
    one = np.uint64(1)
    prev = w << one  # bit x holds voxel x - 1
    nxt = w >> one  # bit x holds voxel x + 1
    if nwords > 1:  # carry the bits across the words of a row
        top = np.uint64(63)
        prev[:, 1:] |= w[:, :-1] >> top
        nxt[:, :-1] |= (w[:, 1:] & one) << top
    # bits -> positions; flatnonzero on bools is ~10x faster than on uint8
    first = np.unpackbits((w & ~prev).view(np.uint8), axis=1, bitorder="little").view(bool)
    last = np.unpackbits((w & ~nxt).view(np.uint8), axis=1, bitorder="little").view(bool)
    ps = np.flatnonzero(first)
    pe = np.flatnonzero(last)
    r, x = np.divmod(ps, 64 * nwords)
    return _repeat_rows(heads, weight, r, x, pe - ps + 1)


def _repeat_rows(
    heads: np.ndarray, weight: np.ndarray, r: np.ndarray, x: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs ``(r, x, n)`` of rows ``heads[r]``, repeated over the ``weight`` rows each heads."""
    reps = weight[r]
    if (reps == 1).all():
        return heads[r], x, n
    row = np.repeat(heads[r], reps)
    row += np.arange(len(row)) - np.repeat(np.cumsum(reps) - reps, reps)
    return row, np.repeat(x, reps), np.repeat(n, reps)


def label_row_runs(
    rows: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs along the rows of a 2D label array of the values in sorted ``labels``.

    ``(row, x start, length)``; runs of one row in x order (rows interleaved). Runs
    are found only in the rows that differ from the row before (one comparison pass,
    its rows packed to bit words: a test per row), their values looked up in
    ``labels``, and repeated for the rows equal to them: the cost does not grow with
    the number of labels.
    """
    nrows, nx = rows.shape
    if nrows > 1:
        ne = scratch((nrows - 1, nx), _BOOL, "sparsevol-rows")
        np.not_equal(rows[1:], rows[:-1], out=ne)
        packed = np.packbits(ne, axis=1)
        differs = packed.view("<u8")[:, 0] != 0 if packed.shape[1] == 8 else packed.any(axis=1)
        heads = np.empty(nrows, bool)
        heads[0] = True
        heads[1:] = differs
        first = np.flatnonzero(heads)
    else:
        first = np.zeros(1, np.int64)
    weight = np.diff(np.append(first, nrows))
    flat = rows[first].reshape(-1)
    starts, vals = runs(flat, nx)
    i = np.searchsorted(labels, vals)
    i[i == len(labels)] = 0
    sel = labels[i] == vals
    ends = np.append(starts[1:], flat.size)
    s = starts[sel]
    lens = ends[sel] - s
    drow, x = np.divmod(s, nx)
    return _repeat_rows(first, weight, drow, x, lens)


def block_label_runs(
    payload: memoryview | bytes,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs along x of the voxels of a stored block whose label is in sorted ``labels``.

    Returns ``(z, y, x, length)`` within the block (int64 arrays), runs of one row
    in x order, rows in any order (tile-major for tiled blocks).
    """
    nz, ny, nx = shape
    tiles = None
    if payload_codec(payload) == ZSTD_TILED:
        tiles = decode_tile_major(memoryview(payload)[1:], shape, dtype, "sparsevol-tiles")
    vox = decode_into(payload, scratch(shape, dtype, "sparsevol")) if tiles is None else tiles[0]
    rows2d = vox.reshape(-1, nx)
    if len(labels) > MAX_COMPARES:
        row, x, n = label_row_runs(rows2d, labels)
    else:
        mask = scratch(vox.shape, _BOOL, "sparsevol-mask")
        np.equal(vox, labels[0], out=mask)
        if len(labels) > 1:
            more = scratch(vox.shape, _BOOL, "sparsevol-mask2")
            for lab in labels[1:]:
                np.equal(vox, lab, out=more)
                mask |= more
        row, x, n = mask_row_runs(mask.reshape(-1, nx))
    if tiles is None:
        z, y = np.divmod(row, ny)
        return z, y, x, n
    _, tz, ty = tiles
    tile, rem = np.divmod(row, tz * ty)
    lz, ly = np.divmod(rem, ty)
    iz, iy = np.divmod(tile, ny // ty)
    return iz * tz + lz, iy * ty + ly, x, n


def decode_rows(
    payload: memoryview | bytes, shape: tuple[int, int, int], dtype: np.dtype, slot: str
) -> np.ndarray:
    """A stored block's voxels as a 3D array of its x rows in some order (a label set, counts).

    Tiled zstd blocks come tile-major (no reordering copy), others whole in ZYX order;
    a per-thread buffer named ``slot``.
    """
    if payload_codec(payload) == ZSTD_TILED:
        tiles = decode_tile_major(memoryview(payload)[1:], shape, dtype, slot)
        if tiles is not None:
            vox, tz, ty = tiles
            return vox.reshape(-1, ty, shape[2])
    return decode_into(payload, scratch(shape, dtype, slot))


def full_block_runs(shape: tuple[int, int, int]) -> tuple[np.ndarray, ...]:
    """The runs of a block its label fills: every row, whole."""
    nz, ny, nx = shape
    z, y = np.divmod(np.arange(nz * ny, dtype=np.int64), ny)
    return z, y, np.zeros(nz * ny, np.int64), np.full(nz * ny, nx, np.int64)


__all__ = [
    "MAX_COMPARES",
    "block_label_runs",
    "decode_rows",
    "full_block_runs",
    "label_row_runs",
    "mask_row_runs",
]
