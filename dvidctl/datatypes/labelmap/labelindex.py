"""Label indexes (DVID's ``LabelIndex``): per body, its scale-0 blocks and supervoxel counts.

A :class:`LabelIndex` holds rows ``(block id, supervoxel, voxel count)`` sorted by
block then supervoxel, as three numpy columns; the block id is DVID's packed
block coordinate (:func:`encode_block_ids`: x in bits 0-20, y in 21-41, z in
42-62, each field sign-magnitude). Stored as a small header plus the zstd of the
columns (:meth:`LabelIndex.encode`), so reading or rewriting an index is a few
numpy calls whatever its size; :mod:`.indexproto` turns it into DVID's protobuf.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import zstandard

from dvidctl.datatypes.labelmap.counting import unique
from dvidctl.errors import CorruptDataError

_MAG = np.uint64(0xFFFFF)
_SIGN = np.uint64(0x100000)
_MAGIC = b"LI1"  # columns under zstd
_MAGIC_RAW = b"LI0"  # columns as they are (small indexes: cheaper than compressing)
_RAW_ROWS = 128
_HEAD = struct.Struct("<QQI")


def encode_block_ids(coords_zyx: np.ndarray) -> np.ndarray:
    """DVID's ``EncodeBlockIndex`` of ``(n, 3)`` ZYX block coordinates -> uint64."""
    c = np.asarray(coords_zyx, np.int64).reshape(-1, 3)
    out = np.zeros(len(c), np.uint64)
    for axis, shift in ((0, 42), (1, 21), (2, 0)):
        v = c[:, axis]
        field_ = (np.abs(v).astype(np.uint64) & _MAG) | np.where(v < 0, _SIGN, np.uint64(0))
        out |= field_ << np.uint64(shift)
    return out


