"""The shared base of the voxel datatypes (uint8blk, labelmap) at one node.

Arrays are numpy ZYX; DVID strings and JSON are XYZ (``offset_xyz``,
``size_wh``, the ``Extended`` info). Every read takes a ``scale`` (0 = full
resolution, up to MaxDownresLevel). A write:

1. validates everything first (dtype, shape, scale, 32-bit range, open node), so
   bad input writes nothing;
2. under the instance lock, encodes the touched blocks (partial blocks are
   read-modify-written), the pyramid blocks above them (levels above the written scale),
   the new extents and type-specific metadata into **one** versioned batch;
   ``put_subvolume``'s batch streams (:mod:`dvidctl.store.batch`): blocks are
   encoded a part at a time, in key order, and handed on to the engine, so a large
   write holds its array and one part of encoded blocks, not all of them;
3. commits the batch atomically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dvidctl.datatypes.base import Instance, compression_label
from dvidctl.datatypes.imageblk import sampling
from dvidctl.datatypes.imageblk.blockkeys import (
    EXTENTS_TKEY,
    TKEY_LEN,
    decode_block_tkey,
    decode_block_tkeys,
)
from dvidctl.datatypes.imageblk.blockvolume import BlockObserver, BlockSpec, BlockVolume
from dvidctl.datatypes.imageblk.checks import check_range, check_scale, check_voxel_array
from dvidctl.datatypes.imageblk.codec import BlockCodec, codec_from_dict
from dvidctl.datatypes.imageblk.config import pack_extents, unpack_extents
from dvidctl.datatypes.imageblk.multiscale import (
    Downsample,
    rebuild_above,
    rebuild_pyramid,
    update_pyramid,
)
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box, check_voxel_budget
from dvidctl.imageio import encode_image
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.store.mergeplan import KeyMerge

ARB_TILE = 128
DEFAULT_TILE_SIZE = 512


class VoxelInstance(Instance):
    """A block-stored voxel volume (subclasses set dtype, key class and downsampling)."""

    dtype: ClassVar[np.dtype] = np.dtype(np.uint8)
    key_class: ClassVar[int] = 23
    interpolable: ClassVar[bool] = True
    value_label: ClassVar[str] = "uint8"

    # ---------------------------------------------------------------- config
    @property
    def block_shape(self) -> tuple[int, int, int]:
        """Block size, ZYX."""
        x, y, z = self.config["block_size"]
        return (int(z), int(y), int(x))

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Voxel size at scale 0, XYZ."""
        x, y, z = self.config["voxel_size"]
        return (float(x), float(y), float(z))

    @property
    def max_downres(self) -> int:
        """Highest pyramid level (DVID's MaxDownresLevel)."""
        return int(self.config.get("max_downres", 0))

    @property
    def background(self) -> int:
        """Value of voxels that were never written."""
        return int(self.config.get("background", 0))

    @cached_property
    def codec(self) -> BlockCodec:
        """The codec new blocks are written with."""
        return codec_from_dict(self.config["codec"])

    @cached_property
    def blocks(self) -> BlockVolume:
        """The block engine bound to this instance and node."""
        spec = BlockSpec(self.key_class, self.block_shape, self.dtype, self.background, self.codec)
        return BlockVolume(self, spec)

    def downsampler(self) -> Downsample:
        """The 2x reduction of this type (overridden by subclasses)."""
        from dvidctl.datatypes.imageblk.downsample import downsample_gray

        return downsample_gray

    def check_scale(self, scale: int) -> int:
        """Return ``scale`` if it is a level of this instance, else BadRequestError."""
        return check_scale(scale, self.max_downres, self.name)

    # ----------------------------------------------------------------- reads
    def get_subvolume(self, box: Box, scale: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Read ``box`` (ZYX, voxel space of ``scale``) as a new ZYX array (or into ``out``)."""
        self.check_scale(scale)
        check_range(box)
        if out is None:
            check_voxel_budget(box.nvoxels, self.dtype.itemsize)
        return self.blocks.read(box, scale, out)

    def get_slice(
        self, plane: str, offset_xyz: Sequence[int], size_wh: Sequence[int], scale: int = 0
    ) -> np.ndarray:
        """An orthogonal 2D image (rows, cols): ``xy`` rows=y, ``xz`` rows=z, ``yz`` rows=z."""
        box = sampling.slice_box(plane, offset_xyz, size_wh)
        return sampling.squeeze_slice(plane, self.get_subvolume(box, scale))

    def get_arb(
        self,
        tl: Sequence[float],
        tr: Sequence[float],
        bl: Sequence[float],
        res: float,
        scale: int = 0,
        *,
        limit_bytes: int | None = None,
    ) -> np.ndarray:
        """DVID's arbitrary plane: pixel centres ``tl``, ``tr``, ``bl`` in real-world XYZ units.

        Grayscale is interpolated trilinearly, labels sampled nearest. The plane is
        sampled in tiles of ``ARB_TILE`` pixels; a tile reads the blocks of its
        bounding box, or only the blocks holding the voxels it samples when its
        pixels lie far apart, whichever decodes fewer. The work is bounded by the
        output: the blocks to decode are counted first, and a plane that would
        decode more than ``limit_bytes`` (default: the memory budget) is refused
        before anything is read.
        """
        self.check_scale(scale)
        itemsize = self.dtype.itemsize
        vs = tuple(v * 2**scale for v in self.voxel_size)
        _check_arb_budget(tl, tr, bl, res, itemsize, limit_bytes)
        plan = sampling.arb_plan(
            tl, tr, bl, res, vs, itemsize=itemsize, limit_bytes=limit_bytes, check_box=False
        )
        tiles = self._arb_tiles(plan)
        nblocks = sum(t.blocks for t in tiles)
        bz, by, bx = self.block_shape
        try:
            check_voxel_budget(nblocks * bz * by * bx, itemsize, limit_bytes)
        except BadRequestError as exc:
            raise BadRequestError(
                f"the arb plane ({plan.width}x{plan.height} pixels) would decode "
                f"{nblocks} blocks: {exc.message}",
                hint="use a coarser resolution (--res), a smaller plane or a higher scale",
            ) from None
        img = np.empty((plan.height, plan.width), self.dtype)
        interp = self.interpolable
        for t in tiles:
            pts = plan.points_zyx[t.rows, t.cols]
            if t.dense:
                vol = self.get_subvolume(t.box, scale)
                sub = sampling.ArbPlan(pts.shape[1], pts.shape[0], pts, t.box)
                img[t.rows, t.cols] = sampling.sample_arb(sub, vol, t.box, interpolate=interp)
            else:

                def fetch(idx: np.ndarray) -> np.ndarray:
                    return self.blocks.values_at(scale, idx)

                img[t.rows, t.cols] = sampling.sample_points(pts, fetch, interp, self.dtype)
        return img

    def _arb_tiles(self, plan: sampling.ArbPlan) -> list[_ArbTile]:
        """Split the plane into tiles and choose how each reads (see :meth:`get_arb`)."""
        bs = np.asarray(self.block_shape)
        per_point = 8 if self.interpolable else 1
        tiles = []
        for r0 in range(0, plan.height, ARB_TILE):
            for c0 in range(0, plan.width, ARB_TILE):
                rows, cols = slice(r0, r0 + ARB_TILE), slice(c0, c0 + ARB_TILE)
                flat = plan.points_zyx[rows, cols].reshape(-1, 3)
                lo, hi = np.floor(flat.min(axis=0)), np.ceil(flat.max(axis=0)) + 1
                box = Box(_ints(lo), _ints(hi))
                nb = np.floor_divide(hi - 1, bs) - np.floor_divide(lo, bs) + 1
                dense_blocks = int(nb[0]) * int(nb[1]) * int(nb[2])
                sparse_blocks = len(flat) * per_point
                dense = dense_blocks <= sparse_blocks
                tiles.append(
                    _ArbTile(rows, cols, box, dense, dense_blocks if dense else sparse_blocks)
                )
        return tiles

    def get_tile(
        self,
        plane: str,
        scale: int,
        tile_coord: Sequence[int],
        fmt: str = "png",
        tile_size: int = DEFAULT_TILE_SIZE,
    ) -> bytes:
        """An imagetile-style 2D tile, encoded (PNG or JPEG), from the stored blocks.

        ``tile_coord`` is DVID's: ``xy`` (tile x, tile y, z slice), ``xz`` (tile x,
        y slice, tile z), ``yz`` (x slice, tile y, tile z), in the voxel space of ``scale``.
        """
        name = sampling.normalize_plane(plane)
        if len(tile_coord) != 3 or tile_size < 1:
            raise BadRequestError("a tile needs a 3-number coordinate and a positive tile size")
        a, b, c = (int(v) for v in tile_coord)
        t = tile_size
        offset = {"xy": (a * t, b * t, c), "xz": (a * t, b, c * t), "yz": (a, b * t, c * t)}[name]
        img = self.get_slice(name, offset, (t, t), scale)
        return encode_image(img, fmt)

    def extents(self) -> Box | None:
        """The box of every voxel written at scale 0 (up to this node), or None."""
        got = self._get(EXTENTS_TKEY)
        return None if got is None else unpack_extents(got)

    # ---------------------------------------------------------------- writes
    def put_subvolume(
        self, array: np.ndarray, offset_zyx: Sequence[int] = (0, 0, 0), scale: int = 0
    ) -> Box:
        """Write a ZYX array with its first voxel at ``offset_zyx`` (voxel space of ``scale``).

        Returns:
            The box written.

        Raises:
            BadRequestError: Wrong dtype or dimensionality, empty array, unknown scale,
                or coordinates outside the 32-bit range. Nothing is written.
            LockedNodeError: The node is committed.
        """
        self.check_scale(scale)
        array = self._check_array(array)
        box = Box.from_shape(array.shape, tuple(int(v) for v in offset_zyx))
        check_range(box)
        self._check_writable()
        # A streaming batch: the blocks (and the pyramid's) leave memory as they are
        # encoded, in key order; nothing here reads through the batch.
        with self.lock, self._batch(stream=True) as batch:
            observer = self._observer(scale)
            stat = self.blocks.write(
                array, box, scale, batch, track_max=self.tracks_max, observe=observer
            )
            # The levels above the written one follow it (a scale-s write updates s+1..max).
            update_pyramid(
                self.blocks,
                batch,
                box,
                array,
                self.max_downres,
                self.downsampler(),
                first_level=scale + 1,
            )
            # The hook's keys (labelmap: label indexes, class 187) go before the metadata
            # (max label, 237): in key order after the blocks (186), so they stream too.
            self._after_blocks(batch, observer)
            if scale == 0:
                self._queue_scale0_meta(batch, box, stat)
            batch.commit()
        return box

    def put_blocks(
        self,
        blocks: Sequence[tuple[tuple[int, int, int], np.ndarray]],
        scale: int = 0,
        *,
        downres: bool = False,
    ) -> Box | None:
        """Write whole blocks ``[(block coord ZYX, ZYX block array), ...]`` in one atomic batch.

        At scale 0 the extents and the type's counters (max label) follow. The
        pyramid above the written blocks is recomputed in the same batch with
        ``downres`` (DVID's ``POST blocks?downres=true``), else left as it is
        (DVID's ingest flow downsamples later, e.g. with :meth:`downres`).

        Returns:
            The box the blocks cover, or None for no blocks.

        Raises:
            BadRequestError: A block of the wrong shape or dtype, an unknown scale,
                ``downres`` above scale 0. Nothing is written.
        """
        self.check_scale(scale)
        if downres and scale != 0:
            raise BadRequestError("downres=true is only valid with scale 0")
        if not blocks:
            return None
        bs = self.block_shape
        boxes = []
        for coord, arr in blocks:
            if arr.shape != bs or arr.dtype != self.dtype:
                raise BadRequestError(
                    f"block at {tuple(coord)[::-1]} is {arr.shape} {arr.dtype}, "
                    f"the instance uses {bs} {self.dtype}"
                )
            lo = (coord[0] * bs[0], coord[1] * bs[1], coord[2] * bs[2])
            box = Box(lo, (lo[0] + bs[0], lo[1] + bs[1], lo[2] + bs[2]))
            check_range(box)
            boxes.append(box)
        self._check_writable()
        union = boxes[0]
        for b in boxes[1:]:
            union = union.union(b)
        with self.lock:
            batch = self._batch()
            top: int | None = None
            observer = self._observer(scale)
            for (_, arr), box in zip(blocks, boxes, strict=True):
                got = self.blocks.write(
                    arr, box, scale, batch, track_max=self.tracks_max, observe=observer
                )
                if got is not None:
                    top = got if top is None else max(top, got)
            if scale == 0:
                self._queue_scale0_meta(batch, union, top)
            if downres and self.max_downres > 0:
                coords = np.asarray([c for c, _ in blocks], dtype=np.int64)
                rebuild_above(self.blocks, batch, coords, self.max_downres, self.downsampler())
            self._after_blocks(batch, observer)
            batch.commit()
        return union

    def rebuild_derived(
        self, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
    ) -> int:
        """Rebuild the pyramid above the scale-0 blocks a merge brought together.

        Every level above a changed scale-0 block is recomputed from scale 0 as the
        merge node sees it (``batch`` holds the merge's resolutions). A pyramid
        block two sides changed without a scale-0 change beneath (direct writes at
        a higher scale) is rebuilt from the scale-0 blocks it covers, or deleted
        when none is stored. Returns the number of blocks queued.
        """
        if self.max_downres == 0:
            return 0
        cls = self.key_class
        mine = [tk for tk in sources if len(tk) == TKEY_LEN and tk[0] == cls]
        seeds = [decode_block_tkeys(mine)[1].astype(np.int64)] if mine else []
        for tk in contested:
            scale, (z, y, x) = decode_block_tkey(tk)
            seeds.append(self._stored_below(scale, (z, y, x), batch))
        before = len(batch)
        for tk in contested:
            # Deleted first (it is read while the levels below are rebuilt), rewritten
            # by the rebuild when scale-0 data lies beneath it.
            batch.delete(self.iid, tk)
        if seeds:
            coords = np.concatenate(seeds)
            rebuild_above(self.blocks, batch, coords, self.max_downres, self.downsampler())
        return len(batch) - before

    def merge_values(
        self,
        tkey: bytes,
        base: memoryview | None,
        values: Sequence[memoryview | None],
        sides: Sequence[int],
        strategy: str,
    ) -> KeyMerge | None:
        """Merge a scale-0 block voxel by voxel (:mod:`.blockmerge`); other keys as a whole."""
        if len(tkey) != TKEY_LEN or tkey[0] != self.key_class or tkey[1] != 0:
            return None
        from dvidctl.datatypes.imageblk.blockmerge import merge_block

        return merge_block(
            self.blocks.spec, tkey, base, values, sides, strategy, self.merged_block_encoder()
        )

    def merged_block_encoder(self) -> Callable[[np.ndarray], bytes] | None:
        """How a voxel merge stores a merged scale-0 block (None: the instance's codec)."""
        return None

    def _stored_below(
        self, scale: int, coord: tuple[int, int, int], through: VersionedBatch
    ) -> np.ndarray:
        """The stored scale-0 blocks under the scale-``scale`` block ``coord`` (``(n, 3)`` ZYX)."""
        n = 1 << scale
        z0, y0, x0 = (c * n for c in coord)
        rows = [(z, y, x0, x0 + n) for z in range(z0, z0 + n) for y in range(y0, y0 + n)]
        got = self.blocks.scan_rows(0, rows, through)
        found = [(z, y, x) for (z, y, _, _), row in zip(rows, got, strict=True) for x, _ in row]
        return np.asarray(found, dtype=np.int64).reshape(-1, 3)

    def set_extents(self, box: Box) -> None:
        """Set the extents at this node (DVID's ``POST extents``), replacing the union so far."""
        check_range(box)
        with self.lock:
            b = self._batch()
            b.put(self.iid, EXTENTS_TKEY, pack_extents(box))
            b.commit()

    def set_voxel_size(self, voxel_size_xyz: Sequence[float]) -> None:
        """Set the voxel size (instance metadata, DVID's ``POST resolution``)."""
        vs = list(voxel_size_xyz)
        if len(vs) != 3 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in vs
        ):
            raise BadRequestError("the voxel size must be 3 positive numbers [x, y, z]")
        self._save_config(voxel_size=[float(v) for v in vs])

    tracks_max: ClassVar[bool] = False

    def _check_writable(self) -> None:
        self._refuse_partial_write()
        super()._check_writable()

    def _batch(self, *, stream: bool = False) -> VersionedBatch:
        self._refuse_partial_write()
        return super()._batch(stream=stream)

    def _refuse_partial_write(self) -> None:
        """A partial clone's voxel instance is read-only, except to sync filling it.

        Its pyramid, extents and any write's partial blocks depend on blocks it does
        not hold, so a write could not be kept right.
        """
        held = self.held_region
        if held is not None and not self.node.store.is_receiving(self.vid):
            raise BadRequestError(
                f"{self.name}: this partial clone holds only part of it "
                f"({held.describe()}); its voxels are read-only here",
                hint="write in a full clone (clone without --bbox/--roi/--scales)",
            )

    def _queue_scale0_meta(self, batch: VersionedBatch, box: Box, stat: int | None) -> None:
        """Queue what follows a scale-0 write of ``box``: the extents, then the type's hook."""
        old = self.extents()
        new = box if old is None else old.union(box)
        if new != old:  # unchanged: not rewritten (a node's delta holds only what it changed)
            batch.put(self.iid, EXTENTS_TKEY, pack_extents(new))
        self._after_write(batch, stat)

    def _after_write(self, batch: VersionedBatch, stat: int | None) -> None:
        """Hook for type-specific metadata queued with a scale-0 write."""

    def _observer(self, scale: int) -> BlockObserver | None:
        """What sees each block a write encodes (labelmap: its label index), or None."""
        del scale
        return None

    def _after_blocks(self, batch: VersionedBatch, observer: BlockObserver | None) -> None:
        """Hook run after a write queued its blocks, before the commit (with its observer)."""

    def _check_array(self, array: Any) -> np.ndarray:
        return check_voxel_array(array, self.dtype, f"{self.spec.name} {self.name!r}")

    def downres(self) -> dict[int, int]:
        """Rebuild every pyramid level from scale 0 in one atomic write; blocks per level."""
        self._check_writable()
        if self.max_downres == 0:
            return {}
        with self.lock:
            batch = self._batch()
            counts = rebuild_pyramid(self.blocks, batch, self.max_downres, self.downsampler())
            batch.commit()
        return counts

    # ------------------------------------------------------------------ info
    def extended(self) -> dict[str, Any]:
        """DVID's ``Extended`` fields of an imageblk-style instance."""
        return {**self.properties(), "MaxDownresLevel": self.max_downres}

    def properties(self) -> dict[str, Any]:
        """DVID's imageblk ``Properties`` with this node's extents (``PropertiesWithExtents``).

        ``GET metadata`` nests them under ``"Properties"`` for every voxel type.
        """
        ext = self.extents()
        bz, by, bx = self.block_shape
        if ext is None:
            minp = maxp = mini = maxi = None
        else:
            (z0, y0, x0), (z1, y1, x1) = ext.start, ext.stop
            minp, maxp = [x0, y0, z0], [x1 - 1, y1 - 1, z1 - 1]
            mini = [x0 // bx, y0 // by, z0 // bz]
            maxi = [(x1 - 1) // bx, (y1 - 1) // by, (z1 - 1) // bz]
        return {
            "Values": [{"DataType": str(self.dtype), "Label": self.value_label}],
            "Interpolable": self.interpolable,
            "BlockSize": [bx, by, bz],
            "VoxelSize": list(self.voxel_size),
            "VoxelUnits": list(self.config.get("voxel_units", ["nanometers"] * 3)),
            "MinPoint": minp,
            "MaxPoint": maxp,
            "MinIndex": mini,
            "MaxIndex": maxi,
            "Background": self.background,
            "GridStore": self.config.get("grid_store", ""),
            "ScaleLevel": int(self.config.get("scale_level", 0)),
        }

    def info(self) -> dict[str, Any]:
        """DVID's instance JSON, with the stored codec and a top-level ``Extents``."""
        out = super().info()
        c = self.codec
        level = getattr(c, "level", getattr(c, "quality", None))
        out["Base"]["Compression"] = compression_label(
            {"raw": "none", "labelblock": "zstd"}.get(c.name, c.name)
            + (f":{level}" if level else "")
        )
        ext = out["Extended"]
        out["Extents"] = {"MinPoint": ext["MinPoint"], "MaxPoint": ext["MaxPoint"]}
        return out


def _ints(a: np.ndarray) -> tuple[int, int, int]:
    return (int(a[0]), int(a[1]), int(a[2]))


@dataclass(frozen=True)
class _ArbTile:
    """One tile of an arb plane: its pixels, the voxels around them, how it reads."""

    rows: slice
    cols: slice
    box: Box
    dense: bool  # read the box's blocks (else only the blocks of the sampled voxels)
    blocks: int  # blocks it decodes at most


def _check_arb_budget(
    tl: Sequence[float],
    tr: Sequence[float],
    bl: Sequence[float],
    res: float,
    itemsize: int,
    limit_bytes: int | None = None,
) -> None:
    """Refuse an absurd arb image before its (h, w, 3) float64 point grid is allocated."""
    try:
        w = math.dist(tr, tl) / res
        h = math.dist(bl, tl) / res
    except (TypeError, ValueError, ZeroDivisionError):
        return  # arb_plan reports malformed input with a proper message
    if math.isfinite(w) and math.isfinite(h) and w >= 0 and h >= 0:
        check_voxel_budget((int(w) + 1) * (int(h) + 1), 24 + itemsize, limit_bytes)


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared voxel interface
    from dvidctl.datatypes.imageblk.protocol import VoxelsAPI

    _: type[VoxelsAPI] = VoxelInstance
