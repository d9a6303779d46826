"""Bringing one instance of one node over DVID's endpoints: compare, then write what differs.

A server without the sync API cannot list what a node changed, nor hand out
stored values: DVID has no such endpoint. So the node's data is *replayed*: what
the remote node answers (every key, span or block at that version) is compared
with what the local copy of the node answers (its parents' data, plus whatever an
earlier, interrupted run already wrote there), and the differences are written at
the local node through the datatype (re-encoded as this side stores them), in
batches that are each one atomic write. Comparing against the local node itself
makes a rerun resume: what arrived before is no longer a difference.

* keyvalue: every key (``keys``), then the values in chunks (``keyvalues``);
* roi: the spans (``GET roi``), rewritten at the node when they differ;
* uint8blk, labelmap: every scale, in slabs of blocks over the node's extents, as
  DVID serves blocks (``subvolblocks`` / ``blocks``, :mod:`dvidctl.sync.dvidblocks`;
  labels as supervoxels), whole blocks written where any voxel differs, the next
  slab read while one is compared (at a node new here whose parent was replayed
  before it, blocks DVID sends as it sent the parent's are neither decoded nor
  compared: :mod:`.replaymemo`); then the extents, and for labelmap the state
  outside the blocks (:mod:`dvidctl.sync.replaylabels`). A partial clone by region
  reads only the blocks it holds (``Instance.held_region``): just the selection.

What it reads is the remote node's answers, so reads at the node are the same on
both sides; the stored bytes and delta entries are this side's own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box
from dvidctl.store.held import Held
from dvidctl.sync import replaylabels
from dvidctl.sync.dvidblocks import BlockReader
from dvidctl.sync.replaymemo import Recorded

T = TypeVar("T")
R = TypeVar("R")
#: The parent's block digests as DVID sent them (None: not known), and this node's record.
Memo = tuple[Recorded | None, Recorded | None]
#: Keys whose values are read and written per step.
KEY_CHUNK = 500
#: Blocks along x per voxel slab (a slab is one block row in z and y).
SLAB_BLOCKS_X = 16


@dataclass
class Replayed:
    """What one replay wrote."""

    keys: int = 0
    bytes: int = 0
    deleted: int = 0
    same: int = 0
    batches: int = 0
    #: What could not be brought as DVID serves it, and how it was brought instead.
    notes: list[str] = field(default_factory=list)
    #: How label blocks came (``dvid-blocks``, or ``raw`` on a server without them).
    labels: str = ""


Retry = Callable[[Callable[[], T]], T]


def _once(fn: Callable[[], T]) -> T:
    return fn()


def replay(
    remote: Any, local: Any, retry: Retry[Any] = _once, memo: Memo | None = None
) -> Replayed:
    """Make ``local`` (an instance at an incoming node) answer as ``remote`` does.

    ``memo``: the block digests of the node's parent as DVID sent them, when it was
    replayed just before (else None), and where this node's go (:mod:`.replaymemo`).
    """
    kind = local.typename
    if kind == "keyvalue":
        return _keyvalue(remote, local, retry)
    if kind == "roi":
        return _roi(remote, local, retry)
    if kind in ("uint8blk", "labelmap"):
        return _voxels(remote, local, retry, memo or (None, None))
    raise BadRequestError(f"the DVID-endpoint fallback cannot move {kind} instances")


def _merge_keys(mine: list[str], theirs: list[str]) -> tuple[list[str], list[str]]:
    """Keys to read from the remote (all of theirs) and to delete here (mine only)."""
    theirs_set = set(theirs)
    return theirs, [k for k in mine if k not in theirs_set]


def _keyvalue(remote: Any, local: Any, retry: Retry[Any]) -> Replayed:
    out = Replayed()
    wanted, gone = _merge_keys(local.keys(), retry(remote.keys))
    for i in range(0, len(wanted), KEY_CHUNK):
        names = wanted[i : i + KEY_CHUNK]
        theirs = retry(partial(remote.get_many, names))
        mine = local.get_many(names)
        put = {k: v for k, v in theirs.items() if v is not None and mine.get(k) != v}
        out.same += len(names) - len(put)
        if put:
            local.put_many(put)
            out.keys += len(put)
            out.bytes += sum(len(v) for v in put.values())
            out.batches += 1
    for i in range(0, len(gone), KEY_CHUNK):
        local.delete_many(gone[i : i + KEY_CHUNK])
        out.deleted += len(gone[i : i + KEY_CHUNK])
        out.batches += 1
    return out


def _roi(remote: Any, local: Any, retry: Retry[Any]) -> Replayed:
    theirs = sorted(map(tuple, retry(remote.get_spans)))
    mine = sorted(map(tuple, local.get_spans()))
    if theirs == mine:
        return Replayed(same=len(mine))
    local.put_spans([list(s) for s in theirs])
    return Replayed(keys=len(theirs), deleted=len(set(mine) - set(theirs)), batches=1)


def _slabs(box: Box, bs: tuple[int, int, int]) -> Iterator[Box]:
    """Block-aligned slabs of ``box``: one block row in z and y, up to 16 blocks in x."""
    aligned = box.aligned_to(bs)
    (z0, y0, x0), (z1, y1, x1) = aligned.start, aligned.stop
    step_x = bs[2] * SLAB_BLOCKS_X
    for z in range(z0, z1, bs[0]):
        for y in range(y0, y1, bs[1]):
            for x in range(x0, x1, step_x):
                yield Box((z, y, x), (z + bs[0], y + bs[1], min(x + step_x, x1)))


def _held_slabs(held: Held, box: Box, bs: tuple[int, int, int], scale: int) -> Iterator[Box]:
    """:func:`_slabs` of only the blocks a partial clone holds (none at a scale it lacks)."""
    if not held.holds_scale(scale):
        return
    rng = held.box_blocks(scale, bs)
    if rng is not None:
        (a0, b0, c0), (a1, b1, c1) = rng
        lo = (a0 * bs[0], b0 * bs[1], c0 * bs[2])
        got = box.intersect(Box(lo, (a1 * bs[0], b1 * bs[1], c1 * bs[2])))
        if got is None or got.is_empty:
            return
        box = got
    rows = held.roi_rows(scale, bs)
    for slab in _slabs(box, bs):
        if rows is None:
            yield slab
            continue
        z, y = slab.start[0] // bs[0], slab.start[1] // bs[1]
        x0, x1 = slab.start[2] // bs[2], slab.stop[2] // bs[2]
        for a, b in rows.get((z, y), np.zeros((0, 2), np.int64)).tolist():
            a, b = max(a, x0), min(b, x1)
            if a < b:
                yield Box(
                    (slab.start[0], slab.start[1], a * bs[2]),
                    (slab.stop[0], slab.stop[1], b * bs[2]),
                )


def _scaled(box: Box, scale: int) -> Box:
    f = 2**scale
    (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
    return Box((z0 // f, y0 // f, x0 // f), (-(-z1 // f), -(-y1 // f), -(-x1 // f)))


def _prefetched(
    todo: Iterator[tuple[Box, int]], read: Callable[[Box, int], R]
) -> Iterator[tuple[tuple[Box, int], R]]:
    """``(slab, scale), read(slab, scale)`` in order, the next slab read while one is used."""
    with ThreadPoolExecutor(1, thread_name_prefix="dvidctl-replay") as pool:
        pending: deque[tuple[tuple[Box, int], Future[R]]] = deque()
        for item in todo:
            pending.append((item, pool.submit(read, *item)))
            if len(pending) > 1:
                done, fut = pending.popleft()
                yield done, fut.result()
        while pending:
            done, fut = pending.popleft()
            yield done, fut.result()


def _voxels(remote: Any, local: Any, retry: Retry[Any], memo: Memo) -> Replayed:
    out = Replayed()
    ext = retry(remote.extents)
    labels = local.typename == "labelmap"
    mapping = None
    if labels:  # first: without a mapping apart, blocks are read as bodies (see replaylabels)
        mapping = replaylabels.remote_mapping(remote, retry, out)
    if ext is None:
        if labels:
            replaylabels.finish(remote, local, retry, mapping, out)
        return out
    bs = local.block_shape
    top = min(int(local.max_downres), int(retry(lambda: remote.max_downres)))
    held = local.held_region
    reader = BlockReader(remote, bs, retry)
    reader.supervoxels = not labels or mapping is not None
    mine_view = local.supervoxel_view() if labels else local
    todo = (
        (slab, scale)
        for scale in range(top + 1)
        for slab in (
            _slabs(_scaled(ext, scale), bs)
            if held is None
            else _held_slabs(held, _scaled(ext, scale), bs, scale)
        )
    )
    read = partial(reader.read, before=memo[0], now=memo[1])
    for (slab, scale), (theirs, same) in _prefetched(todo, read):
        nbx = slab.shape[2] // bs[2]
        if theirs is None:  # every block sent as the parent's: the node holds them
            out.same += nbx
            continue
        if same is not None:  # the node holds its parent's blocks: the others differ
            changed = [k for k in range(nbx) if not same[k]]
        else:
            mine = mine_view.get_subvolume(slab, scale)
            differs = (theirs != mine).reshape(bs[0], bs[1], nbx, bs[2]).any(axis=(0, 1, 3))
            changed = np.flatnonzero(differs).tolist()
        z, y, x0 = (slab.start[i] // bs[i] for i in range(3))
        blocks = [
            ((z, y, x0 + k), np.ascontiguousarray(theirs[:, :, k * bs[2] : (k + 1) * bs[2]]))
            for k in changed
        ]
        out.same += nbx - len(blocks)
        if blocks:
            local.put_blocks(blocks, scale)
            out.keys += len(blocks)
            out.bytes += sum(b.nbytes for _, b in blocks)
            out.batches += 1
    if reader.degraded is not None:
        out.notes.append(f"{local.name}: read with raw ({reader.degraded})")
    if labels:
        out.labels = "raw" if reader.degraded is not None else "dvid-blocks"
    if local.extents() != ext:
        local.set_extents(ext)
        out.batches += 1
    if labels:
        replaylabels.finish(remote, local, retry, mapping, out)
    return out
