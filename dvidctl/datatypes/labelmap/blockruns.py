"""A label set in one stored block as bit rows, and runs along x of bit rows.

The sparse volume of a body costs, per block its index names, what decoding the
block costs plus as little as possible (bench/bench_labels.py measures both):

* a block stored with its tiles' label sets (codec 5) decodes only the tiles that
  hold some but not all of the body's supervoxels; other tiled blocks decode a
  tile at a time (no copy into ZYX order, which a plain decode pays for);
* the voxels of the body become **bit rows** (one bit a voxel, x fastest, as
  ``np.packbits(..., bitorder="little")`` but by ufuncs, which release the GIL)
  written straight into their place in the caller's array of a whole row of
  blocks (:func:`block_bits`): a tile's rows are a strided view of it. Rows are
  whole bytes (labelmap blocks are multiples of 16 along each axis);
* one or two supervoxels are ``np.equal`` passes into a reused mask; more are
  tested only in the rows that differ from the row before (one comparison pass:
  segmentation changes slowly across rows), looked up in the sorted set there and
  the packed rows repeated: the cost does not grow with the number of labels;
* runs are found on 64-bit words (:func:`word_row_runs`): rows without the body are
  dropped by one test on the words, and the first and last voxel of every run are
  bit operations on the words left (``w & ~(w << 1)``, ``w & ~(w >> 1)``, carried
  across the words of rows longer than 64), so runs that cross block borders in x
  come out joined.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from dvidctl.datatypes.imageblk.codec import block_tile_labels, decode_into, tiled_body
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.imageblk.tilelabels import TileLabels
from dvidctl.datatypes.imageblk.zstdbody import decode_tile_major, tile_decoder, tile_rows
from dvidctl.datatypes.labelmap.counting import runs

#: Up to this many labels per block a mask is one comparison pass per label; above
#: it, the rows that differ from the row before are found (one pass) and only those
#: looked up in the sorted labels. Measured on 64^3 blocks: a comparison ~0.05 ms,
#: the distinct rows and their lookup ~0.1-0.15 ms, a tile-major decode ~0.3-0.5 ms.
MAX_COMPARES = 2

_BOOL = np.dtype(bool)
_U64 = np.dtype("<u8")
_LITTLE = sys.byteorder == "little"


def row_bytes(nx: int) -> int:
    """Bytes of one packed row of ``nx`` voxels."""
    return -(-nx // 8)


def word_row_runs(words: np.ndarray, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of set bits along the rows of ``(rows, n)`` little-endian uint64 words.

    Bit ``i`` of a row is voxel ``i`` (``np.packbits(..., bitorder="little")``); bits
    at ``nx`` and above must be clear. Returns ``(row, x start, length)``; runs are
    found only in the rows that are set and differ from the row before, and repeated
    for the rows equal to them: runs of one row come in x order (rows interleaved).
    """
    nrows, nwords = words.shape
    if not nrows:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if not _LITTLE:  # pragma: no cover - bit positions below assume native little-endian
        words = words.astype(np.uint64)
    new = np.empty(nrows, bool)
    new[0] = True
    if nwords == 1:
        flat = words[:, 0]
        np.not_equal(flat[1:], flat[:-1], out=new[1:])
        heads = np.flatnonzero(new)
        keep = flat[heads] != 0
    else:  # per word column: numpy reduces a short last axis row by row, slowly
        diff = words[1:, 0] != words[:-1, 0]
        for k in range(1, nwords):
            diff |= words[1:, k] != words[:-1, k]
        new[1:] = diff
        heads = np.flatnonzero(new)
        hw = words[heads]
        keep = hw[:, 0] != 0
        for k in range(1, nwords):
            keep |= hw[:, k] != 0
    weight = np.diff(np.append(heads, nrows))[keep]
    heads = heads[keep]
    if not len(heads):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    w = words[heads]
    one = np.uint64(1)
    prev = w << one  # bit x holds voxel x - 1
    nxt = w >> one  # bit x holds voxel x + 1
    if nwords > 1:  # carry the bits across the words of a row
        top = np.uint64(63)
        prev[:, 1:] |= w[:, :-1] >> top
        nxt[:, :-1] |= (w[:, 1:] & one) << top
    # bits -> positions; flatnonzero on bools is ~10x faster than on uint8
    first = np.unpackbits((w & ~prev).view(np.uint8), axis=1, bitorder="little").view(bool)
    last = np.unpackbits((w & ~nxt).view(np.uint8), axis=1, bitorder="little").view(bool)
    ps = np.flatnonzero(first)
    pe = np.flatnonzero(last)
    r, x = np.divmod(ps, 64 * nwords)
    return _repeat_rows(heads, weight, r, x, pe - ps + 1)


