"""Bit rows of a body over many stored label blocks: tiles decoded ahead, rows found once.

:func:`~.blockruns.block_bits` reads one block on a pool thread: for a body of many
supervoxels that is ~40 small numpy calls per block, each holding the GIL, so the
pool's threads mostly take turns. Here, for tiled zstd blocks with rows of 64
voxels (the labelmap default: a row is one 64-bit word):

* the caller's thread reads every block's label section first (codec 5,
  :mod:`..imageblk.tilelabels`): tiles without the body stay the caller's zeros,
  tiles of only the body become full rows, and the others (mixed) are listed, not
  yet decoded; a block without sets (codec 4: a pyramid level, an old write) has
  every tile listed;
* the pool decodes the mixed tiles in that order into a small ring of tile buffers,
  a few tiles ahead (zstd releases the GIL: decoding overlaps the numpy work), while
  the caller's thread takes each decoded tile in turn
  (:func:`~..imageblk.parallel.ordered_ahead`): one or two of the body's supervoxels
  there are comparison passes packed in place, more are the tile's rows that differ
  from the row before (one comparison pass while the tile is in cache), kept;
* the kept rows of many tiles at once: their runs, one ``searchsorted`` of the
  runs' values in the body's sorted supervoxels, each run's bits OR'd into its row's
  word, and each distinct row repeated over the rows equal to it.

Membership is tested against the body's supervoxels, not a block's share of them
in the index: a voxel is in the body when its supervoxel is, in whichever block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dvidctl.datatypes.imageblk.codec import block_tile_labels, tiled_body
from dvidctl.datatypes.imageblk.parallel import ordered_ahead
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.imageblk.zstdbody import frame_into, tile_frames
from dvidctl.datatypes.labelmap.blockruns import MAX_COMPARES, label_bits
from dvidctl.datatypes.labelmap.counting import runs

_BOOL = np.dtype(bool)
_U64 = np.dtype("<u8")
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_ALL = ~np.uint64(0)
#: Tiles decoded ahead of the caller (the ring of tile buffers: 512 KiB each for 64^3
#: uint64 blocks in 32^2 tiles), and kept rows looked up at once (bounds their copy).
SLOTS, KEEP_ROWS = 6, 1 << 14


@dataclass(frozen=True)
class _Tile:
    """A mixed tile: its frame, its rows' place in the caller's array (as words and as
    bytes), and the body's supervoxels in it when few enough to compare (else None)."""

    frame: memoryview
    words: np.ndarray
    rows: np.ndarray
    few: np.ndarray | None


@dataclass
class _Kept:
    """Distinct rows kept from mixed tiles, and where their words go."""

    per: int  # rows in a tile
    parts: list[np.ndarray] = field(default_factory=list)  # distinct rows' voxels, flat
    heads: list[np.ndarray] = field(default_factory=list)  # their rows in their tile
    dests: list[np.ndarray] = field(default_factory=list)  # each tile's rows as words
    count: int = 0  # rows kept


def grouped(shape: tuple[int, int, int], body: np.ndarray) -> bool:
    """Whether :func:`group_bits` reads blocks of ``shape`` for a body of ``body``
    supervoxels: rows of 64 voxels (one word each), and more than one supervoxel
    (one is a comparison pass per tile on the block pool, as cheap)."""
    return shape[2] == 64 and len(body) > 1


def group_bits(
    items: list[tuple[memoryview | bytes, np.ndarray]],
    shape: tuple[int, int, int],
    dtype: np.dtype,
    body: np.ndarray,
) -> list[int]:
    """Write the bit rows of the voxels in sorted ``body`` of each ``(payload, out)``.

    ``out`` is a ``(Z, Y, 8)`` uint8 view (rows of 64 voxels) that holds **zeros**:
    only the body's rows are written. Returns the positions in ``items`` of blocks
    this does not read (not tiled zstd, or tiles that do not divide the block), which
    the caller reads one by one (:func:`~.blockruns.block_bits`).
    """
    left: list[int] = []
    tiles: list[_Tile] = []
    per = 0
    for pos, (payload, out) in enumerate(items):
        tiled = tiled_body(payload)
        got = None if tiled is None else tile_frames(tiled, shape)
        if tiled is None or got is None or (per and per != got[0] * got[1]):
            left.append(pos)  # not tiled zstd, uneven tiles, or tiles unlike the others'
            continue
        tz, ty, offs = got
        per = tz * ty
        frames = [tiled[a:b] for a, b in zip(offs[:-1], offs[1:], strict=True)]
        sets = block_tile_labels(payload)
        if sets is None:  # codec 4 (a pyramid level, a path without the counting pass)
            _every_tile(frames, (tz, ty), out, tiles)
            continue
        at = np.searchsorted(body, sets.table)
        wanted = body[np.minimum(at, len(body) - 1)] == sets.table
        if wanted.any():
            _classify(sets.table, sets.member, wanted, (tz, ty), frames, out, tiles)
    if tiles:
        _read(tiles, per, dtype, body)
    return left


