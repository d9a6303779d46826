"""Proofreading mutations of a labelmap: merge, cleave, split, split-supervoxel, renumber.

Each checks all of its input first, then (new labels reserved) writes one atomic
batch at the node: the mapping keys, the label indexes, the blocks it rewrites
with their pyramid levels, the mutation record and the last mutation id.

* **merge** and **cleave** rewrite no voxels: only mapping and indexes (their cost
  follows the rows of the indexes involved, not the voxels of the bodies);
* **split** gives the split voxels of each supervoxel a new supervoxel id, mapped to
  the new body, and rewrites only the blocks holding split voxels (the remainder
  keeps its supervoxel id); a supervoxel split whole just moves to the new body;
* **split-supervoxel** relabels every voxel of the supervoxel (split and remain
  ids, DVID's semantics) and retires the old id (mapped to 0).

Bad input raises :class:`~dvidctl.errors.BadRequestError` (DVID answers 400 to
every refused mutation) before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.datatypes.labelmap.mutlog import ModInfo, log_mutation, next_mutation_id, rfc3339_now
from dvidctl.datatypes.labelmap.rewrite import read_blocks, runs_by_block, write_blocks
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import BadRequestError
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap

Coord = tuple[int, int, int]


def _label(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < 2**64:
        raise BadRequestError(f"{what} must be a label (an integer 0..2^64-1), got {v!r}")
    return int(v)


def _body_index(
    store: LabelStore, label: int, what: str, through: VersionedBatch | None = None
) -> LabelIndex:
    if label == 0:
        raise BadRequestError(f"label 0 is protected background and cannot be {what}")
    idx = store.get_index(label, through)
    if idx is None or not len(idx):
        raise BadRequestError(f"label {label} is not a body of this labelmap ({what})")
    return idx


def _stamp(
    store: LabelStore, batch: VersionedBatch, bodies: Sequence[int], mutid: int, info: ModInfo
) -> None:
    """Set the last-mutation fields of the bodies' indexes as the batch leaves them."""
    now = rfc3339_now()
    for idx in store.get_indexes(list(bodies), batch):
        if idx is not None and len(idx):
            idx.last_mutid, idx.last_mod_time = mutid, now
            idx.last_mod_user, idx.last_mod_app = info.user, info.app
            store.put_index(batch, idx)


# ------------------------------------------------------------------- merge
def merge(lm: LabelMap, target: int, others: Sequence[int], info: ModInfo) -> int:
    """Merge bodies ``others`` into ``target``; returns the mutation id."""
    target = _label(target, "merge target")
    merged = [_label(v, "merged label") for v in others]
    if not merged:
        raise BadRequestError("a merge needs a target and at least one label to merge into it")
    if target in merged:
        raise BadRequestError(f"cannot merge label {target} with itself")
    if 0 in merged:
        raise BadRequestError("label 0 is protected background and cannot be merged")
    merged = sorted(set(merged))
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        tidx = _body_index(store, target, "a merge target")
        oidx = [_body_index(store, v, "merged") for v in merged]
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        rows = [(i.blocks, i.svs, i.counts) for i in oidx]
        new = tidx.with_rows(*(np.concatenate(c) for c in zip(*rows, strict=True)))
        store.put_index(batch, new)
        for v in merged:
            store.delete_index(batch, v)
        svs = np.unique(np.concatenate([i.svs for i in oidx]))
        store.put_mapping(batch, svs, np.full(len(svs), target, np.uint64))
        _stamp(store, batch, [target], mutid, info)
        log_mutation(lm, batch, mutid, "merge", info, Target=target, Labels=merged)
        batch.commit()
    return mutid