def mask_row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of set values along the rows of a 2D bool mask: ``(row, x start, length)``."""
    nrows, nx = mask.shape
    packed = np.packbits(mask, axis=1, bitorder="little")
    return word_row_runs(as_words(packed), nx)


def as_words(packed: np.ndarray) -> np.ndarray:
    """``(rows, bytes)`` packed rows as ``(rows, words)`` uint64 (zero-padded if need be)."""
    nrows, nb = packed.shape
    nwords = -(-nb // 8)
    if nb != 8 * nwords or not packed.flags.c_contiguous:
        wide = np.zeros((nrows, 8 * nwords), np.uint8)
        wide[:, :nb] = packed
        packed = wide
    return packed.view("<u8")


def _repeat_rows(
    heads: np.ndarray, weight: np.ndarray, r: np.ndarray, x: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs ``(r, x, n)`` of rows ``heads[r]``, repeated over the ``weight`` rows each heads."""
    reps = weight[r]
    if (reps == 1).all():
        return heads[r], x, n
    row = np.repeat(heads[r], reps)
    row += np.arange(len(row)) - np.repeat(np.cumsum(reps) - reps, reps)
    return row, np.repeat(x, reps), np.repeat(n, reps)


def label_bits(rows: np.ndarray, labels: np.ndarray, out: np.ndarray) -> None:
    """Pack the rows of 2D ``rows`` to bits (little bit order) of the values in sorted ``labels``.

    ``out`` is uint8 of any shape holding ``(rows, row_bytes(X))`` bytes in order (a
    strided view is fine: the last step writes straight into it).
    """
    nrows, nx = rows.shape
    if len(labels) <= MAX_COMPARES:
        mask = scratch(rows.shape, _BOOL, "sparsevol-mask")
        np.equal(rows, labels[0], out=mask)
        if len(labels) > 1:
            more = scratch(rows.shape, _BOOL, "sparsevol-mask2")
            for lab in labels[1:]:
                np.equal(rows, lab, out=more)
                mask |= more
        _pack_into(mask, out, scratch((nrows, nx // 8), _U64, "sparsevol-pack"))
        return
    new = np.empty(nrows, bool)
    new[0] = True
    if nrows > 1:
        _differs(rows, new[1:], scratch((nrows - 1, nx), _BOOL, "sparsevol-rows"))
    heads = np.flatnonzero(new)
    _lookup_rows(heads, rows[heads].reshape(-1), labels, nrows, nx, out)


def _differs(rows: np.ndarray, out: np.ndarray, ne: np.ndarray) -> None:
    """``out[i]``: row ``i + 1`` of 2D ``rows`` differs from row ``i`` (``ne``: scratch).

    The comparison's bools, 8 a word, are summed per row (``np.einsum``): a byte
    lane adds at most X / 8 <= 128 ones, so the sum is 0 only when all are.
    """
    np.not_equal(rows[1:], rows[:-1], out=ne)
    np.not_equal(np.einsum("ij->i", ne.view(_U64)), 0, out=out)


def _lookup_rows(
    heads: np.ndarray, flat: np.ndarray, labels: np.ndarray, nrows: int, nx: int, out: np.ndarray
) -> None:
    """Bit rows into ``out`` from the distinct rows ``heads`` (their voxels ``flat``).

    The distinct rows' runs of one value are looked up in sorted ``labels``; each
    distinct row is repeated over the rows up to the next one.
    """
    starts, vals = runs(flat, nx)
    i = np.searchsorted(labels, vals)
    np.minimum(i, len(labels) - 1, out=i)
    lens = np.diff(np.append(starts, flat.size))
    weight = np.diff(np.append(heads, nrows))
    if nx == 64 and _LITTLE:  # a row is one word: the runs' bits OR'd, no voxel mask
        _word_rows(starts, lens, labels[i] != vals, weight, out)
        return
    hit = np.repeat(labels[i] == vals, lens)
    if len(heads) == nrows:
        _pack_into(hit.reshape(nrows, nx), out, np.empty((nrows, nx // 8), _U64))
        return
    nb = row_bytes(nx)
    kind = _U64 if nb % 8 == 0 else np.dtype((np.void, nb))  # a packed row, few elements
    bits = np.empty((len(heads), nb), np.uint8)
    _pack_into(hit.reshape(len(heads), nx), bits, np.empty((len(heads), nx // 8), _U64))
    full = np.repeat(bits.view(kind), weight, axis=0)  # each distinct row over its repeats
    out[...] = full.view(np.uint8).reshape(out.shape)


def _tiled_lookup_bits(
    body: memoryview, shape: tuple[int, int, int], dtype: np.dtype, labels: np.ndarray
) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """The distinct rows of a tiled block, found tile by tile while each is in cache.

    Returns ``(tz, ty, heads, their voxels)`` with rows numbered tile-major (a tile's
    first row always counts as distinct), or None when the tiles do not divide it.
    """
    got = tile_rows(body, shape, dtype, "sparsevol-tile")
    if got is None:
        return None
    tz, ty, tiles = got
    per = tz * ty
    n = (shape[0] // tz) * (shape[1] // ty)
    new = np.empty(n * per, bool)
    ne = scratch((per - 1, shape[2]), _BOOL, "sparsevol-tile-ne") if per > 1 else None
    parts = []
    for i, tile in enumerate(tiles):
        flags = new[i * per : (i + 1) * per]
        flags[0] = True
        if ne is not None:
            _differs(tile, flags[1:], ne)
        parts.append(tile[np.flatnonzero(flags)])  # a copy: the buffer takes the next tile
    return tz, ty, np.flatnonzero(new), np.concatenate(parts).reshape(-1)


def _word_rows(
    starts: np.ndarray, lens: np.ndarray, miss: np.ndarray, weight: np.ndarray, out: np.ndarray
) -> None:
    """64-voxel rows as words from their runs (flat ``starts``, ``lens``, not in the set where
    ``miss``), each row repeated ``weight`` times into ``out`` (uint8, 8 bytes a row)."""
    x = (starts & 63).astype(np.uint64)
    word = (np.uint64(2) << (lens.astype(np.uint64) - np.uint64(1))) - np.uint64(1)  # 2**64 wraps
    word <<= x
    word[miss] = 0
    rows = np.bitwise_or.reduceat(word, np.flatnonzero(x == 0))  # every row starts a run
    words = out.view(_U64)  # rows of 8 contiguous bytes (a strided view is fine)
    words[...] = np.repeat(rows, weight).reshape(words.shape)


_MAGIC = np.uint64(0x0102040810204080)
_TOP = np.uint64(56)


def _pack_into(mask: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """``np.packbits(mask, axis=1, bitorder="little")`` into ``out``, by ufuncs when it can.

    Eight bools (bytes of 0 or 1) read as one little-endian uint64, times
    0x0102040810204080, hold their bits in the top byte (every partial product
    lands on its own bit: no carries). Unlike ``np.packbits``, ufuncs release the
    GIL, so two threads packing blocks do not wait on each other. ``tmp`` is
    ``(rows, X / 8)`` uint64.
    """
    if not _LITTLE:  # pragma: no cover - the multiply assumes native little-endian
        out[...] = np.packbits(mask, axis=1, bitorder="little").reshape(out.shape)
        return
    np.multiply(mask.view(_U64), _MAGIC, out=tmp)
    np.right_shift(tmp, _TOP, out=tmp)
    out[...] = tmp.astype(np.uint8).reshape(out.shape)


def block_bits(
    payload: memoryview | bytes,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    labels: np.ndarray,
    out: np.ndarray,
    sets: TileLabels | None = None,
) -> None:
    """Write the bit rows of a stored block's voxels in sorted ``labels`` into ``out``.

    ``out`` is a ``(Z, Y, X / 8)`` uint8 view (of a larger array: no copy; X a multiple
    of 8). Tiled zstd blocks are decoded a tile at a time into one per-thread buffer
    that stays in cache while it is compared (one or two labels) or its distinct rows
    are found (more), and written through a tile-major view of ``out``; other blocks
    are decoded whole. ``sets``: the payload's tile label sets when the caller has
    parsed them already.
    """
    nz, ny, nx = shape
    if sets is None:
        sets = block_tile_labels(payload)
    if sets is not None and _tile_set_bits(sets, shape, dtype, labels, out):
        return
    body = tiled_body(payload)
    if body is not None:
        if len(labels) > MAX_COMPARES:
            found = _tiled_lookup_bits(body, shape, dtype, labels)
            if found is not None:
                tz, ty, heads, flat = found
                _lookup_rows(heads, flat, labels, nz * ny, nx, _tile_view(out, tz, ty))
                return
        else:
            got = tile_rows(body, shape, dtype, "sparsevol-tile")
            if got is not None:
                tz, ty, each = got
                dst = _tile_view(out, tz, ty)
                for i, tile in enumerate(each):
                    label_bits(tile, labels, dst[divmod(i, ny // ty)])
                return
    vox = decode_into(payload, scratch(shape, dtype, "sparsevol"))
    label_bits(vox.reshape(-1, nx), labels, out)


def _tile_set_bits(
    sets: TileLabels,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    labels: np.ndarray,
    out: np.ndarray,
) -> bool:
    """:func:`block_bits` of a block whose header names each tile's labels (codec 5).
    Tiles without any of ``labels`` are zero rows and tiles of only ``labels`` full
    rows, neither decoded. The others are decoded: with one or two labels each tile is
    compared with those it holds; with more, the distinct rows of all of them (a
    skipped tile stands as one row of one of its labels) are looked up at once. False
    when the tiles do not divide the block (the caller decodes it).
    """
    got = tile_decoder(sets.tiled, shape, dtype, "sparsevol-tile")
    if got is None:
        return False
    tz, ty, n, decode = got
    member = sets.member
    wanted, hits, mixed = _tile_hits(sets, labels)
    dst = _tile_view(out, tz, ty)
    per_row = shape[1] // ty
    if len(labels) > MAX_COMPARES and mixed.any():
        _tile_lookup_bits(sets, wanted, mixed, decode, (n, tz * ty, shape[2]), labels, dst)
        return True
    for t in range(n):
        view = dst[divmod(t, per_row)]
        if mixed[t]:
            label_bits(decode(t), sets.table[member[t] & wanted], view)
        else:  # rows are whole bytes (X a multiple of 8)
            view[...] = 0xFF if hits[t] else 0
    return True


def _tile_hits(sets: TileLabels, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(wanted, hits, mixed)``: which of the block's labels are in sorted ``labels``, how
    many of those each tile holds, and the tiles holding some but not all (to decode)."""
    at = np.searchsorted(labels, sets.table)  # np.isin costs ~4x these three calls
    wanted = labels[np.minimum(at, len(labels) - 1)] == sets.table  # a label looked for
    hits = sets.member[:, wanted].sum(axis=1)
    return wanted, hits, (hits > 0) & (hits < sets.member.sum(axis=1))


def tiles_to_decode(sets: TileLabels, labels: np.ndarray) -> int:
    """How many tiles :func:`block_bits` decodes for ``labels`` in a block of label sets
    ``sets`` (codec 5, :func:`~dvidctl.datatypes.imageblk.codec.block_tile_labels`)."""
    return int(np.count_nonzero(_tile_hits(sets, labels)[2]))


def _tile_lookup_bits(
    sets: TileLabels,
    wanted: np.ndarray,
    mixed: np.ndarray,
    decode: Callable[[int], np.ndarray],
    dims: tuple[int, int, int],
    labels: np.ndarray,
    dst: np.ndarray,
) -> None:
    """Bit rows of the tiles (``dims``: count, rows each, X) into tile-major ``dst`` by one
    lookup of the distinct rows: those of the ``mixed`` tiles (decoded), and one row of a
    label it holds for every other tile (in the body or not, as the tile is)."""
    n, per, nx = dims
    new = np.zeros(n * per, bool)
    ne = scratch((per - 1, nx), _BOOL, "sparsevol-tile-ne") if per > 1 else None
    parts = []
    for t in range(n):
        flags = new[t * per : (t + 1) * per]
        flags[0] = True
        if not mixed[t]:
            row = sets.member[t] & wanted
            rep = sets.table[row if row.any() else sets.member[t]][0]
            parts.append(np.full(nx, rep, sets.table.dtype))
            continue
        tile = decode(t)
        if ne is not None:
            _differs(tile, flags[1:], ne)
        parts.append(tile[np.flatnonzero(flags)].reshape(-1))  # a copy: the buffer is reused
    flat = np.concatenate(parts)
    _lookup_rows(np.flatnonzero(new), flat, labels, n * per, nx, dst)


def _tile_view(out: np.ndarray, tz: int, ty: int) -> np.ndarray:
    """``(Z, Y, B)`` ``out`` as ``(Z / tz, Y / ty, tz, ty, B)``: tile, then its rows (a view)."""
    nz, ny, nb = out.shape
    return out.reshape(nz // tz, tz, ny // ty, ty, nb).transpose(0, 2, 1, 3, 4)


def decode_rows(
    payload: memoryview | bytes, shape: tuple[int, int, int], dtype: np.dtype, slot: str
) -> np.ndarray:
    """A stored block's voxels as a 3D array of its x rows in some order (a label set, counts).

    Tiled zstd blocks come tile-major (no reordering copy), others whole in ZYX order;
    a per-thread buffer named ``slot``.
    """
    body = tiled_body(payload)
    if body is not None:
        tiles = decode_tile_major(body, shape, dtype, slot)
        if tiles is not None:
            vox, tz, ty = tiles
            return vox.reshape(-1, ty, shape[2])
    return decode_into(payload, scratch(shape, dtype, slot))


__all__ = [
    "MAX_COMPARES",
    "as_words",
    "block_bits",
    "decode_rows",
    "label_bits",
    "mask_row_runs",
    "row_bytes",
    "tiles_to_decode",
    "word_row_runs",
]
