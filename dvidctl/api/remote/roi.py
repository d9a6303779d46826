"""roi over HTTP: :class:`~dvidctl.datatypes.roi.protocol.ROIAPI` on any DVID server.

Spans and points are parsed here as the local instance parses them
(:mod:`dvidctl.datatypes.roi.spans`, :func:`dvidctl.geometry.parse_points`), so bad input
is refused before a request is sent and results have the same form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.datatypes.roi import spans as sp
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

    def mask(self, box: Box) -> np.ndarray:
        """uint8 ZYX mask of ``box``: 1 inside the ROI."""
        check_voxel_budget(box.nvoxels, 1)
        if box.is_empty:
            return np.zeros(box.shape, dtype=np.uint8)
        size = "_".join(map(str, box.size_xyz))
        off = "_".join(map(str, box.offset_xyz))
        return self.repo.get_into(self.path("mask", "0_1_2", size, off), np.uint8, tuple(box.shape))


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared roi interface
    from dvidctl.datatypes.roi.protocol import ROIAPI

    _: type[ROIAPI] = RemoteROI
