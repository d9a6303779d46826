"""How the labels of a set of blocks changed between two nodes: the label overlap table.

For the scale-0 blocks two versions hold differently (the caller finds them in
the delta index), :func:`block_overlap_table` decodes each block at both nodes
(absent: the background) and counts, with whole-block numpy:

* **flows**: for each pair of labels ``(p, q)``, ``p != q``, the voxels labelled
  ``p`` at the first node and ``q`` at the second;
* **kept**: for each label, the voxels of these blocks that hold it at both nodes.

So its cost grows with the number of changed blocks, not with the volume. The
table is in the labels the blocks store (supervoxels, where a labelmap maps them
to bodies): mapping the reduced table costs nothing next to mapping voxels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.parallel import parallel_map

if TYPE_CHECKING:
    from dvidctl.datatypes.imageblk.instance import VoxelInstance

_CHUNK = 64  # blocks fetched at once at each node


@dataclass
class OverlapTable:
    """Label flows and kept voxels over the compared blocks (see the module docstring)."""

    #: ``(n, 2)`` uint64: label at the first node, label at the second (never equal).
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.uint64))
    #: ``(n,)`` int64: voxels of each pair.
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Labels that hold voxels at both nodes in these blocks, sorted, and how many.
    kept_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    kept_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Blocks decoded at each node.
    blocks: int = 0

    @property
    def voxels_changed(self) -> int:
        """Voxels whose label differs between the two nodes."""
        return int(self.counts.sum())


def _decode(inst: VoxelInstance, payload: memoryview | None) -> np.ndarray:
    spec = inst.blocks.spec
    out = np.empty(spec.block_shape, spec.dtype)
    if payload is None:
        out.fill(spec.background)
        return out
    return decode_into(payload, out)


def compare_labels(
    a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flows and kept voxels of one block: ``(pairs, counts, kept_labels, kept_counts)``.

    Counted per run of voxels whose labels are equal at both nodes (label blocks
    are mostly long runs), so the work is a few passes over the voxels plus a
    sort of the runs, however many voxels changed.
    """
    fa, fb = a.reshape(-1), b.reshape(-1)
    n = len(fa)
    if not n:
        empty = np.zeros(0, np.uint64)
        return np.zeros((0, 2), np.uint64), np.zeros(0, np.int64), empty, np.zeros(0, np.int64)
    brk = np.empty(n, bool)
    brk[0] = True
    np.not_equal(fa[1:], fa[:-1], out=brk[1:])
    brk[1:] |= fb[1:] != fb[:-1]
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.r_[starts, n])
    ra, rb = fa[starts], fb[starts]
    changed = ra != rb  # a run is changed or kept as a whole
    pairs, counts = _pair_counts(ra[changed], rb[changed], lengths[changed])
    kept_labels, kept_counts = reduce_counts(ra[~changed], lengths[~changed])
    return pairs, counts, kept_labels, kept_counts


def _pair_counts(
    pa: np.ndarray, pb: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(pa[i], pb[i])`` pairs and how often each occurs (or their summed weights)."""
    if not len(pa):
        return np.zeros((0, 2), np.uint64), np.zeros(0, np.int64)
    ua, ia = np.unique(pa, return_inverse=True)
    ub, ib = np.unique(pb, return_inverse=True)
    code = ia.reshape(-1).astype(np.int64) * len(ub) + ib.reshape(-1)
    codes, inverse = np.unique(code, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(codes))
    pairs = np.stack([ua[codes // len(ub)], ub[codes % len(ub)]], axis=1).astype(np.uint64)
    return pairs, counts.astype(np.int64)


def reduce_counts(labels: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``counts`` per distinct row of ``labels`` (1-D labels or ``(n, 2)`` pairs)."""
    if labels.ndim == 2:
        return _pair_counts(labels[:, 0], labels[:, 1], counts)
    uniq, inverse = np.unique(labels, return_inverse=True)
    total = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(uniq))
    return uniq, total.astype(np.int64)


def block_overlap_table(
    inst_a: VoxelInstance,
    inst_b: VoxelInstance,
    coords: np.ndarray,
) -> OverlapTable:
    """The overlap table of the scale-0 blocks ``coords`` (``(n, 3)`` ZYX) between two nodes.

    ``inst_a`` and ``inst_b`` are the same instance as seen at the two nodes.
    Blocks are fetched :data:`_CHUNK` at a time at each node and compared on the
    decoding pool.
    """
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    pairs, counts, kept_l, kept_c = [], [], [], []
    Payload = memoryview | None

    def one(item: tuple[Payload, Payload]) -> tuple[np.ndarray, ...]:
        return compare_labels(_decode(inst_a, item[0]), _decode(inst_b, item[1]))

    for i in range(0, len(coords), _CHUNK):
        part = coords[i : i + _CHUNK]
        got_a = inst_a.blocks.payloads(0, part)
        got_b = inst_b.blocks.payloads(0, part)
        keys = [(int(z), int(y), int(x)) for z, y, x in part.tolist()]
        items = [(got_a.get(c), got_b.get(c)) for c in keys]
        for p, n, kl, kc in parallel_map(one, items):
            pairs.append(p)
            counts.append(n)
            kept_l.append(kl)
            kept_c.append(kc)
    table = OverlapTable(blocks=len(coords))
    if pairs:
        table.pairs, table.counts = reduce_counts(np.concatenate(pairs), np.concatenate(counts))
        table.kept_labels, table.kept_counts = reduce_counts(
            np.concatenate(kept_l), np.concatenate(kept_c)
        )
    return table
