"""Voxel rewrites of split mutations: split masks by block, block reads and writes.

:func:`runs_by_block` turns scale-0 runs into one boolean mask per block they
touch; :func:`write_blocks` queues rewritten blocks with their index upkeep and
the pyramid voxels above them (:func:`update_pyramid_above`), in the caller's batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.multiscale import update_pyramid
from dvidctl.datatypes.labelmap.indexing import BlockCounts, queue_index_updates
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap

Coord = tuple[int, int, int]


def runs_by_block(runs: Runs, bs: Coord) -> dict[Coord, np.ndarray]:
    """Per scale-0 block touched by ``runs``, the boolean mask of its split voxels."""
    s, n = runs.starts.astype(np.int64), runs.lengths.astype(np.int64)
    if len(n) == 0:
        raise BadRequestError("the split RLE has no spans")
    bz, by, bx = bs
    x0, x1 = s[:, 2], s[:, 2] + n
    first, last = x0 // bx, (x1 - 1) // bx
    reps = last - first + 1
    idx = np.repeat(np.arange(len(n)), reps)
    piece = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    bxi = first[idx] + piece
    lo = np.maximum(x0[idx], bxi * bx) - bxi * bx
    hi = np.minimum(x1[idx], (bxi + 1) * bx) - bxi * bx
    z, y = s[idx, 0], s[idx, 1]
    keys = np.stack([z // bz, y // by, bxi], axis=1)
    row = (z % bz) * by + (y % by)
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    keys, row, lo, hi = keys[order], row[order], lo[order], hi[order]
    cuts = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1
    out: dict[Coord, np.ndarray] = {}
    for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(keys)].tolist(), strict=True):
        d = np.zeros(bz * by * (bx + 1), np.int32)
        np.add.at(d, row[a:b] * (bx + 1) + lo[a:b], 1)
        np.add.at(d, row[a:b] * (bx + 1) + hi[a:b], -1)
        mask = np.cumsum(d.reshape(bz * by, bx + 1), axis=1)[:, :bx] > 0
        k = keys[a]
        out[(int(k[0]), int(k[1]), int(k[2]))] = mask.reshape(bs)
    return out


def read_blocks(lm: LabelMap, coords: Sequence[Coord]) -> dict[Coord, np.ndarray]:
    found = lm.blocks.payloads(0, np.asarray(coords, np.int64).reshape(-1, 3))
    return {c: decode_into(p, np.empty(lm.block_shape, np.uint64)) for c, p in found.items()}


def write_blocks(
    lm: LabelMap,
    batch: VersionedBatch,
    old: dict[Coord, np.ndarray],
    new: dict[Coord, np.ndarray],
    *,
    downres: bool = True,
    index: bool = True,
) -> None:
    """Queue rewritten scale-0 blocks, their index upkeep and the pyramid above them.

    With ``index=False`` the caller keeps the label indexes (a split computes them
    from the old index rows).
    """
    bs = lm.block_shape
    counts = BlockCounts(bs)
    for c, arr in sorted(new.items()):
        box = Box.from_shape(bs, (c[0] * bs[0], c[1] * bs[1], c[2] * bs[2]))
        lm.blocks.write(arr, box, 0, batch)
        if index:
            counts.add_decoded(c, old[c], arr)
    if index:
        queue_index_updates(lm, batch, counts, through=batch)
    if downres and lm.max_downres > 0 and new:
        update_pyramid_above(lm, batch, new)


def update_pyramid_above(lm: LabelMap, batch: VersionedBatch, new: dict[Coord, np.ndarray]) -> None:
    """Recompute the pyramid voxels above the rewritten blocks only.

    Voxels around them are read through ``batch`` (a split's renamed blocks are
    queued first). Blocks are grouped by their ancestor at the top level, so no two groups share a
    pyramid block at any level; each group's bounding box (old voxels read, new
    blocks pasted) goes through ``update_pyramid``, which rewrites only the part of
    each level that box covers. Far less than rebuilding whole parents from all
    their children, which is what a merge's rebuild does.
    """
    bs = np.asarray(lm.block_shape)
    levels = lm.max_downres
    groups: dict[Coord, list[Coord]] = {}
    for c in new:
        top = tuple(int(v) >> levels for v in c)
        groups.setdefault(top, []).append(c)  # type: ignore[arg-type]
    for coords in groups.values():
        arr = np.asarray(coords, np.int64)
        lo, hi = arr.min(axis=0) * bs, (arr.max(axis=0) + 1) * bs
        box = Box((int(lo[0]), int(lo[1]), int(lo[2])), (int(hi[0]), int(hi[1]), int(hi[2])))
        data = (
            lm.blocks.read(box, 0, through=batch)
            if len(coords) > 1
            else np.empty(box.shape, np.uint64)
        )
        for c in coords:
            one = Box.from_shape(lm.block_shape, tuple(int(v) for v in np.asarray(c) * bs))
            data[one.slices_in(box)] = new[c]
        update_pyramid(lm.blocks, batch, box, data, levels, lm.downsampler(), through=batch)


__all__ = ["read_blocks", "runs_by_block", "update_pyramid_above", "write_blocks"]
