"""Block keys and the generic block-volume engine shared by uint8blk and labelmap.

Block type key (14 bytes, ARCHITECTURE.md "Key layout")::

    class (u8) | scale (u8) | z | y | x        each int32, sign bit flipped, big-endian

so byte order is numeric order and the blocks of one (scale, z, y) row are
adjacent: a subvolume read is one range scan per row of blocks.

:class:`BlockVolume` reads a :class:`~dvidctl.geometry.Box` at a node and scale
into one preallocated ZYX array. It fetches a slab of block rows through one
consistent view (:meth:`~dvidctl.store.versioned.VersionedStore.scan_ranges`),
then decodes the slab on a small thread pool (:mod:`dvidctl.datatypes.parallel`;
zstd releases the GIL, RocksDB calls do not, so fetching and decoding are kept
apart): a block is decoded straight into its place when that place is contiguous
in the output, otherwise only the tiles it needs are decoded into a per-thread
buffer and copied in. Writes encode whole blocks directly from the caller's array
and read-modify-write partial ones; the caller supplies one
:class:`~dvidctl.store.versioned.VersionedBatch` so a write is atomic.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.codec import BlockCodec, decode_into, decode_region, scratch
from dvidctl.datatypes.parallel import parallel_map, set_threads
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box, check_voxel_budget, iter_block_coords
from dvidctl.store.engine import prefix_end
from dvidctl.store.keys import HDR_VALUE
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance

TKEY_LEN = 14
_OFFSET = 1 << 31
_PACK = struct.Struct(">BBIII").pack
_SIGN = np.uint32(0x80000000)
_TKEY_DTYPE = np.dtype([("c", "u1"), ("s", "u1"), ("z", ">u4"), ("y", ">u4"), ("x", ">u4")])
Coord = tuple[int, int, int]
_STORED_PREFIX = bytes([HDR_VALUE])
_PARALLEL_BLOCKS = 2  # reads of this many blocks or more decode on the thread pool
_SLAB_BLOCKS = 512  # blocks fetched before they are decoded (bounds the bytes held)

# ------------------------------------------------------------------------- keys


def _check_scale(scale: int) -> None:
    if not 0 <= scale <= 255:
        raise BadRequestError(f"scale must be 0..255, got {scale}")


def block_tkey(key_class: int, scale: int, z: int, y: int, x: int) -> bytes:
    """The type key of block ``(z, y, x)`` at ``scale``."""
    _check_scale(scale)
    try:
        return _PACK(key_class, scale, z + _OFFSET, y + _OFFSET, x + _OFFSET)
    except struct.error:
        raise BadRequestError(
            f"block coordinate {(x, y, z)} (XYZ) is outside the 32-bit range"
        ) from None


def block_tkeys(key_class: int, scale: int, coords_zyx: np.ndarray) -> list[bytes]:
    """Type keys of many blocks at once; ``coords_zyx`` is an ``(n, 3)`` integer array."""
    _check_scale(scale)
    c = np.asarray(coords_zyx, dtype=np.int64).reshape(-1, 3)
    if c.size and (c.min() < INT32_MIN or c.max() > INT32_MAX):
        raise BadRequestError("block coordinate outside the 32-bit range")
    rec = np.empty(len(c), _TKEY_DTYPE)
    rec["c"], rec["s"] = key_class, scale
    flipped = c.astype(np.uint32) ^ _SIGN  # int32 two's complement, sign bit flipped
    rec["z"], rec["y"], rec["x"] = flipped[:, 0], flipped[:, 1], flipped[:, 2]
    raw = rec.tobytes()
    return [raw[i : i + TKEY_LEN] for i in range(0, len(raw), TKEY_LEN)]


def decode_block_tkeys(tkeys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`block_tkeys`: ``(scales (n,), coords_zyx (n, 3) int32)``."""
    if any(len(t) != TKEY_LEN for t in tkeys):
        raise BadRequestError(f"block type keys are {TKEY_LEN} bytes")
    rec = np.frombuffer(b"".join(tkeys), _TKEY_DTYPE)
    coords = np.stack([rec["z"], rec["y"], rec["x"]], axis=1) ^ _SIGN
    return rec["s"].astype(np.int64), coords.astype(np.uint32).view(np.int32)


