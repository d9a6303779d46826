"""Parsing helpers shared by the voxel routes: sizes, offsets, scales, point lists."""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box, check_voxel_budget


def box3d(
    size: tuple[int, ...], offset: tuple[int, ...], *, itemsize: int = 1, limit: int | None = None
) -> Box:
    """A ZYX box from DVID's ``x_y_z`` size and offset, checked against the memory budget."""
    if len(size) != 3 or len(offset) != 3:
        raise BadRequestError(
            "3D requests need a size and an offset of 3 numbers x_y_z, "
            f"got size {size} offset {offset}"
        )
    if any(s <= 0 for s in size):
        raise BadRequestError(f"size must be positive in every dimension, got {size}")
    for v in (*offset, *(o + s for o, s in zip(offset, size, strict=True))):
        if not INT32_MIN <= v <= INT32_MAX:
            raise BadRequestError("coordinates must fit in int32")
    n = size[0] * size[1] * size[2]
    check_voxel_budget(n, itemsize, limit)
    return Box.from_xyz(offset, size)


def check_aligned(box: Box, block_zyx: tuple[int, int, int], what: str) -> None:
    """Refuse a box that is not aligned to blocks (DVID's rule for POST raw, blocks...)."""
    if not box.is_aligned(block_zyx):
        bs = "x".join(str(v) for v in block_zyx[::-1])
        raise BadRequestError(f"{what} must be block-aligned (block size {bs}); got {box}")


def points_xyz(obj: Any, what: str = "body") -> np.ndarray:
    """``[[x, y, z], ...]`` as an ``(n, 3)`` int64 array (XYZ)."""
    try:
        arr = np.asarray(obj, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise BadRequestError(f"{what} must be a JSON list of [x, y, z] integer points") from None
    if arr.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise BadRequestError(
            f"{what} must be a JSON list of [x, y, z] points, got shape {arr.shape}"
        )
    return arr


def block_list(text: str) -> np.ndarray:
    """``blocks=x,y,z,x,y,z...`` as an ``(n, 3)`` XYZ int64 array."""
    parts = [p for p in text.replace("_", ",").split(",") if p.strip()]
    if len(parts) % 3:
        raise BadRequestError("blocks= needs a multiple of 3 integers x,y,z,...")
    try:
        ints = [int(p) for p in parts]
    except ValueError:
        raise BadRequestError(f"blocks= has a non-integer: {text[:80]!r}") from None
    if any(not INT32_MIN <= v <= INT32_MAX for v in ints):
        raise BadRequestError("block coordinates must fit in int32")
    arr = np.asarray(ints, dtype=np.int64).reshape(-1, 3)
    if ((arr < INT32_MIN) | (arr > INT32_MAX)).any():
        raise BadRequestError("block coordinates must fit in int32")
    return arr