# ------------------------------------------------------------------- cleave
def cleave(lm: LabelMap, label: int, svs: Sequence[int], info: ModInfo) -> tuple[int, int]:
    """Move supervoxels ``svs`` of body ``label`` to a new body; ``(new label, mutation id)``."""
    label = _label(label, "cleave target")
    if label == 0:
        raise BadRequestError("label 0 is protected background and cannot be cleaved")
    chosen = np.unique(np.asarray([_label(v, "cleaved supervoxel") for v in svs], np.uint64))
    if not len(chosen):
        raise BadRequestError("a cleave needs at least one supervoxel")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        idx = _body_index(store, label, "cleaved")
        have = idx.supervoxels()
        alien = np.setdiff1d(chosen, have)
        if len(alien):
            raise BadRequestError(
                f"supervoxels {alien.tolist()[:10]} are not in body {label}; nothing was cleaved"
            )
        if len(chosen) == len(have):
            raise BadRequestError(f"cannot cleave every supervoxel of body {label}")
        new_label, _ = lm.reserve_labels(1)
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        b, s, c = idx.rows_of(chosen)
        store.put_index(batch, idx.without_svs(chosen))
        store.put_index(batch, LabelIndex(new_label).with_rows(b, s, c))
        store.put_mapping(batch, chosen, np.full(len(chosen), new_label, np.uint64))
        _stamp(store, batch, [label, new_label], mutid, info)
        log_mutation(
            lm,
            batch,
            mutid,
            "cleave",
            info,
            OrigLabel=label,
            CleavedLabel=new_label,
            CleavedSupervoxels=chosen.tolist(),
        )
        batch.commit()
    return new_label, mutid


# -------------------------------------------------------------------- split
def split(lm: LabelMap, label: int, runs: Runs, info: ModInfo) -> tuple[int, int]:
    """Split the voxels ``runs`` (scale 0) off body ``label``; ``(new label, mutation id)``."""
    label = _label(label, "split target")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        idx = _body_index(store, label, "split")
        body_svs = idx.supervoxels()
        masks = runs_by_block(runs, lm.block_shape)
        blocks = read_blocks(lm, list(masks))
        split_counts: dict[int, int] = {}
        for c, mask in masks.items():
            arr = blocks.get(c)
            vals = arr[mask] if arr is not None else np.zeros(int(mask.sum()), np.uint64)
            outside = ~np.isin(vals, body_svs)
            if outside.any():
                raise BadRequestError(
                    f"the split reaches {int(outside.sum())} voxels outside body {label} "
                    f"(block {c[::-1]}); nothing was split"
                )
            u, n = np.unique(vals, return_counts=True)
            for sv, k in zip(u.tolist(), n.tolist(), strict=True):
                split_counts[sv] = split_counts.get(sv, 0) + k
        sv_ids, sv_sizes = idx.supervoxel_sizes()
        total = dict(zip(sv_ids.tolist(), sv_sizes.tolist(), strict=True))
        whole = sorted(sv for sv, k in split_counts.items() if k == total.get(sv))
        partial = sorted(sv for sv in split_counts if sv not in set(whole))
        first, _ = lm.reserve_labels(1 + len(partial))
        new_label = first
        new_svs = np.arange(first + 1, first + 1 + len(partial), dtype=np.uint64)
        psv = np.asarray(partial, np.uint64)
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        # Whole supervoxels move as in a cleave; partial ones get new ids for the split part.
        wsv = np.asarray(whole, np.uint64)
        if len(wsv):
            b, s, c_ = idx.rows_of(wsv)
            store.put_index(batch, idx.without_svs(wsv))
            store.put_index(batch, LabelIndex(new_label).with_rows(b, s, c_))
        moved = np.concatenate([wsv, new_svs])
        store.put_mapping(batch, moved, np.full(len(moved), new_label, np.uint64))
        new_blocks: dict[Coord, np.ndarray] = {}
        if len(psv):
            for c, mask in masks.items():
                arr = blocks[c]
                vals = arr[mask]
                pos = np.minimum(np.searchsorted(psv, vals), len(psv) - 1)
                hit = psv[pos] == vals
                if not hit.any():
                    continue
                out = arr.copy()
                vals[hit] = new_svs[pos[hit]]
                out[mask] = vals
                new_blocks[c] = out
        write_blocks(lm, batch, blocks, new_blocks)
        _stamp(store, batch, [label, new_label], mutid, info)
        log_mutation(
            lm,
            batch,
            mutid,
            "split",
            info,
            Target=label,
            NewLabel=new_label,
            SVSplits={str(a): int(b) for a, b in zip(partial, new_svs.tolist(), strict=True)},
            MovedSupervoxels=whole,
        )
        batch.commit()
    return new_label, mutid