def decode_block_ids(ids: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_block_ids`: ``(n, 3)`` int64 ZYX."""
    a = np.asarray(ids, np.uint64).reshape(-1)
    out = np.empty((len(a), 3), np.int64)
    for axis, shift in ((0, 42), (1, 21), (2, 0)):
        f = (a >> np.uint64(shift)) & np.uint64(0x1FFFFF)
        mag = (f & _MAG).astype(np.int64)
        out[:, axis] = np.where((f & _SIGN) != 0, -mag, mag)
    return out


def _empty() -> np.ndarray:
    return np.zeros(0, np.uint64)


@dataclass
class LabelIndex:
    """One body's index: rows ``(block, supervoxel, count)`` sorted by block, supervoxel."""

    label: int
    blocks: np.ndarray = field(default_factory=_empty)  # uint64 DVID block ids
    svs: np.ndarray = field(default_factory=_empty)  # uint64 supervoxels
    counts: np.ndarray = field(default_factory=_empty)  # uint64 voxel counts
    last_mutid: int = 0
    last_mod_time: str = ""
    last_mod_user: str = ""
    last_mod_app: str = ""

    # ------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def num_voxels(self) -> int:
        """Voxels of the body (every supervoxel, every block)."""
        return int(self.counts.sum())

    def supervoxels(self) -> np.ndarray:
        """The body's supervoxels, ascending."""
        return unique(self.svs)

    def supervoxel_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(supervoxels ascending, voxel counts)``."""
        u, inv = np.unique(self.svs, return_inverse=True)
        return u, np.bincount(inv.reshape(-1), self.counts, len(u)).astype(np.uint64)

    def block_ids(self, sv: int | None = None) -> np.ndarray:
        """Block ids holding the body (or only supervoxel ``sv``), ascending."""
        b = self.blocks if sv is None else self.blocks[self.svs == np.uint64(sv)]
        return unique(b)

    def block_coords(self, sv: int | None = None) -> np.ndarray:
        """``(n, 3)`` ZYX scale-0 block coordinates, sorted."""
        return decode_block_ids(self.block_ids(sv))

    def limited_to(self, sv: int) -> LabelIndex:
        """The rows of supervoxel ``sv`` only."""
        keep = self.svs == np.uint64(sv)
        return replace(
            self, label=sv, blocks=self.blocks[keep], svs=self.svs[keep], counts=self.counts[keep]
        )

    # ------------------------------------------------------------- updates
    def with_rows(self, blocks: np.ndarray, svs: np.ndarray, counts: np.ndarray) -> LabelIndex:
        """A copy with these rows added (rows of the same block and supervoxel are summed)."""
        b = np.concatenate([self.blocks, np.asarray(blocks, np.uint64)])
        s = np.concatenate([self.svs, np.asarray(svs, np.uint64)])
        c = np.concatenate([self.counts, np.asarray(counts, np.uint64)])
        rb, rs, rc = sort_rows(b, s, c)
        return replace(self, blocks=rb, svs=rs, counts=rc)

    def without_blocks(self, block_ids: np.ndarray) -> LabelIndex:
        """A copy without the rows of the given blocks."""
        keep = ~np.isin(self.blocks, block_ids)
        return replace(self, blocks=self.blocks[keep], svs=self.svs[keep], counts=self.counts[keep])

    def without_svs(self, svs: np.ndarray) -> LabelIndex:
        """A copy without the rows of the given supervoxels."""
        keep = ~np.isin(self.svs, svs)
        return replace(self, blocks=self.blocks[keep], svs=self.svs[keep], counts=self.counts[keep])

    def rows_of(self, svs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows of the given supervoxels."""
        keep = np.isin(self.svs, svs)
        return self.blocks[keep], self.svs[keep], self.counts[keep]

    # ------------------------------------------------------------ encoding
    def encode(self) -> bytes:
        """Stored form: magic, label, last mutation id, row count, 3 strings, zstd columns."""
        n = len(self.blocks)
        head = (_MAGIC if n > _RAW_ROWS else _MAGIC_RAW) + _HEAD.pack(
            self.label, self.last_mutid, n
        )
        strs = b"".join(
            len(b).to_bytes(2, "little") + b
            for b in (
                s.encode()[:65535]
                for s in (self.last_mod_time, self.last_mod_user, self.last_mod_app)
            )
        )
        cols = (
            self.blocks.astype("<u8").tobytes()
            + self.svs.astype("<u8").tobytes()
            + self.counts.astype("<u8").tobytes()
        )
        if n <= _RAW_ROWS:
            return head + strs + cols
        return head + strs + zstandard.ZstdCompressor(level=1).compress(cols)

    @classmethod
    def decode(cls, payload: bytes | memoryview) -> LabelIndex:
        """Inverse of :meth:`encode`."""
        buf = memoryview(payload)
        try:
            magic = bytes(buf[:3])
            if magic not in (_MAGIC, _MAGIC_RAW):
                raise ValueError("bad magic")
            label, mutid, n = _HEAD.unpack_from(buf, 3)
            pos = 3 + _HEAD.size
            strs = []
            for _ in range(3):
                k = int.from_bytes(buf[pos : pos + 2], "little")
                strs.append(bytes(buf[pos + 2 : pos + 2 + k]).decode())
                pos += 2 + k
            if magic == _MAGIC_RAW:
                arr = np.frombuffer(buf[pos:], "<u8").astype(np.uint64)
            else:
                cols = zstandard.ZstdDecompressor().decompress(
                    bytes(buf[pos:]), max_output_size=24 * n
                )
                arr = np.frombuffer(cols, "<u8").astype(np.uint64)
            if len(arr) != 3 * n:
                raise ValueError("short columns")
        except (ValueError, struct.error, zstandard.ZstdError, UnicodeDecodeError) as exc:
            raise CorruptDataError(f"stored label index does not decode: {exc}") from None
        return cls(int(label), arr[:n], arr[n : 2 * n], arr[2 * n :], int(mutid), *strs)


@dataclass
class IndexColumns:
    """Many stored indexes at once: their rows as three columns, in index order.

    ``lens[i]`` rows belong to index ``i`` (0 for an absent one); :meth:`head` gives
    its stored label, last mutation id and strings, copied verbatim into a rewrite.
    """

    lens: np.ndarray
    blocks: np.ndarray
    svs: np.ndarray
    counts: np.ndarray
    raw: bytes  # the payloads joined
    at: np.ndarray  # per index: where its payload starts in buf (-1: absent)
    strs_end: np.ndarray  # per index: where its strings end

    def head(self, i: int) -> tuple[bytes, bytes] | None:
        """``(label and last mutation id, the three strings)`` as stored, or None."""
        a = int(self.at[i])
        if a < 0:
            return None
        data = self.raw
        return data[a + 3 : a + 19], data[a + 3 + _HEAD.size : int(self.strs_end[i])]


def decode_many(payloads: Sequence[bytes | memoryview | None]) -> IndexColumns:
    """Decode stored indexes in bulk: headers and raw columns by numpy gathers.

    The payloads are joined once; their headers (row counts, string lengths) are
    read with fancy indexing and the small indexes' columns (stored raw) gathered at
    once; only the zstd ones (the few large bodies) are decompressed one by one.
    """
    k = len(payloads)
    present = np.array([p is not None for p in payloads], bool)
    sizes = np.array([len(p) if p is not None else 0 for p in payloads], np.int64)
    everything = b"".join(p for p in payloads if p is not None)
    joined = np.frombuffer(everything, np.uint8)
    at = np.cumsum(sizes) - sizes
    lens = np.zeros(k, np.int64)
    strs_end = np.zeros(k, np.int64)
    if not present.any():
        return IndexColumns(
            lens, _empty(), _empty(), _empty(), everything, np.full(k, -1), strs_end
        )
    idx = np.flatnonzero(present)
    start, size = at[idx], sizes[idx]
    if size.min() < 3 + _HEAD.size + 6:
        raise CorruptDataError("stored label index does not decode: too short")

    def u16(pos: np.ndarray) -> np.ndarray:
        return joined[pos].astype(np.int64) | (joined[pos + 1].astype(np.int64) << 8)

    magic = joined[start[:, None] + np.arange(3)]
    zst = np.all(magic == np.frombuffer(_MAGIC, np.uint8), axis=1)
    raw = np.all(magic == np.frombuffer(_MAGIC_RAW, np.uint8), axis=1)
    n = (joined[start[:, None] + 19 + np.arange(4)].astype(np.int64) << (8 * np.arange(4))).sum(1)
    pos = start + 3 + _HEAD.size
    for _ in range(3):
        if (pos + 2 > start + size).any():
            raise CorruptDataError("stored label index does not decode: strings run past the end")
        pos = pos + 2 + u16(pos)
    body = start + size - pos
    if not (zst | raw).all() or (raw & (body != 24 * n)).any() or (body < 0).any():
        raise CorruptDataError("stored label index does not decode: bad magic or short columns")
    lens[idx], strs_end[idx] = n, pos
    # every index's [blocks | svs | counts] bytes, in index order: raw ones gathered
    nbytes = 24 * n
    cols = np.empty(int(nbytes.sum()), np.uint8)
    dest = np.cumsum(nbytes) - nbytes
    r = np.flatnonzero(raw)
    if len(r):  # gathered 8 bytes at a time (columns are u64 words; dest is a multiple of 24)
        rw = 3 * n[r]
        within = np.arange(int(rw.sum())) - np.repeat(np.cumsum(rw) - rw, rw)
        words = np.lib.stride_tricks.sliding_window_view(joined, 8)
        src = np.repeat(pos[r], rw) + 8 * within
        cols.reshape(-1, 8)[np.repeat(dest[r] // 8, rw) + within] = words[src]
    for j in np.flatnonzero(zst).tolist():
        try:
            got = zstandard.ZstdDecompressor().decompress(
                joined[int(pos[j]) : int(start[j] + size[j])].tobytes(),
                max_output_size=int(nbytes[j]),
            )
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"stored label index does not decode: {exc}") from None
        if len(got) != nbytes[j]:
            raise CorruptDataError("stored label index does not decode: short columns")
        cols[int(dest[j]) : int(dest[j] + nbytes[j])] = np.frombuffer(got, np.uint8)
    arr = cols.view("<u8").astype(np.uint64)
    blk_at, sv_at, cnt_at = _column_positions(lens)
    return IndexColumns(
        lens, arr[blk_at], arr[sv_at], arr[cnt_at], everything, np.where(present, at, -1), strs_end
    )


def _column_positions(lens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where row j of index i sits in the joined ``[blocks | svs | counts]`` of every index."""
    total = int(lens.sum())
    seg = np.cumsum(3 * lens) - 3 * lens  # each index's first value
    start = np.cumsum(lens) - lens  # each index's first row
    per_row = np.repeat(lens, lens)
    blk_at = np.repeat(seg - start, lens) + np.arange(total)
    return blk_at, blk_at + per_row, blk_at + 2 * per_row


def encode_many(
    labels: np.ndarray,
    lens: np.ndarray,
    blocks: np.ndarray,
    svs: np.ndarray,
    counts: np.ndarray,
    heads: Sequence[tuple[bytes, bytes] | None],
) -> list[bytes]:
    """The stored form of many indexes (as :meth:`LabelIndex.encode`), rows given as columns.

    ``lens[i]`` rows of index ``i`` (label ``labels[i]``) in row order; ``heads[i]`` from
    :func:`decode_many` keeps its last mutation id and strings, None starts them empty.
    """
    lens = np.asarray(lens, np.int64)
    joined = np.empty(3 * int(lens.sum()), "<u8")
    blk_at, sv_at, cnt_at = _column_positions(lens)
    joined[blk_at], joined[sv_at], joined[cnt_at] = blocks, svs, counts
    data = joined.view(np.uint8).data
    ends = (np.cumsum(3 * lens) * 8).tolist()
    out = []
    lo = 0
    empty_strs = b"\x00" * 6
    for label, n, hi, head in zip(labels.tolist(), lens.tolist(), ends, heads, strict=True):
        if head is None:
            head = (struct.pack("<QQ", label, 0), empty_strs)
        cols = data[lo:hi]
        lo = hi
        if n > _RAW_ROWS:
            body = zstandard.ZstdCompressor(level=1).compress(cols)
            out.append(b"".join((_MAGIC, head[0], n.to_bytes(4, "little"), head[1], body)))
        else:
            out.append(b"".join((_MAGIC_RAW, head[0], n.to_bytes(4, "little"), head[1], cols)))
    return out


def sort_rows(
    blocks: np.ndarray, svs: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (block, supervoxel), duplicates summed, zero counts dropped."""
    if not len(blocks):
        return _empty(), _empty(), _empty()
    order = np.lexsort((svs, blocks))
    b, s, c = blocks[order], svs[order], counts[order]
    new = np.ones(len(b), bool)
    new[1:] = (b[1:] != b[:-1]) | (s[1:] != s[:-1])
    if not new.all():
        starts = np.flatnonzero(new)
        c = np.add.reduceat(c, starts).astype(np.uint64)
        b, s = b[starts], s[starts]
    keep = c > 0
    return b[keep], s[keep], c[keep]


__all__ = [
    "IndexColumns",
    "LabelIndex",
    "decode_block_ids",
    "decode_many",
    "encode_block_ids",
    "encode_many",
    "sort_rows",
]
