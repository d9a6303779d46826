"""Partition an ROI into subvolumes of about ``batchsize``³ blocks (DVID's ``/partition``).

This follows ``datatype/roi/roi.go`` (``SimplePartition`` + ``addSubvolumesGrid``
and, with ``optimized``, ``Partition`` + ``addSubvolumes``) so the JSON matches
DVID's, including its quirks:

* ``ROI.MinChunk``/``MaxChunk`` x and y start from 0 (DVID extends a zero-valued
  extent), z is the ROI's MinZ/MaxZ.
* The simple grid counts every cell of a row in ``NumTotalBlocks``, including
  cells with no active block, which are not listed in ``Subvolumes``.
* Extra z/y/x blocks (``n % batchsize``) are split around the data in the simple
  grid and added one per layer/cell in the optimized partition.

Three DVID bugs are fixed instead of copied: (1) DVID moves to the next z layer
only one layer at a time, so after a z gap of more than ``batchsize`` the spans
land in a layer that does not contain them; here layers advance until they
contain the span. (2) In the optimized partition, blocks before an x hole are
added to the last subvolume, whose ``MaxPoint`` DVID sets to the *first* voxel of
the new last block; here it is the last voxel. (3) That last subvolume may be in
another row (DVID then stretches it over both rows) or absent (DVID panics);
here such blocks start a new subvolume.

Loops run over layers, rows and cells, never over blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dvidctl.geometry import INT32_MAX, INT32_MIN


class _ActiveCounter:
    """Counts blocks of a set of spans with ``lo <= x <= hi`` (vectorized over ranges).

    ``clip(min(x1, t) - x0 + 1, 0) = ramp(t + 1 - x0) - ramp(t - x1)`` with
    ``ramp(u) = max(u, 0)``, and sums of ramps are prefix sums over sorted ends.
    """

    def __init__(self, x0: np.ndarray, x1: np.ndarray) -> None:
        self.a = np.sort(x0)
        self.b = np.sort(x1)
        self.ca = np.concatenate([[0], np.cumsum(self.a)])
        self.cb = np.concatenate([[0], np.cumsum(self.b)])

    @staticmethod
    def _ramps(sorted_v: np.ndarray, cums: np.ndarray, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(sorted_v, t, side="left")  # values < t
        out: np.ndarray = k * t - cums[k]
        return out

    def upto(self, t: np.ndarray) -> np.ndarray:
        """Blocks with x <= t, for each t."""
        t = np.asarray(t, dtype=np.int64)
        out: np.ndarray = self._ramps(self.a, self.ca, t + 1) - self._ramps(self.b, self.cb, t)
        return out

    def between(self, lo: Any, hi: Any) -> np.ndarray:
        """Blocks with lo <= x <= hi (arrays or scalars)."""
        out: np.ndarray = self.upto(np.asarray(hi)) - self.upto(np.asarray(lo) - 1)
        return out


def _largest_hole(cov: np.ndarray, lo: int, hi: int) -> tuple[int, int] | None:
    """First largest run of x in ``[lo, hi]`` not covered by merged intervals ``cov`` (k, 2)."""
    i0 = int(np.searchsorted(cov[:, 1], lo, side="left"))
    i1 = int(np.searchsorted(cov[:, 0], hi, side="right"))
    seg = np.clip(cov[i0:i1], lo, hi)
    starts = np.concatenate([[lo], seg[:, 1] + 1])
    ends = np.concatenate([seg[:, 0] - 1, [hi]])
    sizes = ends - starts + 1
    if len(sizes) == 0 or sizes.max() <= 0:
        return None
    j = int(np.argmax(sizes))
    return int(starts[j]), int(ends[j])


def _merged_x(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Union of x intervals as sorted disjoint ``(k, 2)`` intervals (touching ones merged)."""
    order = np.argsort(x0, kind="stable")
    a, b = x0[order], x1[order]
    reach = np.maximum.accumulate(b)
    start = np.concatenate([[True], a[1:] > reach[:-1] + 1])
    idx = np.nonzero(start)[0]
    return np.column_stack([a[idx], np.maximum.reduceat(b, idx)])


class _Builder:
    def __init__(self, block_xyz: Sequence[int], minz: int, maxz: int) -> None:
        self.bs = [int(v) for v in block_xyz]
        self.total = 0
        self.active = 0
        self.roi_min = [0, 0, minz]
        self.roi_max = [0, 0, maxz]
        self.subvolumes: list[dict[str, Any]] = []

    def extend(self, dim: int, lo: int, hi: int) -> None:
        self.roi_min[dim] = min(self.roi_min[dim], lo)
        self.roi_max[dim] = max(self.roi_max[dim], hi)

    def add(self, c0: Sequence[int], c1: Sequence[int], total: int, active: int) -> None:
        bs = self.bs
        self.subvolumes.append(
            {
                "MinPoint": [c0[i] * bs[i] for i in range(3)],
                "MaxPoint": [(c1[i] + 1) * bs[i] - 1 for i in range(3)],
                "MinChunk": list(c0),
                "MaxChunk": list(c1),
                "TotalBlocks": total,
                "ActiveBlocks": active,
            }
        )

    def result(self) -> dict[str, Any]:
        return {
            "NumTotalBlocks": self.total,
            "NumActiveBlocks": self.active,
            "NumSubvolumes": len(self.subvolumes),
            "ROI": {"MinChunk": self.roi_min, "MaxChunk": self.roi_max},
            "Subvolumes": self.subvolumes,
        }