def split_supervoxel(
    lm: LabelMap,
    sv: int,
    runs: Runs,
    info: ModInfo,
    *,
    split_id: int = 0,
    remain_id: int = 0,
    downres: bool = True,
) -> tuple[int, int, int]:
    """Split supervoxel ``sv`` by ``runs``; ``(split id, remain id, mutation id)``."""
    sv = _label(sv, "supervoxel")
    if sv == 0:
        raise BadRequestError("label 0 is protected background and cannot be split")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        body = int(store.bodies_of([sv])[0])
        idx = store.get_index(body) if body else None
        if idx is None or not np.isin(np.uint64(sv), idx.svs):
            raise BadRequestError(f"supervoxel {sv} does not exist in this labelmap")
        masks = runs_by_block(runs, lm.block_shape)
        coords = sorted(set(map(tuple, idx.block_coords(sv).tolist())) | set(masks))
        blocks = read_blocks(lm, coords)  # type: ignore[arg-type]
        for c, mask in masks.items():
            arr = blocks.get(c)
            if arr is None or not (arr[mask] == sv).all():
                raise BadRequestError(
                    f"the split reaches voxels outside supervoxel {sv} (block {c[::-1]}); "
                    "nothing was split"
                )
        need = (split_id == 0) + (remain_id == 0)
        if need:
            first, _ = lm.reserve_labels(need)
            if split_id == 0:
                split_id, first = first, first + 1
            if remain_id == 0:
                remain_id = first
        if len({split_id, remain_id, sv}) != 3:
            raise BadRequestError(
                "the split and remain ids must differ from each other and from sv"
            )
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        store.put_mapping(
            batch,
            np.array([split_id, remain_id, sv], np.uint64),
            np.array([body, body, 0], np.uint64),
        )
        new_blocks = {}
        for c, arr in blocks.items():
            mine = arr == sv
            if not mine.any():
                continue
            out = arr.copy()
            m = masks.get(c)
            if m is None:
                out[mine] = remain_id
            else:
                out[mine & m] = split_id
                out[mine & ~m] = remain_id
            new_blocks[c] = out
        write_blocks(lm, batch, blocks, new_blocks, downres=downres)
        _stamp(store, batch, [body], mutid, info)
        log_mutation(
            lm,
            batch,
            mutid,
            "split-supervoxel",
            info,
            Body=body,
            Supervoxel=sv,
            SplitSupervoxel=split_id,
            RemainSupervoxel=remain_id,
        )
        batch.commit()
    return split_id, remain_id, mutid


# ----------------------------------------------------------------- renumber
def renumber(lm: LabelMap, pairs: Sequence[int], info: ModInfo) -> list[int]:
    """``[new1, old1, new2, old2, ...]``: give bodies new labels; the mutation ids."""
    if len(pairs) % 2:
        raise BadRequestError("renumber needs an even list [new1, old1, new2, old2, ...]")
    todo = [
        (_label(pairs[i], "new label"), _label(pairs[i + 1], "old label"))
        for i in range(0, len(pairs), 2)
    ]
    news = [n for n, _ in todo]
    if len(set(news)) != len(news) or len({o for _, o in todo}) != len(todo):
        raise BadRequestError("renumber names a label twice")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        olds = [_body_index(store, o, "renumbered") for _, o in todo]
        for (new, old), _ in zip(todo, olds, strict=True):
            if new == 0:
                raise BadRequestError("label 0 is protected background; cannot renumber onto it")
            if new == old:
                raise BadRequestError(f"cannot renumber label {old} onto itself")
            in_use = store.get_index(new) is not None or int(store.bodies_of([new])[0]) != new
            if in_use and new not in {o for _, o in todo}:
                raise BadRequestError(f"label {new} is in use; cannot renumber {old} onto it")
        batch = lm._batch()
        mutids = []
        first = next_mutation_id(lm)
        for _, old in todo:
            store.delete_index(batch, old)
        for k, ((new, old), idx) in enumerate(zip(todo, olds, strict=True)):
            mutid = first + k
            moved = LabelIndex(new, idx.blocks, idx.svs, idx.counts)
            store.put_index(batch, moved)
            svs = idx.supervoxels()
            store.put_mapping(batch, svs, np.full(len(svs), new, np.uint64))
            _stamp(store, batch, [new], mutid, info)
            log_mutation(lm, batch, mutid, "renumber", info, Target=old, NewLabel=new)
            mutids.append(mutid)
        batch.commit()
    return mutids


__all__ = ["cleave", "merge", "renumber", "split", "split_supervoxel"]
