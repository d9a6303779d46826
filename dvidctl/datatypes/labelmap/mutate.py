"""Proofreading mutations of a labelmap that rewrite no voxels: merge, cleave, renumber.

Each checks all of its input first, then (new labels reserved) writes one atomic
batch at the node: the mapping keys, the label indexes, the mutation record and
the last mutation id. Their cost follows the rows of the indexes involved, not
the voxels of the bodies. Splits, which rewrite voxels, are in :mod:`.splits`.

Bad input raises :class:`~dvidctl.errors.BadRequestError` (DVID answers 400 to
every refused mutation) before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.datatypes.labelmap.mutlog import (
    ModInfo,
    log_mutation,
    next_mutation_id,
    next_mutation_ids,
    rfc3339_now,
)
from dvidctl.errors import BadRequestError
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap


def check_label(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < 2**64:
        raise BadRequestError(f"{what} must be a label (an integer 0..2^64-1), got {v!r}")
    return int(v)


def body_index(
    store: LabelStore, label: int, what: str, through: VersionedBatch | None = None
) -> LabelIndex:
    if label == 0:
        raise BadRequestError(f"label 0 is protected background and cannot be {what}")
    idx = store.get_index(label, through)
    if idx is None or not len(idx):
        raise BadRequestError(f"label {label} is not a body of this labelmap ({what})")
    return idx


def stamp_bodies(
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
    target = check_label(target, "merge target")
    merged = [check_label(v, "merged label") for v in others]
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
        tidx = body_index(store, target, "a merge target")
        oidx = [body_index(store, v, "merged") for v in merged]
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        rows = [(i.blocks, i.svs, i.counts) for i in oidx]
        new = tidx.with_rows(*(np.concatenate(c) for c in zip(*rows, strict=True)))
        store.put_index(batch, new)
        for v in merged:
            store.delete_index(batch, v)
        svs = np.unique(np.concatenate([i.svs for i in oidx]))
        store.put_mapping(batch, svs, np.full(len(svs), target, np.uint64))
        stamp_bodies(store, batch, [target], mutid, info)
        log_mutation(lm, batch, mutid, "merge", info, Target=target, Labels=merged)
        batch.commit()
    return mutid


# ------------------------------------------------------------------- cleave
def cleave(lm: LabelMap, label: int, svs: Sequence[int], info: ModInfo) -> tuple[int, int]:
    """Move supervoxels ``svs`` of body ``label`` to a new body; ``(new label, mutation id)``."""
    label = check_label(label, "cleave target")
    if label == 0:
        raise BadRequestError("label 0 is protected background and cannot be cleaved")
    chosen = np.unique(np.asarray([check_label(v, "cleaved supervoxel") for v in svs], np.uint64))
    if not len(chosen):
        raise BadRequestError("a cleave needs at least one supervoxel")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        idx = body_index(store, label, "cleaved")
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
        # As DVID's addCleaveToMapping: the new body id, as a supervoxel id, maps to 0 (no
        # supervoxel has it), so `mapping` and `mappings` answer "NEW 0" as DVID does.
        store.put_mapping(batch, np.array([new_label], np.uint64), np.zeros(1, np.uint64))
        stamp_bodies(store, batch, [label, new_label], mutid, info)
        log_mutation(
            lm,
            batch,
            mutid,
            "cleave",
            info,
            OrigLabel=label,
            CleavedLabel=new_label,
            CleavedSupervoxels=chosen.tolist(),
            CleavedSize=int(c.sum()),
            RemainSize=idx.num_voxels - int(c.sum()),
        )
        batch.commit()
    return new_label, mutid


# ----------------------------------------------------------------- renumber
def renumber(lm: LabelMap, pairs: Sequence[int], info: ModInfo) -> list[int]:
    """``[new1, old1, new2, old2, ...]``: give bodies new labels; the mutation ids."""
    if len(pairs) % 2:
        raise BadRequestError("renumber needs an even list [new1, old1, new2, old2, ...]")
    todo = [
        (check_label(pairs[i], "new label"), check_label(pairs[i + 1], "old label"))
        for i in range(0, len(pairs), 2)
    ]
    news = [n for n, _ in todo]
    if len(set(news)) != len(news) or len({o for _, o in todo}) != len(todo):
        raise BadRequestError("renumber names a label twice")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        olds = [body_index(store, o, "renumbered") for _, o in todo]
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
        ids = next_mutation_ids(lm, len(todo))
        for _, old in todo:
            store.delete_index(batch, old)
        for k, ((new, old), idx) in enumerate(zip(todo, olds, strict=True)):
            mutid = ids[k]
            moved = LabelIndex(new, idx.blocks, idx.svs, idx.counts)
            store.put_index(batch, moved)
            svs = idx.supervoxels()
            store.put_mapping(batch, svs, np.full(len(svs), new, np.uint64))
            stamp_bodies(store, batch, [new], mutid, info)
            log_mutation(lm, batch, mutid, "renumber", info, OrigLabel=old, NewLabel=new)
            mutids.append(mutid)
        batch.commit()
    return mutids


__all__ = ["body_index", "check_label", "cleave", "merge", "renumber", "stamp_bodies"]
