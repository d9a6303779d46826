"""roi operations: a set of blocks stored as spans, one key per span (DVID_API.md §7).

Spans are ``[z, y, x0, x1]`` in block coordinates (``x1`` inclusive). As DVID
(roi.go ``PutSpans``), a write stores each span as given, one key per span:
identical spans collapse into one key, overlapping or touching spans stay
separate, and ``GET roi`` returns the stored spans in key order (z, y, x0, x1),
as DVID's ``getSpans`` does. After a merge both sides' spans are visible. Every
other read (blocks, masks, points, partitions, counts) treats the ROI as the
union of its spans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes.base import Instance
from dvidctl.datatypes.roi import blockmap, keys
from dvidctl.datatypes.roi import spans as sp
from dvidctl.datatypes.roi.partition import partition as _partition
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box, check_voxel_budget, parse_points

#: Masks over at most this many block z-layers scan each layer's y range separately.
_ROW_SCAN_LIMIT = 64


class ROI(Instance):
    """A roi instance at one node."""

    typename = "roi"
    from_blocks = staticmethod(sp.from_blocks)

    # ----------------------------------------------------------------- config
    @property
    def block_size(self) -> tuple[int, int, int]:
        """Block size in voxels, XYZ."""
        x, y, z = self.config.get("block_size", (32, 32, 32))
        return int(x), int(y), int(z)

    @property
    def block_zyx(self) -> tuple[int, int, int]:
        """Block size in voxels, ZYX."""
        x, y, z = self.block_size
        return z, y, x

    # ------------------------------------------------------------------ reads
    def _stored(self, start: bytes = keys.ALL_START, stop: bytes = keys.ALL_STOP) -> np.ndarray:
        """Spans stored in ``[start, stop)``, in key order (not merged)."""
        return keys.decode_keys([tk for tk, _ in self._scan(start, stop)])

    def span_array(self) -> np.ndarray:
        """The ROI as a normalised ``(n, 4)`` int64 array of ``[z, y, x0, x1]``."""
        return sp.normalize(self._stored())

    def get_spans(self) -> list[list[int]]:
        """The stored spans ``[[z, y, x0, x1], ...]`` in key order, as DVID's ``GET roi``.

        Not merged: spans posted separately stay separate (see :meth:`span_array` for
        the normalised union).
        """
        out: list[list[int]] = self._stored().tolist()
        return out

    def _spans_in(self, bstart: tuple[int, ...], bstop: tuple[int, ...]) -> np.ndarray:
        """Normalised spans with z and y in block range ``[bstart, bstop)`` (ZYX)."""
        (z0, y0, _), (z1, y1, _) = bstart, bstop
        z0, y0 = max(z0, INT32_MIN), max(y0, INT32_MIN)
        z1, y1 = min(z1, INT32_MAX + 1), min(y1, INT32_MAX + 1)
        if z1 <= z0 or y1 <= y0:
            return sp.empty()
        if z1 - z0 <= _ROW_SCAN_LIMIT:
            parts = [
                self._stored(keys.row_start(z, y0), keys.row_stop(z, y1 - 1)) for z in range(z0, z1)
            ]
            got = np.concatenate(parts) if parts else sp.empty()
        else:
            got = self._stored(keys.row_start(z0), keys.row_stop(z1 - 1))
            got = got[(got[:, 1] >= y0) & (got[:, 1] < y1)]
        return sp.normalize(got)

    def blocks(self) -> np.ndarray:
        """Every block of the ROI as an ``(n, 3)`` int32 ZYX array, z-major."""
        return sp.to_blocks(self.span_array())

    def num_blocks(self) -> int:
        """Number of blocks in the ROI."""
        return sp.count_blocks(self.span_array())

    def mask(self, box: Box, scale: int = 0) -> np.ndarray:
        """A uint8 ZYX array of ``box``'s shape: 1 for voxels inside the ROI, else 0.

        Works for boxes not aligned to blocks and for negative coordinates. With
        ``scale``, ``box`` is in voxels of that pyramid level (each ``2**scale`` voxels
        of scale 0 per axis), which must divide the block size.

        Raises:
            BadRequestError: If the box would need more memory than allowed, or the
                scale is too coarse for the blocks.
        """
        bzyx = blockmap.scale_cell(self.block_zyx, scale)
        check_voxel_budget(box.nvoxels, 1)
        if box.is_empty:
            return np.zeros(box.shape, dtype=np.uint8)
        bstart, bstop = box.block_range(bzyx)
        grid = sp.rasterize(self._spans_in(bstart, bstop), bstart, bstop)
        return sp.expand(grid, box.start, box.stop, bstart, bzyx)

    def contains_points(self, points_xyz: Any) -> np.ndarray:
        """Whether each voxel point ``[x, y, z]`` lies in the ROI (DVID's ``ptquery``).

        Args:
            points_xyz: An ``(n, 3)`` array or list of XYZ voxel coordinates. Floats are
                floored to the voxel that contains them.

        Returns:
            A bool array of length n, in the order given.
        """
        return self.contains_blocks(self._point_blocks(points_xyz))

    def contains_blocks(self, blocks_zyx: Any) -> np.ndarray:
        """Whether each block coordinate (``(n, 3)`` ZYX integers) is in the ROI.

        This is the test an ROI filter needs (e.g. copying only the blocks of an ROI).
        """
        blocks = np.asarray(blocks_zyx)
        if blocks.size == 0:
            return np.zeros(0, dtype=bool)
        if blocks.dtype.kind not in "iu" or blocks.ndim != 2 or blocks.shape[1] != 3:
            raise BadRequestError(
                "block coordinates must be an (n, 3) integer ZYX array, "
                f"got {blocks.dtype} {blocks.shape}"
            )
        blocks = blocks.astype(np.int64)
        if ((blocks < INT32_MIN) | (blocks > INT32_MAX)).any():
            raise BadRequestError("block coordinates must fit in int32")
        lo = tuple(int(v) for v in blocks.min(axis=0))
        hi = tuple(int(v) + 1 for v in blocks.max(axis=0))
        return sp.contains_blocks(self._spans_in(lo, hi), blocks)

    def _point_blocks(self, points_xyz: Any) -> np.ndarray:
        p = parse_points(points_xyz, floats=True)
        return p[:, ::-1] // np.asarray(self.block_zyx, dtype=np.int64)

    def extended(self) -> dict[str, Any]:
        """DVID's ``{"BlockSize": [x, y, z], "MinZ": .., "MaxZ": ..}`` (block z range at this node).

        An empty ROI has DVID's initial ``MinZ = MaxInt32, MaxZ = MinInt32``.
        """
        minz, maxz = self._z_range()
        return {"BlockSize": list(self.block_size), "MinZ": minz, "MaxZ": maxz}

    def _first_z_from(self, z: int) -> int | None:
        """Block z of the first span with z >= ``z``, or None."""
        for tk, _ in self._scan(keys.row_start(z), keys.ALL_STOP):
            return int(keys.decode_keys([tk])[0, 0])
        return None

    def _z_range(self) -> tuple[int, int]:
        """``(MinZ, MaxZ)`` by a few seeks (no full scan): first key, then a bisection."""
        lo = self._first_z_from(INT32_MIN)
        if lo is None:
            return INT32_MAX, INT32_MIN
        minz, hi = lo, INT32_MAX + 1  # invariant: a span at z = lo; none at z >= hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            got = self._first_z_from(mid)
            if got is None:
                hi = mid
            else:
                lo = got
        return minz, lo

    def partition(self, batchsize: int = 8, optimized: bool = False) -> dict[str, Any]:
        """Subvolumes of about ``batchsize``³ blocks covering the ROI (DVID's JSON shape).

        See :mod:`dvidctl.datatypes.roi.partition` for the algorithm and its DVID quirks.
        """
        if (
            isinstance(batchsize, bool)
            or not isinstance(batchsize, (int, np.integer))
            or batchsize < 1
        ):
            raise BadRequestError(f"batchsize must be a positive integer, not {batchsize!r}")
        return _partition(self.span_array(), self.block_size, int(batchsize), optimized)

    # ----------------------------------------------------------------- writes
    def check_writable(self) -> None:
        """Raise now (LockedNodeError) if a write here would be refused: before costly work."""
        self._check_writable()

    def put_spans(self, spans: Any) -> int:
        """Replace the ROI at this node with ``spans`` as given (one atomic batch).

        Each span is kept as its own key, as DVID stores a POST (identical spans
        collapse, nothing is merged). Every stored span that is not in the new set is
        deleted (a tombstone where an ancestor holds it) and every new span not already
        visible is written: the result reads exactly like DVID's "delete all, then
        write", with the fewest changed keys.

        Returns:
            The number of distinct spans now stored.

        Raises:
            BadRequestError: Malformed spans, non-integers, ``x1 < x0``, a span longer
                than 2**32 - 1 blocks (nothing is written).
            LockedNodeError: If the node is committed.
        """
        new_keys = sorted(set(keys.encode_spans(sp.parse_spans(spans))))
        with self.lock:
            old = {tk for tk, _ in self._scan(keys.ALL_START, keys.ALL_STOP)}
            want = set(new_keys)
            b = self._batch()
            for tk in old - want:
                b.delete(self.iid, tk)
            for tk in new_keys:
                if tk not in old:
                    b.put(self.iid, tk, b"")
            b.commit()
        return len(new_keys)

    def put_blocks(self, coords_zyx: Any) -> int:
        """Replace the ROI with the set of blocks ``coords_zyx`` (``(n, 3)`` ZYX)."""
        return self.put_spans(sp.from_blocks(coords_zyx))

    def put_mask(self, mask: Any, offset_zyx: Any) -> int:
        """Replace the ROI with the blocks where ``mask`` (ZYX, at voxel ``offset_zyx``) is set.

        The mask must be block-aligned (offset and shape multiples of the block size,
        as DVID's block writes); a block is in the ROI when any of its voxels is
        non-zero. Returns the number of spans stored.
        """
        return self.put_spans(blockmap.mask_spans(mask, offset_zyx, self.block_zyx))

    def delete(self) -> int:
        """Delete every span at this node; returns how many spans were visible.

        Raises:
            LockedNodeError: If the node is committed.
        """
        with self.lock:
            old = [tk for tk, _ in self._scan(keys.ALL_START, keys.ALL_STOP)]
            b = self._batch()
            for tk in old:
                b.delete(self.iid, tk)
            b.commit()
        return len(old)


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared roi interface
    from dvidctl.datatypes.roi.protocol import ROIAPI

    _: type[ROIAPI] = ROI
