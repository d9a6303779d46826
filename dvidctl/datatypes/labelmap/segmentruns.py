"""A body's runs over the blocks its index names, by **segments** of blocks along x.

Blocks next to each other along x (a row of blocks) form a segment, taken a few
hundred blocks at a time (one store call each). Each block read becomes bit rows
written in its place in its segment's byte array: for a body of several
supervoxels in blocks with tile label sets, the tiles are decoded ahead on the
block pool and their rows found on the calling thread (:mod:`.grouprows`); other
blocks are read one per pool task (:func:`~.blockruns.block_bits`), and the thread
that finishes a segment's last block finds its runs. A segment's runs are found on
its 64-bit words (:func:`~.blockruns.word_row_runs`), already joined across block
borders in x (labelmap blocks are multiples of 16 along each axis, so a block's
bit row is whole bytes). Runs are then put in ZYX
order by a per-slab stable sort: a few thousand runs where a join of every
block's runs would sort hundreds of thousands.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockvolume import BlockVolume, parallel_map
from dvidctl.datatypes.imageblk.codec import block_tile_labels
from dvidctl.datatypes.imageblk.tilelabels import TileLabels
from dvidctl.datatypes.labelmap.blockruns import (
    block_bits,
    row_bytes,
    tiles_to_decode,
    word_row_runs,
)
from dvidctl.datatypes.labelmap.grouprows import group_bits, grouped

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.sparsevol import BlockTargets

_CHUNK = 256  # blocks fetched per store call
#: Up to this many blocks, and tiles decoded in all, are read on the calling thread: the
#: pool's round trip (~0.1 ms, and two threads taking turns on the GIL for small numpy
#: calls) costs more than a second thread gains on a few tiles (bench_labels' 2-block body).
_INLINE_BLOCKS, _INLINE_TILES = 2, 4
_SegRuns = tuple[int, np.ndarray, np.ndarray, np.ndarray]  # first block, row, x, length


def target_runs(
    vol: BlockVolume, targets: BlockTargets, scale: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(starts (n, 3) ZYX, lengths)`` of the target blocks' voxels of their supervoxels.

    ``targets`` holds at least one block; blocks it marks full are not read.
    """
    nz, ny, nx = vol.spec.block_shape
    coords = targets.coords
    n = len(coords)
    new = np.ones(n, bool)
    if n > 1:  # labelmap blocks are multiples of 16: bit rows of blocks meet at byte borders
        c = coords
        new[1:] = (c[1:, 0] != c[:-1, 0]) | (c[1:, 1] != c[:-1, 1]) | (c[1:, 2] != c[:-1, 2] + 1)
    first = np.flatnonzero(new)
    ends = np.append(first[1:], n)
    found: list[_SegRuns] = []
    if n <= _CHUNK:  # one store call (most bodies)
        found = _segment_runs(vol, targets, scale, first, ends)
    else:
        cuts = np.flatnonzero(np.diff(first // _CHUNK)) + 1  # whole segments, ~_CHUNK blocks
        at = [0, *cuts.tolist(), len(first)]
        for lo, hi in zip(at[:-1], at[1:], strict=True):
            found.extend(_segment_runs(vol, targets, scale, first[lo:hi], ends[lo:hi]))
    return _assemble(found, coords, (nz, ny, nx))


def _segment_runs(
    vol: BlockVolume, targets: BlockTargets, scale: int, first: np.ndarray, ends: np.ndarray
) -> list[_SegRuns]:
    """Runs ``(row, x, length)`` of each segment ``blocks[first[i]:ends[i]]``, on its bit rows."""
    bs = vol.spec.block_shape
    nz, ny, nx = bs
    nb = row_bytes(nx)
    dtype = vol.spec.dtype
    coords = targets.coords
    sizes = ends - first
    bufs = [np.zeros((nz, ny, -(-k * nb // 8) * 8), np.uint8) for k in sizes.tolist()]
    seg_of = np.repeat(np.arange(len(first)), sizes).tolist()
    lo = int(first[0])
    idx = np.arange(lo, int(ends[-1]))
    full = idx[targets.full[idx]]
    for i in full.tolist():  # every bit set (rows are whole bytes)
        s = seg_of[i - lo]
        j = (i - int(first[s])) * nb
        bufs[s][:, :, j : j + nb] = 0xFF
    reads = idx[~targets.full[idx]]
    got = vol.payloads(scale, coords[reads])
    items = [(i, got.get(tuple(coords[i].tolist()))) for i in reads.tolist()]
    left = np.bincount([seg_of[i - lo] for i, _ in items], minlength=len(first)).tolist()
    found: list[_SegRuns | None] = [None] * len(first)
    lock = threading.Lock()

    def runs_of(s: int) -> _SegRuns:
        words = bufs[s].reshape(nz * ny, -1).view("<u8")
        return (int(first[s]), *word_row_runs(words, int(sizes[s]) * nx))

    def dest(i: int) -> np.ndarray:  # block i's bit rows in its segment's array
        s = seg_of[i - lo]
        j = (i - int(first[s])) * nb
        return bufs[s][:, :, j : j + nb]

    def one(item: tuple[int, memoryview | None]) -> None:
        i, payload = item
        s = seg_of[i - lo]
        if payload is not None:  # else named by the index, not stored: no voxels
            block_bits(payload, bs, dtype, targets.labels(i), dest(i))
        with lock:
            left[s] -= 1
            last = not left[s]
        if last:  # the segment's last block: its runs, on this thread (no second pass)
            found[s] = runs_of(s)

    sets = _light_sets(items, targets)
    body = np.unique(targets.svs) if sets is None else targets.svs[:0]
    if sets is None and grouped(bs, body):  # tiles decoded ahead on the pool, rows here
        real = [(i, p) for i, p in items if p is not None]
        rest = [real[k] for k in group_bits([(p, dest(i)) for i, p in real], bs, dtype, body)]
        parallel_map(lambda r: block_bits(r[1], bs, dtype, targets.labels(r[0]), dest(r[0])), rest)
    elif sets is None:
        parallel_map(one, items, min_items=2)
    else:  # few tiles to decode: on this thread, the label sets parsed once
        for (i, payload), s in zip(items, sets, strict=True):
            if payload is not None:
                block_bits(payload, bs, dtype, targets.labels(i), dest(i), s)
    return [f if f is not None else runs_of(s) for s, f in enumerate(found)]


def _light_sets(
    items: list[tuple[int, memoryview | None]], targets: BlockTargets
) -> list[TileLabels | None] | None:
    """The blocks' tile label sets when they are few, all with sets (codec 5), and those
    say few tiles are decoded (no use for the pool); else None."""
    if len(items) > _INLINE_BLOCKS:
        return None
    found: list[TileLabels | None] = []
    tiles = 0
    for i, payload in items:
        sets = None if payload is None else block_tile_labels(payload)
        if payload is not None:
            if sets is None:
                return None
            tiles += tiles_to_decode(sets, targets.labels(i))
        found.append(sets)
    return found if tiles <= _INLINE_TILES else None


def _assemble(
    found: list[_SegRuns], coords: np.ndarray, bs: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Runs per segment (rows in any order, x order within a row) -> global ZYX order.

    The segments of one z slab of blocks, concatenated in (y, x) block order, are put
    in order by a stable sort on a small key (local z, block row, local y): runs of
    one row keep their segment and x order. No global sort of every run, and no
    joining: segments do not touch along x.
    """
    nz, ny, nx = bs
    found = [f for f in found if len(f[3])]
    if not found:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    seg = coords[[f[0] for f in found]]
    at = [0, *(np.flatnonzero(seg[1:, 0] != seg[:-1, 0]) + 1).tolist(), len(found)]
    parts: list[np.ndarray] = []
    parts_n: list[np.ndarray] = []
    for a, b in zip(at[:-1], at[1:], strict=True):
        group = found[a:b]
        sizes = [len(g[3]) for g in group]
        z, y = np.divmod(np.concatenate([g[1] for g in group]), ny)
        x = np.concatenate([g[2] for g in group])
        n = np.concatenate([g[3] for g in group])
        by = np.repeat(seg[a:b, 1], sizes)
        bx = np.repeat(seg[a:b, 2], sizes)
        by0 = int(seg[a, 1])
        nby = int(seg[b - 1, 1]) - by0 + 1
        key = (z * nby + (by - by0)) * ny + y  # runs of a segment come rows interleaved
        small = nz * nby * ny <= 1 << 16
        order = np.argsort(key.astype(np.uint16) if small else key, kind="stable")
        g = np.empty((len(n), 3), np.int64)
        g[:, 0] = z[order] + int(seg[a, 0]) * nz
        g[:, 1] = (y + by * ny)[order]
        g[:, 2] = (x + bx * nx)[order]
        parts.append(g)
        parts_n.append(n[order])
    return np.concatenate(parts), np.concatenate(parts_n).astype(np.int64, copy=False)


__all__ = ["target_runs"]
