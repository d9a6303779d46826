"""Voxel-level three-way merge of one scale-0 block (uint8blk and labelmap).

When two or more merge sides changed the same block, the merge compares voxels
rather than whole blocks: each side's changes are the voxels where its block
differs from the block at the merge base (a block absent at the base, or deleted
on a side, reads as the background). A voxel changed on one side takes that
side's value; a voxel changed on several sides to the same value takes it; a
voxel changed on several sides to *different* values is a conflict. With the
``fail`` strategy the block is reported with those voxels' coordinates and the
merge changes nothing; ``ours`` gives a conflicting voxel the first parent's
value, ``theirs`` the value of the last other parent that changed it. Voxels
nobody changed differently are merged whatever the strategy.

Everything is whole-block numpy: one comparison per side, no per-voxel loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import decode_block_tkey
from dvidctl.datatypes.imageblk.blockvolume import BlockSpec
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.store.mergeplan import KeyMerge
from dvidctl.store.versioned import VALUE_PREFIX

#: How many conflicting voxel coordinates one block reports (the count is exact).
MAX_WHERE = 100


def merge_voxels(
    base: np.ndarray, values: Sequence[np.ndarray], sides: Sequence[int], strategy: str
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the arrays ``values`` (one per parent) against ``base``.

    Args:
        base: The voxels at the merge base.
        values: The voxels each parent sees (same shape and dtype as ``base``).
        sides: Indices of the parents that changed the block; the others hold ``base``.
        strategy: ``fail``, ``ours`` or ``theirs``: what conflicting voxels take
            (``fail`` leaves the first changing side's value; the caller refuses).

    Returns:
        ``(merged, conflict)``: the merged voxels and a boolean mask of the voxels
        two sides changed to different values.
    """
    if len(sides) == 2 and (strategy != "ours" or sides[0] == 0):
        # The usual two-way case in a few whole-array passes.
        a, b = values[sides[0]], values[sides[1]]
        ca = a != base
        conflict = ca & (b != base) & (a != b)
        if strategy == "theirs" and sides[1] != 0:
            return np.where(b != base, b, a), conflict
        return np.where(ca, a, b), conflict
    merged = base.copy()
    taken = np.zeros(base.shape, bool)  # some side already set this voxel
    conflict = np.zeros(base.shape, bool)
    theirs: np.ndarray | None = None  # the last other side's value, where one changed it
    for i in sides:
        side = values[i]
        changed = side != base
        conflict |= changed & taken & (merged != side)
        first = changed & ~taken
        merged[first] = side[first]
        taken |= changed
        if i != 0 and strategy == "theirs":
            if theirs is None:
                theirs = merged.copy()
            theirs[changed] = side[changed]
    if conflict.any():
        if strategy == "ours":
            merged[conflict] = values[0][conflict]
        elif strategy == "theirs" and theirs is not None:
            merged[conflict] = theirs[conflict]
    return merged, conflict


def merge_block(
    spec: BlockSpec,
    tkey: bytes,
    base: memoryview | None,
    values: Sequence[memoryview | None],
    sides: Sequence[int],
    strategy: str,
    encode: Callable[[np.ndarray], bytes] | None = None,
) -> KeyMerge:
    """Three-way merge of the stored payloads of one block (None: absent -> background).

    Returns the merged block, encoded by ``encode`` (default: the instance's codec,
    prefixed as the store keeps values; labelmap passes the encoding of its indexed
    writes, with tile label sets) (or a deletion
    when it is all background), the number of conflicting voxels and the first
    :data:`MAX_WHERE` of them as XYZ voxel coordinates of scale 0.
    """
    bs = spec.block_shape

    def decode(payload: memoryview | None) -> np.ndarray:
        out = np.empty(bs, spec.dtype)
        if payload is None:
            out.fill(spec.background)
            return out
        return decode_into(payload, out)

    base_arr = decode(base)
    arrays = [decode(v) if (i == 0 or i in sides) else base_arr for i, v in enumerate(values)]
    merged, conflict = merge_voxels(base_arr, arrays, sides, strategy)
    count = int(np.count_nonzero(conflict))
    where: list[list[int]] = []
    if count:
        _, coord = decode_block_tkey(tkey)
        first = np.argwhere(conflict)[:MAX_WHERE] + np.asarray(coord) * np.asarray(bs)
        where = first[:, ::-1].tolist()  # ZYX -> XYZ
    if count and strategy == "fail":
        return KeyMerge(None, count, where)
    if not np.any(merged != spec.dtype.type(spec.background)):
        return KeyMerge(None, count, where)
    if encode is None:
        return KeyMerge(spec.codec.encode(merged, VALUE_PREFIX), count, where)
    return KeyMerge(encode(merged), count, where)
