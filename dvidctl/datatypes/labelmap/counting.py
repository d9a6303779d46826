"""Label counting and relabelling on whole blocks, by runs of equal values.

Segmentation is made of long runs of one label along x, so the work is one
vectorised comparison over the voxels and then small arrays of runs: far
cheaper than ``np.unique`` (a sort of every voxel) on a 64^3 block.
"""

from __future__ import annotations

import numpy as np

from dvidctl.datatypes.imageblk.rowruns import distinct_rows, rows_differ, runs, tile_label_counts

_CHUNK = 1 << 24  # voxels per pass when relabelling large arrays


def unique(a: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D array, ascending: ``np.unique`` by a sort.

    numpy 2.4's ``np.unique`` (no inverse asked) goes through a hash table that took
    3.6 s for a million distinct uint64 where a sort and a comparison take 0.04 s.
    """
    a = np.asarray(a).reshape(-1)
    if len(a) < 2:
        return a.copy()
    s = np.sort(a)
    keep = np.empty(len(s), bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def label_counts(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels ascending, voxel counts)`` of an array, label 0 included."""
    labels, counts, _ = tile_label_counts(block)
    return labels, counts


def unique_labels(block: np.ndarray) -> np.ndarray:
    """The distinct values of an array, ascending."""
    rows, _, _ = distinct_rows(block)
    return unique(runs(rows.reshape(-1))[1])


def relabel(arr: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Map in place every value of ``arr`` found in sorted ``src`` to ``dst``; returns ``arr``."""
    if not len(src) or not arr.size:
        return arr
    flat = arr.reshape(-1)  # callers pass contiguous arrays
    for lo in range(0, flat.size, _CHUNK):
        part = flat[lo : lo + _CHUNK]
        starts, vals = runs(part)
        idx = np.minimum(np.searchsorted(src, vals), len(src) - 1)
        hit = src[idx] == vals
        if not hit.any():
            continue
        new = np.where(hit, dst[idx], vals)
        lens = np.diff(np.append(starts, part.size))
        part[:] = np.repeat(new, lens)
    return arr


def member_runs(block: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs along x of the voxels of ``block`` (ZYX) whose value is in sorted ``labels``.

    Returns ``(starts (n, 3) ZYX within the block, lengths)``, in ZYX order. Runs
    are found only in the rows that differ from the row before (one comparison
    pass; segmentation changes slowly across rows), their values tested, and the
    runs of a row repeated for the rows equal to it.
    """
    nz, ny, nx = block.shape
    rows, weight, _ = distinct_rows(block)
    first = np.cumsum(weight) - weight  # the row index of each distinct row
    flat = rows.reshape(-1)
    starts, vals = runs(flat, nx)
    if len(labels) == 1:
        sel = vals == labels[0]
    else:
        idx = np.minimum(np.searchsorted(labels, vals), len(labels) - 1)
        sel = labels[idx] == vals
    ends = np.append(starts[1:], flat.size)
    s = starts[sel]
    lens = ends[sel] - s
    drow, x = np.divmod(s, nx)
    reps = weight[drow]
    row = np.repeat(first[drow], reps)
    if len(row):
        row += np.arange(len(row)) - np.repeat(np.cumsum(reps) - reps, reps)
    z, y = np.divmod(row, ny)
    out = np.stack([z, y, np.repeat(x, reps)], axis=1)
    n = np.repeat(lens, reps)
    order = np.argsort(row, kind="stable")  # runs of one row stay in x order
    return out[order], n[order]


def merge_runs(starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort runs ``(z, y, x)`` + length and join those that touch along x."""
    if not len(lens):
        return starts.reshape(0, 3), lens
    lo = starts.min(axis=0)
    span = starts.max(axis=0) - lo + 1
    if float(span[0]) * float(span[1]) * float(span[2]) < 2**62:
        rel = starts - lo  # one int64 key: a single argsort instead of a 3-key lexsort
        key = (rel[:, 0] * span[1] + rel[:, 1]) * span[2] + rel[:, 2]
        order = np.argsort(key)
    else:
        order = np.lexsort((starts[:, 2], starts[:, 1], starts[:, 0]))
    s, n = starts[order], lens[order]
    join = np.zeros(len(n), bool)
    join[1:] = (s[1:, 0] == s[:-1, 0]) & (s[1:, 1] == s[:-1, 1]) & (s[1:, 2] == s[:-1, 2] + n[:-1])
    if not join.any():
        return s, n
    heads = np.flatnonzero(~join)
    return s[heads], np.add.reduceat(n, heads)


__all__ = [
    "label_counts",
    "member_runs",
    "merge_runs",
    "relabel",
    "rows_differ",
    "runs",
    "unique",
    "unique_labels",
]
