"""Runs of equal values along x in label blocks, and each tile's labels from them.

Segmentation is made of long runs of one label along x and changes slowly across
rows, so a block is read in one comparison pass (which rows differ from the row
before) and then only small arrays of runs: far cheaper than ``np.unique`` (a
sort of every voxel) on a 64^3 block. labelmap counts labels this way
(:mod:`dvidctl.datatypes.labelmap.counting`); :func:`tile_label_counts` gives the
same pass's per-tile label sets too, which codec 5 stores (:mod:`.tilelabels`).
"""

from __future__ import annotations

import functools

import numpy as np

from dvidctl.datatypes.imageblk.scratch import scratch

_BOOL = np.dtype(bool)
#: A block with more runs (in its distinct rows) than this fraction of its voxels is
#: not label data: no tile label sets (it is stored as codec 4).
MAX_RUN_FRACTION = 4


def runs(flat: np.ndarray, row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, values)`` of the runs of equal values of a 1-D array.

    With ``row`` > 0 a run also breaks every ``row`` values (rows of a block).
    """
    n = flat.size
    if n == 0:
        return np.zeros(0, np.int64), flat[:0]
    change = flat[1:] != flat[:-1]
    if row:
        change[row - 1 :: row] = True
    starts = np.empty(int(np.count_nonzero(change)) + 1, np.int64)
    starts[0] = 0
    starts[1:] = np.flatnonzero(change) + 1
    return starts, flat[starts]


def rows_differ(ne: np.ndarray) -> np.ndarray:
    """Per row (last axis) of a bool array: whether any value is set.

    The rows are packed to bits (``np.packbits``) and tested as one word each when
    they fit one: several times faster than ``ne.any(axis=-1)`` on 64-wide rows.
    """
    packed = np.packbits(ne, axis=-1)
    nb = packed.shape[-1]
    kind = _WORDS.get(nb)
    if kind is None:
        return np.asarray(packed.any(axis=-1))
    if packed.strides[-1] != 1:  # packbits keeps the layout of an F-ordered ``ne``
        packed = np.ascontiguousarray(packed)
    return np.asarray(packed.view(kind)[..., 0] != 0)


_WORDS: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype("<u2"),
    4: np.dtype("<u4"),
    8: np.dtype("<u8"),
}


def distinct_rows(arr: np.ndarray, tile: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, repeats, heads)``: the rows (along x) of ``arr`` that differ from the row
    before, how many rows each stands for, and their row numbers (``z * ny + y``).

    With ``tile`` > 0 the first row of every ``tile`` rows along y is kept too, so the
    rows one kept row stands for lie in one (z, y) tile of ``tile`` along z and y. A 3D
    array is compared as it is (a block of a larger array is a strided view: no copy);
    the comparison goes into a reused buffer and is reduced per row by bit packing.
    """
    if arr.ndim != 3:
        rows = np.ascontiguousarray(arr).reshape(-1, arr.shape[-1] if arr.ndim else 1)
        arr = rows.reshape(1, *rows.shape)
    nz, ny, nx = arr.shape
    if nz * ny < 2:
        return arr.reshape(nz * ny, -1), np.ones(nz * ny, np.int64), np.arange(nz * ny)
    new = np.empty((nz, ny), bool)
    if ny > 1:
        ne = scratch((nz, ny - 1, nx), _BOOL, "distinct-rows")
        np.not_equal(arr[:, 1:, :], arr[:, :-1, :], out=ne)
        new[:, 1:] = rows_differ(ne)
    if nz > 1:
        new[1:, 0] = rows_differ(arr[1:, 0, :] != arr[:-1, -1, :])
    if tile:
        new[:, ::tile] = True
    new[0, 0] = True
    heads = np.flatnonzero(new.reshape(-1))
    hz, hy = np.divmod(heads, ny)
    return arr[hz, hy], np.diff(np.append(heads, nz * ny)), heads


def tile_label_counts(
    block: np.ndarray, tile: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(labels ascending, voxel counts, member)`` of a ``(z, y, x)`` block.

    ``member[i, j]``: tile ``i`` (``tile`` along z and y, z-major: codec 4's order)
    holds ``labels[j]``; from the same runs as the counts (each run lies in one kept
    row, so in one tile). None when ``tile`` is 0 or the block is not label data
    (more runs than :data:`MAX_RUN_FRACTION` of its voxels: noise).
    """
    rows, weight, heads = distinct_rows(block, tile)
    nx = rows.shape[1]
    flat = rows.reshape(-1)
    starts, vals = runs(flat, nx)
    drow = starts // nx
    lens = np.diff(np.append(starts, flat.size)) * weight[drow]
    u, inv = np.unique(vals, return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, lens, len(u)).astype(np.uint64)
    if not tile or block.ndim != 3 or len(vals) * MAX_RUN_FRACTION > block.size:
        return u, counts, None
    nz, ny, _ = block.shape
    k = len(u)
    of_row = _row_tiles(nz, ny, tile)
    member = np.zeros((int(of_row[-1]) + 1, k), bool)
    flat_idx = of_row[heads][drow]
    flat_idx *= k
    flat_idx += inv
    member.reshape(-1)[flat_idx] = True
    return u, counts, member


@functools.lru_cache(maxsize=16)
def _row_tiles(nz: int, ny: int, tile: int) -> np.ndarray:
    """The tile (``tile`` along z and y, z-major) of each row ``z * ny + y``."""
    z, y = np.divmod(np.arange(nz * ny), ny)
    out = (z // tile) * -(-ny // tile) + y // tile
    out.flags.writeable = False
    return out


__all__ = ["MAX_RUN_FRACTION", "distinct_rows", "rows_differ", "runs", "tile_label_counts"]
