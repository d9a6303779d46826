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
its supervoxels is full) without decoding a frame. The sets come from the runs of
each tile's contiguous buffer, which the encoder makes anyway (no sort of the
block, :func:`tile_labels`); noise (not label data) is written as codec id 4.
Same voxels give the same bytes (the writer and sync compare payloads).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.imageblk.zstdbody import TILE_HEAD
from dvidctl.errors import CorruptDataError

Buffer = bytes | bytearray | memoryview
_BOOL = np.dtype(bool)
#: Payload id bytes of tiled zstd blocks without and with label sets (:mod:`.codec`).
ZSTD_TILED, ZSTD_TILED_LABELS = 4, 5
_HEAD = struct.Struct("<IB")  # k, w
_WIDTHS: dict[int, np.dtype] = {b: np.dtype(f"<u{b}") for b in (1, 2, 4, 8)}
#: A tile with more voxels unlike the slice above than this fraction of its voxels
#: is not label data: the block is stored without label sets (codec id 4).
MAX_RUN_FRACTION = 4


def tile_labels(tile: np.ndarray) -> np.ndarray | None:
    """The sorted labels of one C-contiguous ``(z, y, x)`` tile; None when it is not label data.

    Every label has a first voxel in scan order, where it differs from the voxel before
    it, the row above and the slice above (all earlier). So only the first slice's runs
    and the voxels that differ from the slice above (one comparison pass: segmentation
    changes little along z) are looked at, and of those the ones that also differ from
    the voxel before and the row above are sorted. More voxels unlike the slice above
    than a quarter of the tile (noise): None.
    """
    nz, ny, nx = tile.shape
    flat = tile.reshape(-1)
    s = ny * nx
    first = flat[:s]
    got = [first[:1], first[1:][first[1:] != first[:-1]]]
    if nz > 1:  # one pass over the tile; the other two tests on its few candidates
        new = scratch((flat.size - s,), _BOOL, "tile-labels")
        np.not_equal(flat[s:], flat[:-s], out=new)
        if int(np.count_nonzero(new)) * MAX_RUN_FRACTION > flat.size:
            return None
        idx = np.flatnonzero(new) + s
        v = flat[idx]
        keep = v != flat[idx - 1]
        keep &= v != flat[idx - nx]
        got.append(v[keep])
    return _sorted_set(np.concatenate(got))


def _sorted_set(vals: np.ndarray) -> np.ndarray:
    """``np.unique(vals)`` by a sort (numpy's own hash path costs ~5x more on these)."""
    vals = np.sort(vals)
    keep = np.empty(len(vals), bool)
    keep[:1] = True
    np.not_equal(vals[1:], vals[:-1], out=keep[1:])
    return vals[keep]


def encode_section(sets: list[np.ndarray]) -> bytes:
    """``u32 m`` and the label section of tiles whose sorted label sets are ``sets``."""
    every = np.concatenate(sets)
    table = _sorted_set(every)
    k = len(table)
    gaps = np.diff(table)
    top = int(gaps.max()) if k > 1 else 0
    w = next(b for b in (1, 2, 4, 8) if top < 1 << (8 * b))
    member = np.zeros((len(sets), k), bool)
    tiles = np.repeat(np.arange(len(sets)), [len(x) for x in sets])
    member[tiles, np.searchsorted(table, every)] = True
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
    "MAX_RUN_FRACTION",
    "TileLabels",
    "ZSTD_TILED",
    "ZSTD_TILED_LABELS",
    "block_tile_labels",
    "encode_section",
    "parse_body",
    "split_body",
    "tiled_body",
    "tile_labels",
]
