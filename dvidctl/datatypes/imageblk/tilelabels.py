"""Per-tile label sets of uint64 label blocks stored as zstd tiles (codec id 5).

A label block's payload body (after the id byte) is ``u32 m``, an ``m``-byte
**label section**, then a tiled zstd body exactly as codec id 4 stores it
(:mod:`.zstdbody`). The section says which labels each tile holds:

* ``u32 k`` labels in the block (k >= 1), ``u8 w`` (1, 2, 4 or 8);
* the block's sorted labels: the first as ``u64``, then ``k - 1`` gaps to the
  next one, ``w`` bytes each (the least width that holds the largest gap; > 0);
* per tile (in stored order), ``ceil(k / 8)`` bytes: bit ``j`` (little bit order)
  set when the tile holds label ``j``; every tile holds at least one label
  and every label is in at least one tile.

Readers learn a block's label set (label-index upkeep) and which tiles can hold a
body (sparse volumes: a tile without its supervoxels is not decoded, a tile of only
its supervoxels is full) without decoding a frame. The sets come from the runs that
labelmap's index upkeep counts anyway (:func:`.rowruns.tile_label_counts`), handed to
the writer, which adds them to the block's codec-4 payload (:func:`with_label_sets`):
only writes that make that pass store codec 5, others store codec 4 (noise, not label
data, too). The section is a function
of the voxels: same voxels and the same path give the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard

from dvidctl.datatypes.imageblk.scratch import contiguous
from dvidctl.datatypes.imageblk.zstdbody import TILE_HEAD
from dvidctl.errors import BadRequestError, CorruptDataError

Buffer = bytes | bytearray | memoryview
#: Payload id bytes of one zstd frame, of tiled zstd blocks without and with label sets
#: (:mod:`.codec`).
ZSTD, ZSTD_TILED, ZSTD_TILED_LABELS = 1, 4, 5
#: ``(sorted labels, member[tile, label])``: a block's tile label sets (codec id 5).
TileSets = tuple[np.ndarray, np.ndarray]
_HEAD = struct.Struct("<IB")  # k, w
_WIDTHS: dict[int, np.dtype] = {b: np.dtype(f"<u{b}") for b in (1, 2, 4, 8)}


def encode_tiled(block: np.ndarray, t: int, c: zstandard.ZstdCompressor, prefix: bytes) -> bytes:
    """``prefix`` + the payload of a block as zstd frames of (z, y) tiles of edge ``t``:
    id 4, or one frame (id 1) when that is one tile (or over 65535)."""
    nz, ny, _ = block.shape
    n = -(-nz // t) * -(-ny // t) if t else 1
    if n <= 1 or n > 0xFFFF:
        return b"".join([prefix, bytes([ZSTD]), c.compress(contiguous(block).data)])
    frames = [
        c.compress(contiguous(block[z : z + t, y : y + t]).data)
        for z in range(0, nz, t)
        for y in range(0, ny, t)
    ]
    sizes = np.array([len(f) for f in frames], "<u4").tobytes()
    return b"".join([prefix, bytes([ZSTD_TILED]), TILE_HEAD.pack(t, t, n), sizes, *frames])


def with_label_sets(stored: Buffer, at: int, sets: TileSets) -> bytes:
    """A stored value whose payload (from ``at``) is id 4, as id 5 with the label sets
    ``sets`` (``(labels, member)`` of :func:`.rowruns.tile_label_counts` with the body's
    tile edge): the one way codec-5 payloads are made, so equal sets give equal bytes."""
    mv = memoryview(stored)
    if mv[at] != ZSTD_TILED or len(mv) < at + 1 + TILE_HEAD.size:
        raise BadRequestError("label sets go with a tiled zstd block (codec id 4)")
    n = TILE_HEAD.unpack_from(mv, at + 1)[2]
    if sets[1].shape[0] != n:
        raise BadRequestError(f"label sets of {sets[1].shape[0]} tiles for a block of {n}")
    return b"".join([mv[:at], bytes([ZSTD_TILED_LABELS]), encode_section(*sets), mv[at + 1 :]])


def encode_section(table: np.ndarray, member: np.ndarray) -> bytes:
    """``u32 m`` and the label section of a block whose sorted labels are ``table``,
    ``member[i, j]`` when tile ``i`` holds ``table[j]`` (see :func:`.rowruns.tile_label_counts`)."""
    k = len(table)
    gaps = np.diff(table)
    top = int(gaps.max()) if k > 1 else 0
    w = next(b for b in (1, 2, 4, 8) if top < 1 << (8 * b))
    bits = np.packbits(member, axis=1, bitorder="little")
    section = b"".join(
        [
            _HEAD.pack(k, w),
            table[:1].astype("<u8").tobytes(),
            gaps.astype(_WIDTHS[w]).tobytes(),
            bits.tobytes(),
        ]
    )
    return struct.pack("<I", len(section)) + section


@dataclass(frozen=True)
class TileLabels:
    """A block's label section: ``table`` its sorted labels, ``member[i, j]`` tile ``i``
    holds ``table[j]``; ``tiled`` the tiled zstd body that follows."""

    table: np.ndarray
    member: np.ndarray
    tiled: memoryview

    def tile_labels(self, i: int) -> np.ndarray:
        """The sorted labels of tile ``i``."""
        return self.table[self.member[i]]


def split_body(body: Buffer) -> tuple[memoryview, memoryview]:
    """``(label section, tiled zstd body)`` of a codec-5 body (after the id byte)."""
    mv = memoryview(body)
    if len(mv) < 4:
        raise CorruptDataError("tiled label block is truncated")
    (m,) = struct.unpack_from("<I", mv)
    if len(mv) < 4 + m:
        raise CorruptDataError(f"tiled label block says {m} label bytes, has {len(mv) - 4}")
    return mv[4 : 4 + m], mv[4 + m :]


def parse_body(body: Buffer) -> TileLabels:
    """The label section of a codec-5 body (after the id byte), checked.

    Raises:
        CorruptDataError: A section that does not parse, labels not ascending, a tile
            with no label, set bits past ``k``, or a tile count unlike the tiled body's.
    """
    section, tiled = split_body(body)
    if len(tiled) < TILE_HEAD.size:
        raise CorruptDataError("tiled label block is truncated")
    n = TILE_HEAD.unpack_from(tiled)[2]
    if len(section) < _HEAD.size + 8:
        raise CorruptDataError("tiled label block's label section is truncated")
    k, w = _HEAD.unpack_from(section)
    kind = _WIDTHS.get(w)
    nb = -(-k // 8)
    at = _HEAD.size + 8
    if kind is None or k < 1 or len(section) != at + (k - 1) * w + n * nb:
        raise CorruptDataError(
            f"tiled label block's label section ({len(section)} bytes) does not fit "
            f"{k} labels of {w}-byte gaps in {n} tiles"
        )
    first = np.frombuffer(section, "<u8", 1, _HEAD.size)
    gaps = np.frombuffer(section, kind, k - 1, at).astype(np.uint64)
    if k > 1 and not gaps.all():
        raise CorruptDataError("tiled label block's labels are not ascending")
    table = np.cumsum(np.concatenate([first, gaps]), dtype=np.uint64)
    if k > 1 and not (table[1:] > table[:-1]).all():  # a gap wrapped past 2**64
        raise CorruptDataError("tiled label block's labels are not ascending")
    bits = np.frombuffer(section, np.uint8, n * nb, at + (k - 1) * w).reshape(n, nb)
    member = np.unpackbits(bits, axis=1, bitorder="little").view(bool)
    member, extra = member[:, :k], member[:, k:]
    if extra.any() or not member.any(axis=1).all() or not member.any(axis=0).all():
        raise CorruptDataError("tiled label block's tile label sets are malformed")
    return TileLabels(table, member, tiled)


def tiled_body(payload: Buffer) -> memoryview | None:
    """The tiled zstd body (:mod:`.zstdbody`) of a payload of id 4 or 5, else None."""
    if not len(payload):
        raise CorruptDataError("stored block payload is empty")
    cid = payload[0]
    if cid == ZSTD_TILED:
        return memoryview(payload)[1:]
    if cid == ZSTD_TILED_LABELS:
        return split_body(memoryview(payload)[1:])[1]
    return None


def block_tile_labels(payload: Buffer) -> TileLabels | None:
    """The per-tile label sets of a payload (id byte + body) of id 5 (checked), else None."""
    if len(payload) and payload[0] == ZSTD_TILED_LABELS:
        return parse_body(memoryview(payload)[1:])
    return None


__all__ = [
    "TileLabels",
    "TileSets",
    "ZSTD_TILED",
    "ZSTD_TILED_LABELS",
    "block_tile_labels",
    "encode_section",
    "encode_tiled",
    "parse_body",
    "split_body",
    "tiled_body",
    "with_label_sets",
]
