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
from dataclasses import dataclass, field, replace

import numpy as np
import zstandard

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
        return np.unique(self.svs)

    def supervoxel_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(supervoxels ascending, voxel counts)``."""
        u, inv = np.unique(self.svs, return_inverse=True)
        return u, np.bincount(inv.reshape(-1), self.counts, len(u)).astype(np.uint64)

    def block_ids(self, sv: int | None = None) -> np.ndarray:
        """Block ids holding the body (or only supervoxel ``sv``), ascending."""
        b = self.blocks if sv is None else self.blocks[self.svs == np.uint64(sv)]
        return np.unique(b)

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


__all__ = ["LabelIndex", "decode_block_ids", "encode_block_ids", "sort_rows"]
