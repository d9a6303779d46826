"""Voxel points of ROI queries, parsed the same way by local and remote instances."""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN


def voxel_points(points_xyz: Any) -> np.ndarray:
    """Points ``[[x, y, z], ...]`` as an ``(n, 3)`` int64 XYZ array; floats are floored.

    Raises:
        BadRequestError: Not an ``(n, 3)`` numeric array, not finite, or outside int32.
    """
    try:
        p = np.asarray(points_xyz)
    except ValueError:
        raise BadRequestError("points must be a list of [x, y, z]") from None
    if p.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    if p.ndim != 2 or p.shape[1] != 3 or p.dtype.kind not in "iuf":
        raise BadRequestError(
            f"points must be an (n, 3) numeric XYZ array, got {p.dtype} {p.shape}",
            hint="send [[x, y, z], ...] voxel coordinates",
        )
    if p.dtype.kind == "f":
        if not np.isfinite(p).all():
            raise BadRequestError("points must be finite numbers")
        p = np.floor(p)
    if ((p < INT32_MIN) | (p > INT32_MAX)).any():
        raise BadRequestError("point coordinates must fit in int32")
    return p.astype(np.int64)


__all__ = ["voxel_points"]
