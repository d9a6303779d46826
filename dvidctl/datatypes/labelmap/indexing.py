"""Label-index upkeep: every scale-0 block write keeps the indexes exact in its own batch.

:class:`BlockCounts` is handed to the block writer, which calls it on its
encoding threads with each block's new voxels, its old stored payload and its new
(codec 4) one. One counting pass over the voxels
(:func:`~dvidctl.datatypes.imageblk.rowruns.tile_label_counts`, by runs) gives the
per-label counts and each tile's labels, which go into the stored payload (codec id
5); it keeps, per block, the labels the old payload held and the new counts. A block
rewritten as it was is not counted: its old value is kept.
:func:`queue_index_updates` then maps the supervoxels to bodies, and for each body
touched replaces the rows of the written blocks in its index (one read and one
write per body, in label order, into the writer's batch). :func:`reindex`
recomputes every index from the scale-0 blocks (a merge whose sides both changed
label data uses it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import EXTENTS_TKEY, block_tkey, decode_block_tkey
from dvidctl.datatypes.imageblk.codec import block_tile_labels, decode_into
from dvidctl.datatypes.imageblk.config import unpack_extents
from dvidctl.datatypes.imageblk.rowruns import tile_label_counts
from dvidctl.datatypes.imageblk.tilelabels import (
    ZSTD_TILED,
    ZSTD_TILED_LABELS,
    tiled_body,
    with_label_sets,
)
from dvidctl.datatypes.labelmap.blockruns import decode_rows
from dvidctl.datatypes.labelmap.counting import label_counts, unique, unique_labels
from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK
from dvidctl.datatypes.labelmap.labelindex import (
    LabelIndex,
    decode_many,
    encode_block_ids,
    encode_many,
    sort_rows,
)
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.geometry import INT32_MIN
from dvidctl.store.versioned import VALUE_PREFIX, VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.imageblk.instance import VoxelInstance

_U64 = np.dtype(np.uint64)
_NONE = np.zeros(0, np.uint64)


class BlockCounts:
    """Per written block: ``(coord ZYX, old labels, new labels, new counts)``."""

    def __init__(self, block_shape: tuple[int, int, int]) -> None:
        self.shape = block_shape
        #: by block (a block written twice in one batch counts as its last write)
        self.items: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        coord: tuple[int, int, int],
        block: np.ndarray,
        old: memoryview | None,
        stored: bytes,
        tile: int,
    ) -> bytes:
        """Record one block (called on the encoding threads after it is encoded); returns
        the value to store: with ``tile`` > 0, ``stored`` with the block's tile label sets
        (codec id 5) from the same counting pass as the index rows.

        A block rewritten with the same voxels (the same payload, or the same tiled body
        under the old label sets: encoding is deterministic) changes no index row, is not
        counted and keeps its old value (unless this write already changed it: a block
        given twice).
        """
        at = len(VALUE_PREFIX)
        new = memoryview(stored)[at:]
        if old is not None and coord not in self.items:
            if old == new:
                return stored
            if old[0] == ZSTD_TILED_LABELS and new[0] == ZSTD_TILED and tiled_body(old) == new[1:]:
                return b"".join([VALUE_PREFIX, old])
        sets = None if old is None else block_tile_labels(old)
        labels, counts, member = tile_label_counts(block, tile)
        if member is not None and new[0] == ZSTD_TILED:
            stored = with_label_sets(stored, at, (labels, member))
        before = _NONE
        if sets is not None:  # the old block's label set: from its header, or its rows
            before = sets.table
        elif old is not None:
            before = unique_labels(decode_rows(old, self.shape, _U64, "index-old"))
        with self._lock:
            if coord in self.items:  # written twice: the labels before the first write
                before = np.union1d(before, self.items[coord][0])
            self.items[coord] = (before, labels, counts)
        return stored

    def add_decoded(
        self, coord: tuple[int, int, int], old: np.ndarray | None, new: np.ndarray
    ) -> None:
        """Record one block whose old voxels the caller already holds."""
        before = _NONE if old is None else unique_labels(old)
        labels, counts = label_counts(new)
        with self._lock:
            if coord in self.items:  # written twice: the labels before the first write
                before = np.union1d(before, self.items[coord][0])
            self.items[coord] = (before, labels, counts)


def queue_index_updates(
    inst: VoxelInstance,
    batch: VersionedBatch,
    counts: BlockCounts,
    *,
    through: VersionedBatch | None = None,
) -> int:
    """Queue the index of every body the recorded blocks change; returns bodies written.

    All touched bodies at once: their stored indexes read in label order and decoded
    into columns (:func:`~.labelindex.decode_many`), the rows of the written blocks
    replaced by the new ones in one lexsort, and only the bodies whose rows changed
    encoded (:func:`~.labelindex.encode_many`) and queued.
    """
    if not counts.items:
        return 0
    store = LabelStore(inst)
    coords = sorted(counts.items)
    items = [counts.items[c] for c in coords]
    ids = encode_block_ids(np.array(coords, np.int64))
    written = unique(ids)
    new_blk = np.repeat(ids, [len(it[1]) for it in items])
    new_sv = np.concatenate([it[1] for it in items])
    new_cnt = np.concatenate([it[2] for it in items])
    keep = new_sv != 0
    new_blk, new_sv, new_cnt = new_blk[keep], new_sv[keep], new_cnt[keep]
    svs = unique(np.concatenate([new_sv, *[it[0] for it in items]]))
    svs = svs[svs != 0]
    if not len(svs):
        return 0
    bodies = store.bodies_of(svs, through)
    # A retired supervoxel (body 0) written again is its own body once more.
    bodies = np.where(bodies == 0, svs, bodies)
    new_body = bodies[np.searchsorted(svs, new_sv)]
    touched = unique(bodies)
    old = decode_many(store.get_raw_indexes(touched, through))
    old_body = np.repeat(touched, old.lens)
    gone = np.isin(old.blocks, written)
    changed = _changed_bodies(
        touched,
        (old_body[gone], old.blocks[gone], old.svs[gone], old.counts[gone]),
        (new_body, new_blk, new_sv, new_cnt),
    )
    # Every changed body's rows at once: its old rows outside the written blocks plus
    # the new rows, sorted by (body, block, supervoxel) in one lexsort, then cut per body.
    keep = ~gone & np.isin(old_body, touched[changed])
    fresh = np.isin(new_body, touched[changed])
    body = np.concatenate([old_body[keep], new_body[fresh]])
    blk = np.concatenate([old.blocks[keep], new_blk[fresh]])
    sv = np.concatenate([old.svs[keep], new_sv[fresh]])
    cnt = np.concatenate([old.counts[keep], new_cnt[fresh]])
    order = np.lexsort((sv, blk, body))
    body = body[order]
    which = touched[changed]
    lens = np.searchsorted(body, which, side="right") - np.searchsorted(body, which)
    heads = [old.head(i) for i in np.flatnonzero(changed).tolist()]
    payloads: list[bytes | None] = list(
        encode_many(which, lens, blk[order], sv[order], cnt[order], heads)
    )
    for i in np.flatnonzero(lens == 0).tolist():
        payloads[i] = None  # a body left without rows: its index goes
    store.put_raw_indexes(batch, which, payloads)
    # Supervoxels written again after a split retired them map to themselves again.
    written_svs = unique(new_sv)
    retired = written_svs[store.bodies_of(written_svs, through) == 0] if len(written_svs) else _NONE
    if len(retired):
        store.put_mapping(batch, retired, retired)
    return int(changed.sum())


def _changed_bodies(
    touched: np.ndarray,
    removed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    added: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Per body of ``touched``: whether the rows it loses differ from the rows it gains.

    Rows are ``(body, block, supervoxel, count)`` columns; a body whose rows in the
    written blocks come back the same (voxels rewritten as they were, or other labels
    of the block changed) keeps its index untouched.
    """

    def per_body(rows: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        order = np.lexsort((rows[2], rows[1], rows[0]))
        sorted_rows = tuple(r[order] for r in rows)
        n = np.searchsorted(sorted_rows[0], touched, side="right") - np.searchsorted(
            sorted_rows[0], touched
        )
        return n, sorted_rows

    n_rm, rm = per_body(removed)
    n_add, add = per_body(added)
    changed = n_rm != n_add
    same_len = np.repeat(~changed, n_rm)  # removed rows of bodies whose row counts agree
    if same_len.any():
        pos_rm = np.flatnonzero(same_len)
        pos_add = np.flatnonzero(np.repeat(~changed, n_add))
        diff = np.zeros(len(pos_rm), bool)
        for a, b in zip(rm[1:], add[1:], strict=True):
            diff |= a[pos_rm] != b[pos_add]
        body_idx = np.searchsorted(touched, rm[0][pos_rm])
        changed[unique(body_idx[diff])] = True
    return changed


def reindex(inst: VoxelInstance, batch: VersionedBatch) -> int:
    """Rewrite every label index from the scale-0 blocks as ``batch`` will leave them.

    Indexes that would not change are left alone; indexes of bodies that no
    longer exist are deleted. Returns the number of index keys queued.
    """
    store = LabelStore(inst)
    rows_b, rows_s, rows_c = [], [], []
    block = np.empty(inst.block_shape, _U64)
    for bz, row in _scale0_slabs(inst, batch):
        for tk, payload in row:
            _, (z, y, x) = decode_block_tkey(tk)
            labels, counts = label_counts(decode_into(payload, block))
            keep = labels != 0
            rows_b.append(
                np.full(int(keep.sum()), encode_block_ids(np.array([[z, y, x]]))[0], _U64)
            )
            rows_s.append(labels[keep])
            rows_c.append(counts[keep])
        del bz
    b = np.concatenate(rows_b) if rows_b else _NONE
    s = np.concatenate(rows_s) if rows_s else _NONE
    c = np.concatenate(rows_c) if rows_c else _NONE
    svs = unique(s)
    bodies = store.bodies_of(svs, batch) if len(svs) else _NONE
    bodies = np.where(bodies == 0, svs, bodies)
    body_of_row = bodies[np.searchsorted(svs, s)] if len(s) else _NONE
    order = np.argsort(body_of_row, kind="stable")
    ob, b, s, c = body_of_row[order], b[order], s[order], c[order]
    touched = unique(ob)
    cuts = np.searchsorted(ob, touched)
    ends = np.searchsorted(ob, touched, side="right")
    existing = dict(store.indexed_labels(through=batch))
    queued = 0
    for body, lo, hi in zip(touched.tolist(), cuts.tolist(), ends.tolist(), strict=True):
        old_raw = existing.pop(body, None)
        old = LabelIndex.decode(old_raw) if old_raw is not None else None
        rb, rs, rc = sort_rows(b[lo:hi], s[lo:hi], c[lo:hi])
        if old is not None and _same_rows(old, rb, rs, rc):
            continue
        idx = LabelIndex(body, rb, rs, rc)
        if old is not None:
            idx.last_mutid, idx.last_mod_time = old.last_mutid, old.last_mod_time
            idx.last_mod_user, idx.last_mod_app = old.last_mod_user, old.last_mod_app
        store.put_index(batch, idx)
        queued += 1
    for body in existing:
        store.delete_index(batch, body)
        queued += 1
    return queued


def _scale0_slabs(
    inst: VoxelInstance, batch: VersionedBatch
) -> Iterator[tuple[int, list[tuple[bytes, memoryview]]]]:
    """The scale-0 blocks as ``batch`` leaves them, one z slab of blocks at a time.

    Read through the batch (a merge's resolutions win, and keys its parents disagree
    on are never resolved from the store); the slabs come from the extents.
    """
    iid = inst.iid
    ext = (
        batch.queued(iid, EXTENTS_TKEY)
        if batch.holds(iid, EXTENTS_TKEY)
        else inst._get(EXTENTS_TKEY)
    )
    if ext is None:
        return
    box = unpack_extents(ext)
    bz0 = box.start[0] // inst.block_shape[0]
    bz1 = (box.stop[0] - 1) // inst.block_shape[0] + 1
    lo, hi = INT32_MIN, INT32_MIN
    ranges = [
        (block_tkey(CLASS_BLOCK, 0, z, lo, hi), block_tkey(CLASS_BLOCK, 0, z + 1, lo, hi))
        for z in range(bz0, bz1)
    ]
    got = inst.node.store.iter_payload_ranges(inst.vid, iid, ranges, through=batch)
    yield from zip(range(bz0, bz1), got, strict=True)


def _same_rows(idx: LabelIndex, b: np.ndarray, s: np.ndarray, c: np.ndarray) -> bool:
    return (
        len(idx) == len(b)
        and bool(np.array_equal(idx.blocks, b))
        and bool(np.array_equal(idx.svs, s))
        and bool(np.array_equal(idx.counts, c))
    )


__all__ = ["BlockCounts", "queue_index_updates", "reindex"]
