"""Voxel rewrites of split mutations: split masks by block, block reads and writes.

:func:`runs_by_block` turns scale-0 runs into one boolean mask per block they
touch; :func:`write_blocks` queues rewritten scale-0 blocks in the caller's batch
(a split keeps the label indexes from the old rows and the pyramid with
:mod:`.renames`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import block_tkey
from dvidctl.datatypes.imageblk.codec import ZstdCodec, decode_into
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import BadRequestError
from dvidctl.store.versioned import VALUE_PREFIX, VersionedBatch

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


def scale0_encoder(lm: LabelMap) -> Callable[[np.ndarray], bytes]:
    """How a mutation stores a rewritten scale-0 block: as an indexed write stores the
    same voxels (tiled zstd with each tile's label sets, codec 5: sparse volumes skip
    tiles by them, and the labelblock wire sends them), else with the instance's codec."""
    codec = lm.blocks.spec.codec
    if lm.indexed and isinstance(codec, ZstdCodec):
        return lambda arr: codec.encode_labelled(arr, VALUE_PREFIX)
    return lambda arr: codec.encode(arr, VALUE_PREFIX)


def write_blocks(lm: LabelMap, batch: VersionedBatch, new: dict[Coord, np.ndarray]) -> None:
    """Queue rewritten scale-0 blocks (the caller keeps the indexes and the pyramid),
    encoded on the block pool."""
    encode = scale0_encoder(lm)
    items = sorted(new.items())
    stored = parallel_map(lambda item: encode(item[1]), items, min_items=2)
    key_class = lm.blocks.spec.key_class
    for (c, _), value in zip(items, stored, strict=True):
        batch.put_prefixed(lm.iid, block_tkey(key_class, 0, *c), value)


__all__ = ["read_blocks", "runs_by_block", "scale0_encoder", "write_blocks"]