def decode_block_tkey(tkey: bytes) -> tuple[int, Coord]:
    """``(scale, (z, y, x))`` of one block type key."""
    scales, coords = decode_block_tkeys([tkey])
    z, y, x = (int(v) for v in coords[0])
    return int(scales[0]), (z, y, x)


def scale_range(key_class: int, scale: int) -> tuple[bytes, bytes | None]:
    """Scan bounds ``[start, stop)`` covering every block of one scale."""
    _check_scale(scale)
    start = bytes([key_class, scale])
    return start, prefix_end(start)


def describe_block_tkey(tkey: bytes) -> str:
    """Readable form, e.g. ``block s0 (x,y,z)=(1,2,-3)``."""
    if len(tkey) != TKEY_LEN:
        return tkey.hex()
    s, (z, y, x) = decode_block_tkey(tkey)
    return f"block s{s} (x,y,z)=({x},{y},{z})"


# ---------------------------------------------------------------------- engine


@dataclass(frozen=True)
class BlockSpec:
    """What the engine needs to know about an instance's blocks."""

    key_class: int
    block_shape: Coord  # ZYX
    dtype: np.dtype
    background: int
    codec: BlockCodec

    @property
    def block_nbytes(self) -> int:
        """Bytes of one decoded block."""
        z, y, x = self.block_shape
        return z * y * x * self.dtype.itemsize


def block_overlap(coord: Coord, bs: Coord, box: Box) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices of the block's overlap with ``box``: ``(in the box array, in the block)``."""
    dst, src = [], []
    for c, b, lo, hi in zip(coord, bs, box.start, box.stop, strict=True):
        b0 = c * b
        s, e = max(b0, lo), min(b0 + b, hi)
        dst.append(slice(s - lo, e - lo))
        src.append(slice(s - b0, e - b0))
    return tuple(dst), tuple(src)


