"""The block-volume engine shared by uint8blk and labelmap (keys: :mod:`.blockkeys`).

:class:`BlockVolume` reads a :class:`~dvidctl.geometry.Box` at a node and scale
into one preallocated ZYX array. It fetches a slab of blocks (16 MiB of stored
bytes) from one consistent view for the whole read
(:meth:`~dvidctl.store.versioned.VersionedStore.iter_payload_ranges`), then
decodes the slab on a small thread pool (:mod:`dvidctl.datatypes.imageblk.parallel`;
zstd releases the GIL, RocksDB calls do not, so fetching and decoding are kept
apart): a block is decoded straight into its place when that place is contiguous
in the output, otherwise only the tiles it needs are decoded into a per-thread
buffer and copied in. Writes encode whole blocks directly from the caller's array
and read-modify-write partial ones, a part at a time in key order; the caller
supplies one :class:`~dvidctl.store.versioned.VersionedBatch` (a streaming one
passes each part on to the engine) so a write is atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import (
    OFFSET,
    TKEY_LEN,
    Coord,
    block_tkey,
    block_tkeys,
    decode_block_tkey,
    decode_block_tkeys,
    describe_block_tkey,
    scale_range,
)
from dvidctl.datatypes.imageblk.codec import (
    BlockCodec,
    ZstdCodec,
    decode_into,
    decode_region,
    scratch,
)
from dvidctl.datatypes.imageblk.parallel import parallel_map, set_threads, threads
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, Box, check_voxel_budget, iter_block_coords
from dvidctl.store.engine import prefix_end
from dvidctl.store.versioned import VALUE_PREFIX, VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance

_PARALLEL_BLOCKS = 2  # reads of this many blocks or more decode on the thread pool
#: A read fetches blocks until it holds this many stored bytes (or _SLAB_BLOCKS
#: blocks), then decodes them: what it holds besides its output. By bytes, since
#: random uint64 64^3 blocks are 2 MiB each (512 of them were 1 GiB) and label
#: blocks ~20 KB.
_SLAB_BYTES = 16 << 20
_SLAB_BLOCKS = 512
#: Long rows are fetched in runs of blocks of at most this many raw bytes, so that
#: one row never holds much more than a slab.
_RUN_BYTES = _SLAB_BYTES
#: A write encodes its blocks a part at a time and hands each part to its batch
#: before the next (a streaming batch passes them on to the engine). A part aims
#: at this many encoded bytes: the first is sized as if blocks did not compress,
#: the next from what the last one encoded to, growing at most twofold and to at
#: most _PART_RAW_BYTES of raw voxels (compressible labels: 32 blocks of 64^3).
#: Small parts of compressible blocks would make the encoding threads wait on
#: each other more than they work.
_ENCODE_BYTES = 8 << 20
_PART_RAW_BYTES = 64 << 20

# ---------------------------------------------------------------------- engine

#: ``observe(coord ZYX, new voxels, old stored payload or None, new stored value,
#: tile)`` -> the value to store (the new one, or with label sets by tiles of ``tile``
#: when > 0: codec id 5), called on the encoding threads; see BlockVolume.write.
BlockObserver = Callable[[Coord, np.ndarray, "memoryview | None", bytes, int], bytes]


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
        self,
        scale: int,
        rows: Sequence[tuple[int, int, int, int]],
        through: VersionedBatch | None = None,
    ) -> list[list[tuple[int, memoryview]]]:
        """Stored payloads of the blocks ``(z, y, x0 <= x < x1)`` of each row.

        One consistent view for all rows; per row a list of ``(x, payload)`` in x
        order (deleted and missing blocks are absent). With ``through``, the
        blocks that batch writes read as it will write them.
        """
        return list(self.iter_rows(scale, rows, through))

    def iter_rows(
        self,
        scale: int,
        rows: Sequence[tuple[int, int, int, int]],
        through: VersionedBatch | None = None,
    ) -> Iterator[list[tuple[int, memoryview]]]:
        """:meth:`scan_rows` one row at a time (one consistent view as of the call).

        Every block read of the instance comes through here: in a partial clone
        (:mod:`dvidctl.store.held`) rows outside what it holds are refused first.
        """
        held = self.inst.held_region
        if held is not None:
            held.check_rows(self.inst.name, scale, self.spec.block_shape, rows)
        ranges = [self._row_range(scale, z, y, x0, x1) for z, y, x0, x1 in rows]
        got = self.inst.node.store.iter_payload_ranges(
            self.inst.vid, self.inst.iid, ranges, through=through
        )
        return ([(int.from_bytes(tk[10:14], "big") - OFFSET, v) for tk, v in row] for row in got)

    def scan_row(
        self, scale: int, z: int, y: int, x0: int, x1: int
    ) -> Iterator[tuple[int, memoryview]]:
        """Yield ``(x, payload)`` for the stored blocks ``(z, y, x0 <= x < x1)``."""
        yield from self.scan_rows(scale, [(z, y, x0, x1)])[0]

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
            for x, payload in row:
                if x in want:
                    found[(z, y, x)] = payload
        return found

    def block_coords(self, scale: int, through: VersionedBatch | None = None) -> np.ndarray:
        """Every stored block coordinate at ``scale`` (``(n, 3)`` int32, ZYX order).

        With ``through``, as that batch will leave them: at a merge node, blocks the
        sides hold differently are listed as the batch resolves them.
        """
        held = self.inst.held_region
        if held is not None:  # the blocks outside the selection are not known here
            raise held.outside(self.inst.name, scale, self.spec.block_shape)
        start, stop = scale_range(self.spec.key_class, scale)
        if through is None:
            tkeys = [tk for tk, _ in self.inst._scan(start, stop)]
        else:
            store, inst = self.inst.node.store, self.inst
            end = stop if stop is not None else prefix_end(start[:1]) or b"\xff" * TKEY_LEN
            (row,) = store.iter_payload_ranges(inst.vid, inst.iid, [(start, end)], through=through)
            tkeys = [tk for tk, _ in row]
        if not tkeys:
            return np.zeros((0, 3), np.int32)
        return decode_block_tkeys(tkeys)[1]

    # ------------------------------------------------------------------ reads
    def read(
        self,
        box: Box,
        scale: int,
        out: np.ndarray | None = None,
        *,
        skip: Box | None = None,
        through: VersionedBatch | None = None,
    ) -> np.ndarray:
        """Read ``box`` at ``scale`` into a ZYX array; unstored voxels are the background.

        Args:
            box: Voxels to read, in the voxel space of ``scale``.
            scale: Pyramid level.
            out: Optional destination of shape ``box.shape`` and the instance dtype.
            skip: Blocks entirely inside this box are left untouched in ``out``
                (the caller fills them), e.g. when pasting new data over old.
            through: Read the blocks this (uncommitted) batch writes as it will
                write them (see ``VersionedStore.payload_ranges``).
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

        def decode(item: tuple[Coord, memoryview]) -> None:
            dst_sl, src_sl = block_overlap(item[0], bs, box)
            payload = item[1]
            dst = out[dst_sl]
            if dst.shape == bs and dst.flags.c_contiguous:
                decode_into(payload, dst)
            else:
                decode_region(payload, bs, src_sl, dst)

        # Fetch a slab of blocks, then decode it on the pool: RocksDB calls hold the
        # GIL, so interleaving them block by block with decoding only makes the
        # decoding threads wait. Slabs bound the stored bytes held at once; one
        # view (cursor) serves the whole read.
        run = max(1, _RUN_BYTES // spec.block_nbytes)
        runs = [
            (z, y, x, min(x + run, bx1))
            for z in range(bz0, bz1)
            for y in range(by0, by1)
            for x in range(bx0, bx1, run)
        ]
        missing: list[Coord] = []
        items: list[tuple[Coord, memoryview]] = []
        held = 0
        for (z, y, x0, x1), row in zip(runs, self.iter_rows(scale, runs, through), strict=True):
            x_expect = x0
            for x, stored in row:
                missing.extend((z, y, xm) for xm in range(x_expect, x))
                x_expect = x + 1
                if keep((z, y, x)):
                    items.append(((z, y, x), stored))
                    held += len(stored)
            missing.extend((z, y, xm) for xm in range(x_expect, x1))
            if held >= _SLAB_BYTES or len(items) >= _SLAB_BLOCKS:
                parallel_map(decode, items, min_items=_PARALLEL_BLOCKS)
                items, held = [], 0
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
        observe: BlockObserver | None = None,
    ) -> int | None:
        """Queue the blocks covering ``box`` with ``array``'s voxels pasted in.

        Whole blocks are encoded straight from ``array``; blocks only partly
        covered are read at this node, patched and re-encoded. Nothing is written
        until the caller commits ``batch``. ``observe(coord, new block, old stored
        payload or None, new stored value, tile)`` is called for every block on the
        encoding threads (labelmap's index upkeep) and returns the value to store: the
        new one, the old one (same voxels), or the new one with label sets (codec 5).

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
        tkeys = block_tkeys(spec.key_class, scale, coords)
        # A part at a time, in key order: encoded blocks are held one part at a time.
        least = 2 * threads()
        most = max(least, _PART_RAW_BYTES // spec.block_nbytes)
        per = max(least, _ENCODE_BYTES // spec.block_nbytes)
        top: int | None = None
        i = 0
        while i < len(coords):
            part = slice(i, i + per)
            got = self._encode_part(array, box, scale, coords[part], full[part], track_max, observe)
            encoded = 0
            for tk, (stored, m) in zip(tkeys[part], got, strict=True):
                batch.put_prefixed(self.inst.iid, tk, stored)
                encoded += len(stored)
                if m is not None and (top is None or m > top):
                    top = m
            i += len(got)
            fits = _ENCODE_BYTES * len(got) // max(1, encoded)
            per = max(least, min(most, 2 * per, fits))
        return top

    def _encode_part(
        self,
        array: np.ndarray,
        box: Box,
        scale: int,
        coords: np.ndarray,
        full: np.ndarray,
        track_max: bool,
        observe: BlockObserver | None = None,
    ) -> list[tuple[bytes, int | None]]:
        """Encode the blocks ``coords`` of a write (partial ones read-modify-written)."""
        spec = self.spec
        bs = spec.block_shape
        if observe is not None:
            old = self.payloads(scale, coords)
        else:
            old = self.payloads(scale, coords[~full]) if not full.all() else {}
        items: list[tuple[Coord, bool]] = [
            ((int(c[0]), int(c[1]), int(c[2])), bool(f))
            for c, f in zip(coords.tolist(), full, strict=True)
        ]
        bg = spec.dtype.type(spec.background)
        codec = spec.codec
        tile = codec.label_tile(bs, spec.dtype) if isinstance(codec, ZstdCodec) else 0

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
            stored = codec.encode(block, VALUE_PREFIX)  # the store's prefix + payload, one copy
            if observe is not None:
                stored = observe(coord, block, old.get(coord), stored, tile)
            return stored, (int(src.max()) if track_max and src.size else None)

        return parallel_map(encode, items, min_items=2)

    def delete_blocks(self, scale: int, coords: np.ndarray, batch: VersionedBatch) -> None:
        """Queue the deletion of the given blocks."""
        for tk in block_tkeys(self.spec.key_class, scale, coords):
            batch.delete(self.inst.iid, tk)


__all__ = [  # key helpers and pool helpers are re-exported for callers that import them here
    "TKEY_LEN",
    "BlockSpec",
    "BlockVolume",
    "block_overlap",
    "block_tkey",
    "block_tkeys",
    "decode_block_tkey",
    "decode_block_tkeys",
    "describe_block_tkey",
    "parallel_map",
    "scale_range",
    "set_threads",
]