def _tile_views(out: np.ndarray, tz: int, ty: int) -> tuple[np.ndarray, np.ndarray]:
    """``out`` ``(Z, Y, 8)`` as ``(Z / tz, tz, Y / ty, ty)`` words and the same with the
    8 bytes of each row: tile ``(a, b)``'s rows are ``[a, :, b]`` (views, or it raises)."""
    nz, ny, _ = out.shape
    words = out.view(_U64)[..., 0]  # (Z, Y): a row of 64 voxels is one word
    words.shape = (nz // tz, tz, ny // ty, ty)
    rows = out.view()
    rows.shape = (nz // tz, tz, ny // ty, ty, 8)
    return words, rows


def _every_tile(
    frames: list[memoryview], tiling: tuple[int, int], out: np.ndarray, tiles: list[_Tile]
) -> None:
    """A block without label sets: every tile is read and its distinct rows looked up."""
    tz, ty = tiling
    words, rows = _tile_views(out, tz, ty)
    per_row = out.shape[1] // ty
    for t, frame in enumerate(frames):
        at = (t // per_row, slice(None), t % per_row)
        tiles.append(_Tile(frame, words[at], rows[at], None))


def _classify(
    table: np.ndarray,
    member: np.ndarray,
    wanted: np.ndarray,
    tiling: tuple[int, int],
    frames: list[memoryview],
    out: np.ndarray,
    tiles: list[_Tile],
) -> None:
    """One block: its full tiles set in ``out``, its mixed tiles appended to ``tiles``."""
    tz, ty = tiling
    hits = np.count_nonzero(member & wanted, axis=1)
    full = hits == np.count_nonzero(member, axis=1)
    words, rows = _tile_views(out, tz, ty)
    per_row = out.shape[1] // ty
    for t in np.flatnonzero(hits).tolist():
        at = (t // per_row, slice(None), t % per_row)
        if full[t]:
            words[at] = _ALL
        elif hits[t] <= MAX_COMPARES:
            tiles.append(_Tile(frames[t], words[at], rows[at], table[member[t] & wanted]))
        else:
            tiles.append(_Tile(frames[t], words[at], rows[at], None))


def _read(tiles: list[_Tile], per: int, dtype: np.dtype, body: np.ndarray) -> None:
    """Decode the mixed tiles on the pool, a few ahead; compare or keep rows on this thread."""
    ring = scratch((SLOTS, per, 64), dtype, "group-ring")
    dests = [ring[k].reshape(-1).view(np.uint8).data for k in range(SLOTS)]
    new = scratch((per,), _BOOL, "group-new")
    ne = scratch((per - 1, 64), _BOOL, "group-ne")
    new[0] = True
    kept = _Kept(per)

    def produce(i: int, slot: int) -> None:
        frame_into(tiles[i].frame, dests[slot])

    def consume(i: int, slot: int) -> None:
        tile, rows = tiles[i], ring[slot]
        if tile.few is not None:  # one or two of the body's supervoxels: compared, packed
            label_bits(rows, tile.few, tile.rows)
            return
        np.not_equal(rows[1:], rows[:-1], out=ne)
        # 8 bools a word summed per row: a byte lane adds at most 8, so 0 only when all are
        np.not_equal(np.einsum("ij->i", ne.view(_U64)), 0, out=new[1:])
        heads = np.flatnonzero(new)
        kept.parts.append(rows[heads].reshape(-1))  # a copy: the slot takes another tile
        kept.heads.append(heads)
        kept.dests.append(tile.words)
        kept.count += len(heads)
        if kept.count >= KEEP_ROWS:
            _lookup(kept, body)

    ordered_ahead(len(tiles), produce, consume, SLOTS)
    if kept.parts:
        _lookup(kept, body)


def _lookup(kept: _Kept, body: np.ndarray) -> None:
    """The kept rows' words: runs looked up in ``body``, OR'd per row, then each
    distinct row repeated over its tile's rows up to the next distinct one. Empties
    ``kept``."""
    flat = np.concatenate(kept.parts)
    starts, vals = runs(flat, 64)  # runs break at every row: each row starts one
    i = np.searchsorted(body, vals)
    np.minimum(i, len(body) - 1, out=i)
    lens = np.diff(np.append(starts, flat.size)).astype(np.uint64)
    x = (starts & 63).astype(np.uint64)
    word = (_TWO << (lens - _ONE)) - _ONE  # lens 64: 2**64 wraps to 0, minus 1 is all ones
    word <<= x
    word[body[i] != vals] = 0
    rows = np.bitwise_or.reduceat(word, np.flatnonzero(x == 0))
    ends = np.concatenate([np.append(h[1:], kept.per) for h in kept.heads])
    every = np.repeat(rows, ends - np.concatenate(kept.heads))  # each tile's rows in turn
    per = kept.per
    for k, dst in enumerate(kept.dests):
        dst[...] = every[k * per : (k + 1) * per].reshape(dst.shape)
    kept.parts.clear()
    kept.heads.clear()
    kept.dests.clear()
    kept.count = 0


__all__ = ["SLOTS", "group_bits", "grouped"]
