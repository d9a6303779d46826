"""roi over HTTP: the methods of the local roi instance, against any DVID server."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from dvidctl.api.remote.base import RemoteInstance


class RemoteROI(RemoteInstance):
    """roi over HTTP: the methods of :class:`dvidctl.datatypes.roi.ROI`."""

    typename = "roi"

    def get_spans(self) -> list[list[int]]:
        """``[[z, y, x0, x1], ...]``."""
        got: list[list[int]] = self.repo.request("GET", self.path("roi")).json()
        return got

    def put_spans(self, spans: Any) -> int:
        """Replace the ROI."""
        data = spans.tolist() if isinstance(spans, np.ndarray) else spans
        self.repo.request("POST", self.path("roi"), content=json.dumps(data))
        return len(data)

    def delete(self) -> int:
        """Delete every span."""
        n = len(self.get_spans())
        self.repo.request("DELETE", self.path("roi"))
        return n

    def contains_points(self, points_xyz: Any) -> np.ndarray:
        """Whether each ``[x, y, z]`` is inside."""
        pts = np.asarray(points_xyz).tolist()
        got = self.repo.request("POST", self.path("ptquery"), content=json.dumps(pts)).json()
        return np.asarray(got, dtype=bool)

    def mask(self, box: Any) -> np.ndarray:
        """uint8 ZYX mask of ``box`` (a :class:`dvidctl.geometry.Box`)."""
        size = "_".join(map(str, box.size_xyz))
        off = "_".join(map(str, box.offset_xyz))
        return self.repo.get_into(self.path("mask", "0_1_2", size, off), np.uint8, tuple(box.shape))
