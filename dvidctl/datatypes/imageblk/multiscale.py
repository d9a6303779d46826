"""Multiscale pyramids: levels 1..MaxDownresLevel as further scales of one instance.

Level ``l`` voxel ``v`` summarises the 2x2x2 voxels ``2v .. 2v+1`` of level
``l-1`` (grayscale: rounded mean; labels: the most frequent non-zero label, ties
to the smaller, as DVID, see :mod:`dvidctl.datatypes.imageblk.downsample`). Every level
keeps the instance's block size.

:func:`update_pyramid` keeps the levels above a write current: it
recomputes exactly the level-``l`` blocks the written box touches, from the new
level ``l-1`` voxels held in memory plus the unchanged ones around them read from
the store, and queues them in the writer's batch, so data and pyramid change in
one atomic commit. :func:`rebuild_above` recomputes the levels above a set of
blocks, reading every level through the batch (queued blocks win over stored
ones): whole-block writes with ``downres`` and merges use it.
:func:`rebuild_pyramid` recomputes every level from scale 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dvidctl.datatypes.imageblk.blockvolume import BlockVolume, block_tkeys
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.geometry import Box, iter_block_coords
from dvidctl.store.versioned import VersionedBatch

Downsample = Callable[[np.ndarray], np.ndarray]


def _double(box: Box) -> Box:
    (a, b, c), (d, e, f) = box.start, box.stop
    return Box((2 * a, 2 * b, 2 * c), (2 * d, 2 * e, 2 * f))


def update_pyramid(
    vol: BlockVolume,
    batch: VersionedBatch,
    box: Box,
    data: np.ndarray,
    levels: int,
    downsample: Downsample,
    *,
    first_level: int = 1,
) -> None:
    """Queue the pyramid blocks touched by new voxels ``data`` over ``box`` at ``first_level - 1``.

    Args:
        vol: The instance's block volume (reads see the node before this write).
        batch: Where the new blocks go.
        box: Where ``data`` lies, in the voxel space of level ``first_level - 1``.
        data: The new voxels (already queued in ``batch`` by the caller).
        levels: Highest level to update (MaxDownresLevel).
        downsample: The 2x reduction (mean or label mode).
        first_level: The first level to recompute.
    """
    bs = vol.spec.block_shape
    for level in range(first_level, levels + 1):
        if box.is_empty:
            return
        target = box.scaled_down(1).aligned_to(bs)
        src_box = _double(target)
        if src_box == box:
            src = data
        else:
            src = vol.read(src_box, level - 1, skip=box)
            src[box.slices_in(src_box)] = data
        new = downsample(src)
        vol.write(new, target, level, batch)
        box, data = target, new


def rebuild_pyramid(
    vol: BlockVolume, batch: VersionedBatch, levels: int, downsample: Downsample
) -> dict[int, int]:
    """Recompute levels 1..``levels`` from scale 0; queue the blocks (and stale deletions).

    Level 1 is computed from the stored scale-0 blocks, each higher level from
    the blocks just queued in ``batch`` (decoded on demand, so memory stays near
    one row of parent blocks). Returns the number of blocks written per level.
    """
    counts: dict[int, int] = {}
    children = vol.block_coords(0).astype(np.int64)
    for level in range(1, levels + 1):
        parents = np.unique(children // 2, axis=0) if len(children) else children
        stale = vol.block_coords(level)
        if len(stale):
            keep = {tuple(p) for p in parents.tolist()}
            drop = np.array([c for c in stale.tolist() if tuple(c) not in keep], dtype=np.int64)
            if len(drop):
                vol.delete_blocks(level, drop, batch)
        if level == 1:
            _write_parents(vol, batch, parents, level, downsample, lambda b, s: vol.read(b, s))
        else:
            _write_parents(vol, batch, parents, level, downsample, queued_reader(vol, batch, False))
        counts[level] = len(parents)
        children = parents
    return counts


def rebuild_above(
    vol: BlockVolume,
    batch: VersionedBatch,
    coords: np.ndarray,
    levels: int,
    downsample: Downsample,
    *,
    scale: int = 0,
) -> dict[int, int]:
    """Recompute the pyramid blocks above the level-``scale`` blocks ``coords`` (ZYX).

    Each level is read through ``batch`` (blocks it queues win over the stored
    ones, queued deletions read as background), so the caller may have queued
    new blocks at ``scale`` (a whole-block write) or resolved ones (a merge) and
    the pyramid follows in the same atomic commit. Returns blocks written per level.
    """
    counts: dict[int, int] = {}
    children = np.unique(np.asarray(coords, dtype=np.int64).reshape(-1, 3), axis=0)
    read = queued_reader(vol, batch, True)
    for level in range(scale + 1, levels + 1):
        if not len(children):
            break
        parents = np.unique(children // 2, axis=0)
        _write_parents(vol, batch, parents, level, downsample, read)
        counts[level] = len(parents)
        children = parents
    return counts


def _write_parents(
    vol: BlockVolume,
    batch: VersionedBatch,
    parents: np.ndarray,
    level: int,
    downsample: Downsample,
    read: Callable[[Box, int], np.ndarray],
) -> None:
    """Queue the level-``level`` blocks ``parents``, downsampled from level ``level - 1``."""
    bs = np.asarray(vol.spec.block_shape)
    for row in _rows(parents):
        lo, hi = row.min(axis=0), row.max(axis=0) + 1
        target = Box(_t(lo * bs), _t(hi * bs))
        new = downsample(read(_double(target), level - 1))
        for c in row.tolist():
            one = Box.from_shape(_t(bs), _t(np.asarray(c) * bs))
            vol.write(np.ascontiguousarray(new[one.slices_in(target)]), one, level, batch)


def _t(a: np.ndarray) -> tuple[int, int, int]:
    return (int(a[0]), int(a[1]), int(a[2]))


def _rows(parents: np.ndarray) -> list[np.ndarray]:
    """Split ``(n, 3)`` ZYX block coordinates into runs of consecutive x sharing z and y."""
    if not len(parents):
        return []
    order = np.lexsort((parents[:, 2], parents[:, 1], parents[:, 0]))
    p = parents[order]
    gap = np.any(p[1:, :2] != p[:-1, :2], axis=1) | (p[1:, 2] != p[:-1, 2] + 1)
    return np.split(p, np.flatnonzero(gap) + 1)


def queued_reader(
    vol: BlockVolume, batch: VersionedBatch, stored: bool
) -> Callable[[Box, int], np.ndarray]:
    """A ``read(box, scale)`` that sees the blocks queued in ``batch`` over the stored ones.

    With ``stored=False`` blocks ``batch`` does not hold read as background.
    """
    if stored:
        return lambda box, scale: vol.read(box, scale, through=batch)
    spec = vol.spec
    iid = vol.inst.iid

    def read(box: Box, scale: int) -> np.ndarray:
        out = np.full(box.shape, spec.background, spec.dtype)
        coords = iter_block_coords(*box.block_range(spec.block_shape))
        tkeys = block_tkeys(spec.key_class, scale, coords)
        block = np.empty(spec.block_shape, spec.dtype)
        for c, tk in zip(coords.tolist(), tkeys, strict=True):
            payload = batch.queued(iid, tk)
            if payload is not None:
                one = Box.from_shape(
                    spec.block_shape, _t(np.asarray(c) * np.asarray(spec.block_shape))
                )
                out[one.slices_in(box)] = decode_into(payload, block)
        return out

    return read
