"""roi over HTTP: :class:`~dvidctl.datatypes.roi.protocol.ROIAPI` on any DVID server.

Spans and points are parsed here as the local instance parses them
(:mod:`dvidctl.datatypes.roi.spans`, :func:`dvidctl.geometry.parse_points`), so bad input
is refused before a request is sent and results have the same form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.datatypes.roi import blockmap
from dvidctl.datatypes.roi import spans as sp
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box, check_voxel_budget, parse_points


class RemoteROI(RemoteInstance):
    """roi over HTTP: the methods of :class:`dvidctl.datatypes.roi.ROI`."""

    datatype = "roi"

    @property
    def block_size(self) -> tuple[int, int, int]:
        """Block size in voxels, XYZ."""
        x, y, z = self._ext.get("BlockSize") or [32, 32, 32]
        return int(x), int(y), int(z)

    def get_spans(self) -> list[list[int]]:
        """``[[z, y, x0, x1], ...]`` as stored, in key order (DVID's ``GET roi``)."""
        got = self.repo.request("GET", self.path("roi")).json()
        out: list[list[int]] = sp.parse_spans(got).tolist()
        return out

    def put_spans(self, spans: Sequence[Sequence[int]] | np.ndarray) -> int:
        """Replace the ROI with ``spans`` as given; returns the number of distinct spans."""
        new = sp.parse_spans(spans)
        self.repo.request("POST", self.path("roi"), content=json.dumps(new.tolist()))
        return len({tuple(s) for s in new.tolist()})

    def delete(self) -> int:
        """Delete every span; returns how many there were."""
        n = len(self.get_spans())
        self.repo.request("DELETE", self.path("roi"))
        return n

    def contains_points(self, points_xyz: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Whether each ``[x, y, z]`` is inside (floats floored, as locally)."""
        pts = parse_points(points_xyz, floats=True)
        if len(pts) == 0:
            return np.zeros(0, dtype=bool)
        body = json.dumps(pts.tolist())
        got = self.repo.request("POST", self.path("ptquery"), content=body).json()
        return np.asarray(got, dtype=bool)

    def put_mask(self, mask: np.ndarray, offset_zyx: Sequence[int]) -> int:
        """Replace the ROI with the blocks of a block-aligned mask (converted here)."""
        zyx = (self.block_size[2], self.block_size[1], self.block_size[0])
        return self.put_spans(blockmap.mask_spans(mask, offset_zyx, zyx))

    def partition(self, batchsize: int = 8, optimized: bool = False) -> dict[str, Any]:
        """DVID's ``GET partition?batchsize=N[&optimized=true]``."""
        if isinstance(batchsize, bool) or not isinstance(batchsize, int) or batchsize < 1:
            raise BadRequestError(f"batchsize must be a positive integer, not {batchsize!r}")
        params = {"batchsize": str(batchsize)} | ({"optimized": "true"} if optimized else {})
        got: dict[str, Any] = self.repo.request("GET", self.path("partition"), params=params).json()
        return got

    def mask(self, box: Box, scale: int = 0) -> np.ndarray:
        """uint8 ZYX mask of ``box``: 1 inside the ROI.

        DVID's ``mask`` endpoint is scale 0 only; other scales are drawn here from
        the spans, as the local instance draws them.
        """
        x, y, z = self.block_size
        cell = blockmap.scale_cell((z, y, x), scale)
        check_voxel_budget(box.nvoxels, 1)
        if box.is_empty:
            return np.zeros(box.shape, dtype=np.uint8)
        if scale:
            bstart, bstop = box.block_range(cell)
            grid = sp.rasterize(sp.normalize(sp.parse_spans(self.get_spans())), bstart, bstop)
            return sp.expand(grid, box.start, box.stop, bstart, cell)
        size = "_".join(map(str, box.size_xyz))
        off = "_".join(map(str, box.offset_xyz))
        return self.repo.get_into(self.path("mask", "0_1_2", size, off), np.uint8, tuple(box.shape))


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared roi interface
    from dvidctl.datatypes.roi.protocol import ROIAPI

    _: type[ROIAPI] = RemoteROI