def _rows(
    b: _Builder, ys: np.ndarray, batch: int, centered: bool
) -> list[tuple[int, int, np.ndarray]]:
    """Row bands ``(begY, endY, mask of spans in the band)`` of one layer."""
    miny, maxy = int(ys.min()), int(ys.max())
    b.extend(1, miny, maxy)
    yleft = (maxy - miny + 1) % batch
    bands = []
    if centered:
        y0, end = miny - yleft // 2, maxy + (yleft - yleft // 2)
        while y0 <= end:
            bands.append((y0, y0 + batch - 1))
            y0 += batch
    else:
        y0 = miny
        while y0 <= maxy:
            y1 = y0 + batch - 1 + (1 if yleft > 0 else 0)
            yleft -= 1 if yleft > 0 else 0
            bands.append((y0, y1))
            y0 = y1 + 1
    return [(lo, hi, (ys >= lo) & (ys <= hi)) for lo, hi in bands]


def _grid_layer(b: _Builder, s: np.ndarray, z0: int, z1: int, batch: int) -> None:
    for y0, y1, sel in _rows(b, s[:, 1], batch, centered=True):
        if not sel.any():
            continue
        x0s, x1s = s[sel, 2], s[sel, 3]
        minx, maxx = int(x0s.min()), int(x1s.max())
        b.extend(0, minx, maxx)
        xleft = (maxx - minx + 1) % batch
        beg, end = minx - xleft // 2, maxx + (xleft - xleft // 2)
        los = np.arange(beg, end + 1, batch, dtype=np.int64)
        actives = _ActiveCounter(x0s, x1s).between(los, los + batch - 1)
        cell_total = batch * (y1 - y0 + 1) * (z1 - z0 + 1)
        for lo, act in zip(los.tolist(), actives.tolist(), strict=True):
            if act > 0:
                b.add((lo, y0, z0), (lo + batch - 1, y1, z1), cell_total, act)
            b.active += act
            b.total += cell_total


def _optimized_layer(b: _Builder, s: np.ndarray, z0: int, z1: int, batch: int) -> None:
    for y0, y1, sel in _rows(b, s[:, 1], batch, centered=False):
        if not sel.any():
            continue
        x0s, x1s = s[sel, 2], s[sel, 3]
        minx, maxx = int(x0s.min()), int(x1s.max())
        b.extend(0, minx, maxx)
        counter, cov = _ActiveCounter(x0s, x1s), _merged_x(x0s, x1s)
        per_x = (y1 - y0 + 1) * (z1 - z0 + 1)
        xleft = (maxx - minx + 1) % batch
        beg = minx
        while beg <= maxx:
            end = beg + batch - 1 + (1 if xleft > 0 else 0)
            xleft -= 1 if xleft > 0 else 0
            hole = _largest_hole(cov, beg, end)
            if hole is None:
                total, act = (end - beg + 1) * per_x, int(counter.between(beg, end))
                b.add((beg, y0, z0), (end, y1, z1), total, act)
                beg = end + 1
            else:
                total = act = 0
                if hole[0] > beg:
                    last = hole[0] - 1
                    total, act = (last - beg + 1) * per_x, int(counter.between(beg, last))
                    prev = b.subvolumes[-1] if b.subvolumes else None
                    if prev is not None and prev["MinChunk"][1:] == [y0, z0]:
                        prev["MaxChunk"] = [last, y1, z1]
                        prev["MaxPoint"] = [
                            (v + 1) * n - 1 for v, n in zip(prev["MaxChunk"], b.bs, strict=True)
                        ]
                        prev["TotalBlocks"] += total
                        prev["ActiveBlocks"] += act
                    else:
                        b.add((beg, y0, z0), (last, y1, z1), total, act)
                beg = hole[1] + 1
            b.active += act
            b.total += total


def partition(
    spans: np.ndarray, block_xyz: Sequence[int], batchsize: int, optimized: bool = False
) -> dict[str, Any]:
    """DVID's partition JSON for normalised ``spans`` (see the module docstring).

    Args:
        spans: Normalised ``(n, 4)`` spans ``[z, y, x0, x1]``.
        block_xyz: The ROI block size, XYZ (for ``MinPoint``/``MaxPoint``).
        batchsize: Blocks per subvolume edge (>= 1, checked by the caller).
        optimized: DVID's ``optimized=true`` variable-size partition.
    """
    s = np.asarray(spans, dtype=np.int64).reshape(-1, 4)
    if len(s) == 0:
        return _Builder(block_xyz, INT32_MAX, INT32_MIN).result()
    minz, maxz = int(s[0, 0]), int(s[-1, 0])
    b = _Builder(block_xyz, minz, maxz)
    zleft = (maxz - minz + 1) % batchsize
    nlayers = (maxz - minz) // batchsize + 2
    j = np.arange(nlayers, dtype=np.int64)
    if optimized:
        ends = minz + batchsize - 1 + j * batchsize + np.minimum(j, zleft)
        begins = np.concatenate([[minz], ends[:-1] + 1])
    else:
        begins = minz - zleft // 2 + j * batchsize
        ends = begins + batchsize - 1
    layer = np.searchsorted(ends, s[:, 0], side="left")
    cuts = np.nonzero(np.diff(layer))[0] + 1
    for part in np.split(np.arange(len(s)), cuts):
        k = int(layer[part[0]])
        fn = _optimized_layer if optimized else _grid_layer
        fn(b, s[part], int(begins[k]), int(ends[k]), batchsize)
    return b.result()
