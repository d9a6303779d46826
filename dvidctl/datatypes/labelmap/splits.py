"""Voxel splits of a labelmap body or supervoxel, with DVID's id semantics.

Supervoxel ids are immutable, as in DVID (``labelmap/mutate.go`` ``SplitLabels``,
``SplitSupervoxel``): a split never leaves an old id on fewer voxels.

* **split** ``split/{label}``: every supervoxel the split's voxels touch gets two new
  ids (DVID's ``labels.SVSplit``): ``Split`` for its voxels inside the split, mapped
  to the new body, and ``Remain`` for the rest, mapped to the old body (even when no
  voxel remains, as DVID). The old supervoxel is retired (mapped to 0). Every block
  holding a touched supervoxel is rewritten (DVID rewrites their headers), with its
  pyramid; the new body's label comes first, then ``Split``, ``Remain`` per
  supervoxel in ascending order. The record's ``SVSplits`` is ``{old: {Split, Remain}}``.

  Only the blocks under the split voxels (*cut* blocks) are split, their pyramid
  octants downsampled from their own voxels; the other blocks holding a touched
  supervoxel are only renamed (old -> Remain, :mod:`.renames`: relabelled stored
  blocks at every scale, no downres), and the label indexes come from the old index
  rows (Remain = old rows minus the split's counts), so the cost follows the split's
  voxels and the renamed blocks' count, not a downres of every block they touch.
* **split-supervoxel** ``split-supervoxel/{sv}``: the voxels ``runs`` get ``split``,
  the rest ``remain`` (given, or new labels), both in the supervoxel's body.

Each checks everything first (the split lies in the body or supervoxel and is
smaller than it), then writes one atomic batch at the node.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import MAXLABEL_TKEY
from dvidctl.datatypes.imageblk.config import pack_u64
from dvidctl.datatypes.labelmap.labelindex import (
    LabelIndex,
    decode_block_ids,
    encode_block_ids,
    sort_rows,
)
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.datatypes.labelmap.mutate import body_index, check_label, stamp_bodies
from dvidctl.datatypes.labelmap.mutlog import ModInfo, log_mutation, next_mutation_id
from dvidctl.datatypes.labelmap.renames import rename_blocks
from dvidctl.datatypes.labelmap.rewrite import read_blocks, runs_by_block, write_blocks
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import BadRequestError

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap
    from dvidctl.store.versioned import VersionedBatch

Coord = tuple[int, int, int]
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # label index rows: block ids, svs, counts


def _coords(rows: np.ndarray) -> list[Coord]:
    return [(int(z), int(y), int(x)) for z, y, x in rows.tolist()]


def _split_rows(
    masks: dict[Coord, np.ndarray],
    blocks: dict[Coord, np.ndarray],
    body_svs: np.ndarray,
    label: int,
) -> Rows:
    """Index rows ``(block id, supervoxel, voxels)`` of the split; refuses voxels outside."""
    rb, rs, rc = [], [], []
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
        rb.append(np.full(len(u), encode_block_ids(np.array([c]))[0], np.uint64))
        rs.append(u)
        rc.append(n.astype(np.uint64))
    return sort_rows(np.concatenate(rb), np.concatenate(rs), np.concatenate(rc))


def _split_indexes(
    idx: LabelIndex, cut: Rows, ids: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[LabelIndex, Rows]:
    """The old body's index (old rows renamed to Remain, minus the split) and the split's rows.

    Arithmetic on the old index rows: no block is decoded for it.
    """
    old, split_ids, remain_ids = ids
    hit = np.isin(idx.svs, old)
    b = np.concatenate([idx.blocks[hit], cut[0]])
    s = np.concatenate([idx.svs[hit], cut[1]])
    c = np.concatenate([idx.counts[hit].astype(np.int64), -cut[2].astype(np.int64)])
    order = np.lexsort((s, b))
    b, s, c = b[order], s[order], c[order]
    starts = np.flatnonzero(np.r_[True, (b[1:] != b[:-1]) | (s[1:] != s[:-1])])
    c = np.add.reduceat(c, starts)
    b, s = b[starts], s[starts]
    if (c < 0).any():  # pragma: no cover - an index that disagrees with the blocks
        raise BadRequestError("the label index holds fewer voxels than the split; reindex")
    remain = (b, remain_ids[np.searchsorted(old, s)], c.astype(np.uint64))
    rows = sort_rows(
        np.concatenate([idx.blocks[~hit], remain[0]]),
        np.concatenate([idx.svs[~hit], remain[1]]),
        np.concatenate([idx.counts[~hit], remain[2]]),
    )
    split_rows = (cut[0], split_ids[np.searchsorted(old, cut[1])], cut[2])
    return replace(idx, blocks=rows[0], svs=rows[1], counts=rows[2]), sort_rows(*split_rows)


def _renamed(
    idx: LabelIndex, cut: set[Coord], old: np.ndarray, remain: np.ndarray
) -> dict[Coord, tuple[np.ndarray, np.ndarray]]:
    """Per block holding a split supervoxel outside ``cut``: ``(old ids, remain ids)`` in it."""
    hit = np.isin(idx.svs, old)
    ids, svs = idx.blocks[hit], idx.svs[hit]  # sorted by block, then supervoxel
    u, first = np.unique(ids, return_index=True)
    out: dict[Coord, tuple[np.ndarray, np.ndarray]] = {}
    for c, part in zip(_coords(decode_block_ids(u)), np.split(svs, first[1:]), strict=True):
        if c not in cut:
            out[c] = (part, remain[np.searchsorted(old, part)])
    return out


def _relabel(
    arr: np.ndarray, mask: np.ndarray | None, old: np.ndarray, split: np.ndarray, remain: np.ndarray
) -> np.ndarray:
    """``arr`` with each ``old[i]`` voxel made ``split[i]`` under ``mask``, else ``remain[i]``."""
    pos = np.minimum(np.searchsorted(old, arr), len(old) - 1)
    hit = old[pos] == arr
    out = arr.copy()
    out[hit] = remain[pos[hit]]
    if mask is not None:
        inside = hit & mask
        out[inside] = split[pos[inside]]
    return out


def _write(
    lm: LabelMap,
    batch: VersionedBatch,
    cut: dict[Coord, np.ndarray],
    renamed: dict[Coord, tuple[np.ndarray, np.ndarray]],
    *,
    downres: bool = True,
) -> None:
    """Queue the cut blocks, the renamed ones, and the pyramid above both (no neighbour read)."""
    write_blocks(lm, batch, cut)
    rename_blocks(lm, batch, renamed, cut, downres=downres)


def split(lm: LabelMap, label: int, runs: Runs, info: ModInfo) -> tuple[int, int]:
    """Split the voxels ``runs`` (scale 0) off body ``label``; ``(new label, mutation id)``."""
    label = check_label(label, "split target")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        idx = body_index(store, label, "split")
        masks = runs_by_block(runs, lm.block_shape)
        blocks = read_blocks(lm, list(masks))
        cut = _split_rows(masks, blocks, idx.supervoxels(), label)
        voxels = int(cut[2].sum())
        if voxels >= idx.num_voxels:
            raise BadRequestError(
                f"split volume of {voxels} voxels >= {idx.num_voxels} of label {label}; "
                "nothing was split"
            )
        old = np.unique(cut[1])
        first, _ = lm.reserve_labels(1 + 2 * len(old))
        new_label = first
        split_ids = first + 1 + 2 * np.arange(len(old), dtype=np.uint64)
        remain_ids = split_ids + np.uint64(1)
        new_blocks = {
            c: _relabel(arr, masks[c], old, split_ids, remain_ids) for c, arr in blocks.items()
        }
        renamed = _renamed(idx, set(masks), old, remain_ids)
        remain_idx, split_rows = _split_indexes(idx, cut, (old, split_ids, remain_ids))
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        n = len(old)
        store.put_mapping(
            batch,
            np.concatenate([split_ids, remain_ids]),
            np.concatenate([np.full(n, new_label, np.uint64), np.full(n, label, np.uint64)]),
        )
        _write(lm, batch, new_blocks, renamed)
        store.put_index(batch, remain_idx)
        store.put_index(batch, LabelIndex(new_label, *split_rows))
        store.put_mapping(batch, old, np.zeros(n, np.uint64))  # retired, as DVID
        stamp_bodies(store, batch, [label, new_label], mutid, info)
        svsplits = {
            str(o): {"Split": int(s), "Remain": int(r)}
            for o, s, r in zip(old.tolist(), split_ids.tolist(), remain_ids.tolist(), strict=True)
        }
        log_mutation(
            lm, batch, mutid, "split", info, Target=label, NewLabel=new_label, SVSplits=svsplits
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
    sv = check_label(sv, "supervoxel")
    split_id, remain_id = check_label(split_id, "split id"), check_label(remain_id, "remain id")
    if sv == 0:
        raise BadRequestError("label 0 is protected background and cannot be split")
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        body = int(store.bodies_of([sv])[0])
        idx = store.get_index(body) if body else None
        if idx is None or not np.isin(np.uint64(sv), idx.svs):
            raise BadRequestError(f"supervoxel {sv} does not exist in this labelmap")
        sv_size = int(idx.counts[idx.svs == np.uint64(sv)].sum())
        masks = runs_by_block(runs, lm.block_shape)
        blocks = read_blocks(lm, list(masks))
        size = 0
        for c, mask in masks.items():
            arr = blocks.get(c)
            if arr is None or not (arr[mask] == sv).all():
                raise BadRequestError(
                    f"the split reaches voxels outside supervoxel {sv} (block {c[::-1]}); "
                    "nothing was split"
                )
            size += int(mask.sum())
        if size >= sv_size:
            raise BadRequestError(
                f"split on supervoxel {sv} was given split volume of {size} >= {sv_size} "
                "of supervoxel; nothing was split"
            )
        given = max(split_id, remain_id)
        need = (split_id == 0) + (remain_id == 0)
        if len({split_id, remain_id, sv} - {0}) != 3 - need:
            raise BadRequestError(
                "the split and remain ids must differ from each other and from sv"
            )
        if given > lm.max_label():  # DVID's updateMaxLabel, before any new label
            raised = lm._batch()
            raised.put(lm.iid, MAXLABEL_TKEY, pack_u64(given))
            raised.commit()
        if need:
            first, _ = lm.reserve_labels(need)
            if split_id == 0:
                split_id, first = first, first + 1
            if remain_id == 0:
                remain_id = first
        if len({split_id, remain_id, sv}) != 3:  # a label given past set-nextlabel's counter
            raise BadRequestError(
                f"the given id {given} is the next label to hand out; nothing was split"
            )
        batch = lm._batch()
        mutid = next_mutation_id(lm)
        store.put_mapping(
            batch, np.array([split_id, remain_id], np.uint64), np.array([body, body], np.uint64)
        )
        one, s_id, r_id = (np.array([v], np.uint64) for v in (sv, split_id, remain_id))
        new_blocks = {c: _relabel(arr, masks[c], one, s_id, r_id) for c, arr in blocks.items()}
        _write(lm, batch, new_blocks, _renamed(idx, set(masks), one, r_id), downres=downres)
        cut = _split_rows(masks, blocks, one, body)
        remain_idx, split_rows = _split_indexes(idx, cut, (one, s_id, r_id))
        store.put_index(batch, remain_idx.with_rows(*split_rows))
        store.put_mapping(batch, one, np.zeros(1, np.uint64))
        stamp_bodies(store, batch, [body], mutid, info)
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
            SplitSize=size,
            RemainSize=sv_size - size,
        )
        batch.commit()
    return split_id, remain_id, mutid


__all__ = ["split", "split_supervoxel"]