class BlockVolume:
    """Block reads and writes of one instance at its node, for one :class:`BlockSpec`."""

    def __init__(self, inst: Instance, spec: BlockSpec) -> None:
        self.inst = inst
        self.spec = spec

    # ------------------------------------------------------------------ scans
    def _row_range(self, scale: int, z: int, y: int, x0: int, x1: int) -> tuple[bytes, bytes]:
        cls = self.spec.key_class
        start = block_tkey(cls, scale, z, y, x0)
        stop = block_tkey(cls, scale, z, y, x1) if x1 <= INT32_MAX else prefix_end(start[:10])
        return start, stop  # type: ignore[return-value]

    def scan_rows(
        self, scale: int, rows: Sequence[tuple[int, int, int, int]]
    ) -> list[list[tuple[int, bytes]]]:
        """Stored payloads of the blocks ``(z, y, x0 <= x < x1)`` of each row.

        One consistent view for all rows; per row a list of ``(x, payload)`` in x
        order (tombstoned and missing blocks are absent). A payload is the stored
        value with its header byte: use ``memoryview(v)[1:]``.
        """
        ranges = [self._row_range(scale, z, y, x0, x1) for z, y, x0, x1 in rows]
        got = self.inst.node.repo.store.scan_ranges(self.inst.vid, self.inst.iid, ranges)
        return [
            [(int.from_bytes(tk[10:14], "big") - _OFFSET, v) for tk, v in row if v[0] == HDR_VALUE]
            for row in got
        ]

    def scan_row(
        self, scale: int, z: int, y: int, x0: int, x1: int
    ) -> Iterator[tuple[int, memoryview]]:
        """Yield ``(x, payload)`` for the stored blocks ``(z, y, x0 <= x < x1)``."""
        for x, stored in self.scan_rows(scale, [(z, y, x0, x1)])[0]:
            yield x, memoryview(stored)[1:]

    def payloads(self, scale: int, coords: np.ndarray) -> dict[Coord, memoryview]:
        """Stored payloads of the given blocks (missing ones are absent from the dict)."""
        rows: dict[tuple[int, int], list[int]] = {}
        for z, y, x in np.asarray(coords, dtype=np.int64).reshape(-1, 3).tolist():
            rows.setdefault((z, y), []).append(x)
        keys = list(rows)
        got = self.scan_rows(scale, [(z, y, min(rows[z, y]), max(rows[z, y]) + 1) for z, y in keys])
        found: dict[Coord, memoryview] = {}
        for (z, y), row in zip(keys, got, strict=True):
            want = set(rows[z, y])
            for x, stored in row:
                if x in want:
                    found[(z, y, x)] = memoryview(stored)[1:]
        return found

    def block_coords(self, scale: int) -> np.ndarray:
        """Every stored block coordinate at ``scale`` (``(n, 3)`` int32, ZYX order)."""
        start, stop = scale_range(self.spec.key_class, scale)
        tkeys = [tk for tk, _ in self.inst._scan(start, stop)]
        if not tkeys:
            return np.zeros((0, 3), np.int32)
        return decode_block_tkeys(tkeys)[1]

    # ------------------------------------------------------------------ reads
    def read(
        self, box: Box, scale: int, out: np.ndarray | None = None, *, skip: Box | None = None
    ) -> np.ndarray:
        """Read ``box`` at ``scale`` into a ZYX array; unstored voxels are the background.

        Args:
            box: Voxels to read, in the voxel space of ``scale``.
            scale: Pyramid level.
            out: Optional destination of shape ``box.shape`` and the instance dtype.
            skip: Blocks entirely inside this box are left untouched in ``out``
                (the caller fills them), e.g. when pasting new data over old.
        """
        spec = self.spec
        if out is None:
            check_voxel_budget(box.nvoxels, spec.dtype.itemsize)
            out = np.empty(box.shape, spec.dtype)
        elif out.shape != box.shape or out.dtype != spec.dtype:
            raise BadRequestError(
                f"out has shape {out.shape} {out.dtype}, need {box.shape} {spec.dtype}"
            )
        if box.is_empty:
            return out
        bs = spec.block_shape
        (bz0, by0, bx0), (bz1, by1, bx1) = box.block_range(bs)
        skip_lo = skip_hi = None
        if skip is not None:
            skip_lo = [-(-a // b) for a, b in zip(skip.start, bs, strict=True)]
            skip_hi = [a // b for a, b in zip(skip.stop, bs, strict=True)]

        def keep(c: Coord) -> bool:
            if skip_lo is None or skip_hi is None:
                return True
            return not all(skip_lo[i] <= c[i] < skip_hi[i] for i in range(3))

        def decode(item: tuple[Coord, bytes]) -> None:
            dst_sl, src_sl = block_overlap(item[0], bs, box)
            payload = memoryview(item[1])[1:]
            dst = out[dst_sl]
            if dst.shape == bs and dst.flags.c_contiguous:
                decode_into(payload, dst)
            else:
                decode_region(payload, bs, src_sl, dst)

        # Fetch a slab of rows, then decode it on the pool: RocksDB calls hold the
        # GIL, so interleaving them block by block with decoding only makes the
        # decoding threads wait. Slabs bound the compressed bytes held at once.
        rows = [(z, y) for z in range(bz0, bz1) for y in range(by0, by1)]
        per = max(1, _SLAB_BLOCKS // (bx1 - bx0))
        missing: list[Coord] = []
        for i in range(0, len(rows), per):
            slab = rows[i : i + per]
            got = self.scan_rows(scale, [(z, y, bx0, bx1) for z, y in slab])
            items: list[tuple[Coord, bytes]] = []
            for (z, y), row in zip(slab, got, strict=True):
                x_expect = bx0
                for x, stored in row:
                    missing.extend((z, y, xm) for xm in range(x_expect, x))
                    x_expect = x + 1
                    if keep((z, y, x)):
                        items.append(((z, y, x), stored))
                missing.extend((z, y, xm) for xm in range(x_expect, bx1))
            parallel_map(decode, items, min_items=_PARALLEL_BLOCKS)
        bg = spec.dtype.type(spec.background)
        for c in missing:
            if keep(c):
                out[block_overlap(c, bs, box)[0]] = bg
        return out

    def values_at(self, scale: int, points_zyx: np.ndarray) -> np.ndarray:
        """Voxel values at integer ZYX points ``(n, 3)``, background where unstored."""
        pts = np.asarray(points_zyx, dtype=np.int64).reshape(-1, 3)
        out = np.full(len(pts), self.spec.background, self.spec.dtype)
        if not len(pts):
            return out
        bs = np.asarray(self.spec.block_shape)
        bcoords = pts // bs
        uniq, inverse = np.unique(bcoords, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        found = self.payloads(scale, uniq)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        for i, c in enumerate(uniq.tolist()):
            payload = found.get((c[0], c[1], c[2]))
            if payload is None:
                continue
            block = decode_into(payload, scratch(self.spec.block_shape, self.spec.dtype))
            sel = order[bounds[i] : bounds[i + 1]]
            local = pts[sel] - bs * np.asarray(c)
            out[sel] = block[local[:, 0], local[:, 1], local[:, 2]]
        return out

    # ----------------------------------------------------------------- writes
    def write(
        self,
        array: np.ndarray,
        box: Box,
        scale: int,
        batch: VersionedBatch,
        *,
        track_max: bool = False,
    ) -> int | None:
        """Queue the blocks covering ``box`` with ``array``'s voxels pasted in.

        Whole blocks are encoded straight from ``array``; blocks only partly
        covered are read at this node, patched and re-encoded. Nothing is written
        until the caller commits ``batch``.

        Returns:
            The largest voxel value of the written blocks when ``track_max``, else None.
        """
        spec = self.spec
        bs = spec.block_shape
        if box.is_empty:
            return None
        bstart, bstop = box.block_range(bs)
        coords = iter_block_coords(bstart, bstop)
        lo = coords.astype(np.int64) * np.asarray(bs)
        full = np.all(
            (lo >= np.asarray(box.start)) & (lo + np.asarray(bs) <= np.asarray(box.stop)), axis=1
        )
        old = self.payloads(scale, coords[~full]) if not full.all() else {}
        items: list[tuple[Coord, bool]] = [
            ((int(c[0]), int(c[1]), int(c[2])), bool(f))
            for c, f in zip(coords.tolist(), full, strict=True)
        ]
        bg = spec.dtype.type(spec.background)
        codec = spec.codec

        def encode(item: tuple[Coord, bool]) -> tuple[bytes, int | None]:
            coord, whole = item
            dst_sl, src_sl = block_overlap(coord, bs, box)
            src = array[dst_sl]
            if whole:
                block = src  # codecs copy non-contiguous views tile by tile
            else:
                block = scratch(bs, spec.dtype, "rmw")
                prev = old.get(coord)
                if prev is None:
                    block.fill(bg)
                else:
                    decode_into(prev, block)
                block[src_sl] = src
            stored = codec.encode(block, _STORED_PREFIX)  # header byte + payload, one copy
            return stored, (int(src.max()) if track_max and src.size else None)

        results = parallel_map(encode, items, min_items=2)
        for tk, (payload, _) in zip(
            block_tkeys(spec.key_class, scale, coords), results, strict=True
        ):
            batch.put_stored(self.inst.iid, tk, payload)
        if not track_max:
            return None
        return max((m for _, m in results if m is not None), default=None)

    def delete_blocks(self, scale: int, coords: np.ndarray, batch: VersionedBatch) -> None:
        """Queue the deletion of the given blocks."""
        for tk in block_tkeys(self.spec.key_class, scale, coords):
            batch.delete(self.inst.iid, tk)


__all__ = [  # the pool helpers are re-exported for callers that import them from here
    "BlockSpec",
    "BlockVolume",
    "block_tkey",
    "block_tkeys",
    "decode_block_tkey",
    "decode_block_tkeys",
    "describe_block_tkey",
    "parallel_map",
    "scale_range",
    "set_threads",
]
