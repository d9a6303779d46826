"""Span algebra for ROIs, pure numpy: validate, normalise, convert, rasterize, query.

A span is ``[z, y, x0, x1]`` in **block** coordinates with ``x1`` inclusive (DVID's
``dvid.Span``). Arrays of spans are ``(n, 4)`` int64. A *normalised* span array is
sorted by ``(z, y, x0)`` and has no two spans in the same row that overlap or
touch, so it is the canonical form of a set of blocks.

Nothing here loops over blocks or voxels in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, check_voxel_budget

_SPAN_HINT = "send a list of [z, y, x0, x1] block spans, integers with x0 <= x1"
#: Separates rows in the running-maximum trick: larger than any int32 x range.
_ROW_GAP = np.int64(1) << 33
_MAX_SPAN_LEN = 2**32 - 1


def empty() -> np.ndarray:
    """An empty ``(0, 4)`` span array."""
    return np.empty((0, 4), dtype=np.int64)


def parse_spans(spans: Any) -> np.ndarray:
    """Validate spans given as a list of 4-lists (e.g. decoded JSON) or an ``(n, 4)`` int array.

    Returns:
        The spans as an ``(n, 4)`` int64 array, in the given order.

    Raises:
        BadRequestError: If the input is not a list of four integers each (bools and
            floats are refused, as DVID's JSON decoder does), a coordinate is outside
            int32, a span has ``x1 < x0`` or is longer than a key can say (2**32 - 1).
    """
    if isinstance(spans, np.ndarray):
        if spans.size == 0:
            return empty()
        if spans.dtype.kind not in "iu" or spans.ndim != 2 or spans.shape[1] != 4:
            raise BadRequestError(
                f"spans must be an (n, 4) integer array, got {spans.dtype} {spans.shape}",
                hint=_SPAN_HINT,
            )
        arr = spans.astype(np.int64)
        if spans.dtype == np.uint64 and (spans > INT32_MAX).any():
            raise BadRequestError("span coordinates must fit in int32", hint=_SPAN_HINT)
    else:
        if isinstance(spans, (str, bytes, dict)) or not isinstance(spans, Sequence):
            raise BadRequestError(
                f"spans must be a list of [z, y, x0, x1], got {type(spans).__name__}",
                hint=_SPAN_HINT,
            )
        for i, s in enumerate(spans):
            if (
                isinstance(s, (str, bytes))
                or not isinstance(s, (Sequence, np.ndarray))
                or len(s) != 4
            ):
                raise BadRequestError(
                    f"span {i} ({s!r}) is not a list of 4 numbers", hint=_SPAN_HINT
                )
            for v in s:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                    raise BadRequestError(
                        f"span {i} ({list(s)!r}) has a non-integer value {v!r}", hint=_SPAN_HINT
                    )
        if not spans:
            return empty()
        try:
            arr = np.array(spans, dtype=np.int64)
        except OverflowError:
            raise BadRequestError("span coordinates must fit in int32", hint=_SPAN_HINT) from None
    bad = (arr < INT32_MIN) | (arr > INT32_MAX)
    if bad.any():
        i = int(np.nonzero(bad.any(axis=1))[0][0])
        raise BadRequestError(
            f"span {i} {arr[i].tolist()} has a coordinate outside the int32 range", hint=_SPAN_HINT
        )
    back = arr[:, 3] < arr[:, 2]
    if back.any():
        i = int(np.nonzero(back)[0][0])
        raise BadRequestError(f"span {i} {arr[i].tolist()} has x1 < x0", hint=_SPAN_HINT)
    long = arr[:, 3] - arr[:, 2] + 1 > _MAX_SPAN_LEN
    if long.any():
        i = int(np.nonzero(long)[0][0])
        raise BadRequestError(
            f"span {i} {arr[i].tolist()} covers more than 2**32 - 1 blocks", hint=_SPAN_HINT
        )
    return arr


def normalize(spans: np.ndarray) -> np.ndarray:
    """Sort spans by ``(z, y, x0)`` and merge the ones in a row that overlap or touch.

    Args:
        spans: An ``(n, 4)`` array of valid spans (any order, overlaps allowed).

    Raises:
        BadRequestError: If a merged span would be longer than a uint32 key can say.
    """
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    if len(s) == 0:
        return empty()
    s = s[np.lexsort((s[:, 2], s[:, 1], s[:, 0]))]
    newrow = np.empty(len(s), dtype=bool)
    newrow[0] = True
    newrow[1:] = (s[1:, 0] != s[:-1, 0]) | (s[1:, 1] != s[:-1, 1])
    rowid = np.cumsum(newrow) - 1
    x0 = s[:, 2] + rowid * _ROW_GAP
    x1 = s[:, 3] + rowid * _ROW_GAP
    reach = np.maximum.accumulate(x1)  # furthest x1 so far (rows cannot leak: gap > range)
    start = np.empty(len(s), dtype=bool)
    start[0] = True
    start[1:] = x0[1:] > reach[:-1] + 1
    idx = np.nonzero(start)[0]
    out = s[idx].copy()
    out[:, 3] = np.maximum.reduceat(s[:, 3], idx)
    if (out[:, 3] - out[:, 2] + 1 > _MAX_SPAN_LEN).any():
        raise BadRequestError("a span covers more than 2**32 - 1 blocks", hint=_SPAN_HINT)
    return out


def from_blocks(coords_zyx: Any) -> np.ndarray:
    """Normalised spans covering block coordinates (``(n, 3)`` ZYX, any order, repeats ok)."""
    c = np.asarray(coords_zyx)
    if c.size == 0:
        return empty()
    if c.dtype.kind not in "iu" or c.ndim != 2 or c.shape[1] != 3:
        raise BadRequestError(
            f"block coordinates must be an (n, 3) integer ZYX array, got {c.dtype} {c.shape}"
        )
    c = c.astype(np.int64)
    if ((c < INT32_MIN) | (c > INT32_MAX)).any():
        raise BadRequestError("block coordinates must fit in int32")
    return normalize(np.column_stack([c[:, 0], c[:, 1], c[:, 2], c[:, 2]]))


def to_blocks(spans: np.ndarray) -> np.ndarray:
    """Every block of normalised spans as an ``(n, 3)`` int32 ZYX array, in key order."""
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    lengths = s[:, 3] - s[:, 2] + 1
    total = int(lengths.sum())
    check_voxel_budget(total, 12)
    rep = np.repeat(np.arange(len(s)), lengths)
    firsts = np.cumsum(lengths) - lengths
    x = s[rep, 2] + (np.arange(total, dtype=np.int64) - firsts[rep])
    return np.column_stack([s[rep, 0], s[rep, 1], x]).astype(np.int32)


def count_blocks(spans: np.ndarray) -> int:
    """Number of blocks in normalised spans."""
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    return int((s[:, 3] - s[:, 2] + 1).sum())


def rasterize(spans: np.ndarray, bstart: Sequence[int], bstop: Sequence[int]) -> np.ndarray:
    """Boolean block grid (ZYX) of spans inside blocks ``[bstart, bstop)`` (ZYX, stop exclusive).

    Overlapping spans are fine (the grid is their union).
    """
    (z0, y0, x0), (z1, y1, x1) = tuple(bstart), tuple(bstop)
    shape = (max(z1 - z0, 0), max(y1 - y0, 0), max(x1 - x0, 0))
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    keep = (
        (s[:, 0] >= z0)
        & (s[:, 0] < z1)
        & (s[:, 1] >= y0)
        & (s[:, 1] < y1)
        & (s[:, 3] >= x0)
        & (s[:, 2] < x1)
    )
    s = s[keep]
    edges = np.zeros((shape[0], shape[1], shape[2] + 1), dtype=np.int32)
    zi, yi = s[:, 0] - z0, s[:, 1] - y0
    np.add.at(edges, (zi, yi, np.maximum(s[:, 2], x0) - x0), 1)
    np.add.at(edges, (zi, yi, np.minimum(s[:, 3], x1 - 1) - x0 + 1), -1)
    return np.cumsum(edges, axis=2)[:, :, : shape[2]] > 0


def _row_keys(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One sortable uint64 per (z, y) row: z and y sign-flipped, z in the high word."""
    zu = (z.astype(np.int64) - INT32_MIN).astype(np.uint64)
    yu = (y.astype(np.int64) - INT32_MIN).astype(np.uint64)
    return (zu << np.uint64(32)) | yu


def contains_blocks(spans: np.ndarray, blocks_zyx: np.ndarray) -> np.ndarray:
    """Whether each block (``(n, 3)`` ZYX, int32 range) lies in normalised ``spans``.

    Rows are numbered by a search over the sorted row keys, then one search over
    ``row << 32 | x`` finds the span that starts at or before each block.
    """
    b = np.asarray(blocks_zyx, dtype=np.int64).reshape(-1, 3)
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    if len(s) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    srow = _row_keys(s[:, 0], s[:, 1])
    rows = np.unique(srow)
    sid = np.searchsorted(rows, srow).astype(np.uint64)
    brow = _row_keys(b[:, 0], b[:, 1])
    pos = np.minimum(np.searchsorted(rows, brow), len(rows) - 1)
    hit_row = rows[pos] == brow
    pid = pos.astype(np.uint64)
    flip = np.int64(-INT32_MIN)
    skey = (sid << np.uint64(32)) | (s[:, 2] + flip).astype(np.uint64)
    bkey = (pid << np.uint64(32)) | (b[:, 2] + flip).astype(np.uint64)
    i = np.searchsorted(skey, bkey, side="right") - 1
    ic = np.maximum(i, 0)
    inside: np.ndarray = hit_row & (i >= 0) & (sid[ic] == pid) & (b[:, 2] <= s[ic, 3])
    return inside


def expand(
    grid: np.ndarray,
    box_start: Sequence[int],
    box_stop: Sequence[int],
    bstart: Sequence[int],
    block_zyx: Sequence[int],
) -> np.ndarray:
    """Expand a block grid to the voxels of a box (uint8, 1 inside), partial edge blocks included.

    ``grid[i, j, k]`` is block ``bstart + (i, j, k)``; the result has the box's ZYX shape.
    Each axis is expanded with :func:`numpy.repeat` by the number of box voxels each
    block covers, the largest axis (x) last, so only the output is full size.
    """
    out = grid
    for axis in range(3):
        n = out.shape[axis]
        bs = int(block_zyx[axis])
        lo = (np.arange(n, dtype=np.int64) + bstart[axis]) * bs
        counts = np.minimum(lo + bs, box_stop[axis]) - np.maximum(lo, box_start[axis])
        out = np.repeat(out, np.maximum(counts, 0), axis=axis)
    return out.view(np.uint8)


_POINT_HINT = "send [[x, y, z], ...] integer voxel coordinates"


def parse_point_list(points: Any, what: str = "points") -> np.ndarray:
    """Voxel points from decoded JSON, as strictly as DVID's ``ptquery`` reads them.

    DVID decodes the body into ``[][3]int32``, so only integers are points: bools,
    floats (even ``1.0``), strings and values outside int32 are refused. (Go would
    also zero-fill a point of fewer than 3 numbers and drop extra numbers; those are
    refused here as malformed.)

    Returns:
        An ``(n, 3)`` int64 XYZ array.

    Raises:
        BadRequestError: On anything but a list of ``[x, y, z]`` int32 integers.
    """
    if isinstance(points, (str, bytes, dict)) or not isinstance(points, Sequence):
        raise BadRequestError(
            f"{what} must be a list of [x, y, z], got {type(points).__name__}", hint=_POINT_HINT
        )
    for i, p in enumerate(points):
        if isinstance(p, (str, bytes, dict)) or not isinstance(p, Sequence) or len(p) != 3:
            raise BadRequestError(f"{what}: point {i} ({p!r}) is not [x, y, z]", hint=_POINT_HINT)
        for v in p:
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadRequestError(
                    f"{what}: point {i} ({list(p)!r}) has a non-integer {v!r}", hint=_POINT_HINT
                )
            if not INT32_MIN <= v <= INT32_MAX:
                raise BadRequestError(
                    f"{what}: point {i} ({list(p)!r}) is outside the int32 range",
                    hint=_POINT_HINT,
                )
    if not points:
        return np.empty((0, 3), dtype=np.int64)
    return np.array(points, dtype=np.int64)
