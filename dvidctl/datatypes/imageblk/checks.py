"""Input checks of the voxel interface, applied by local and remote instances alike.

Both :class:`~dvidctl.datatypes.imageblk.instance.VoxelInstance` and the remote
classes run these before reading or writing anything, so bad input fails the same
way (``BadRequestError``, same message) whether the data is local or on a server.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box


def check_scale(scale: Any, max_downres: int, name: str) -> int:
    """Return ``scale`` as an int if it is a level 0..``max_downres`` of ``name``."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)):
        raise BadRequestError(f"scale must be an integer, not {scale!r}")
    if not 0 <= scale <= max_downres:
        raise BadRequestError(
            f"scale {scale} is not stored by {name!r}: levels are 0..{max_downres}",
            hint="MaxDownresLevel sets the number of levels when the instance is created",
        )
    return int(scale)


def check_range(box: Box) -> None:
    """Refuse a box reaching outside DVID's signed 32-bit voxel coordinates."""
    if min(box.start) < INT32_MIN or max(box.stop) > INT32_MAX + 1:
        raise BadRequestError(f"{box} reaches outside the signed 32-bit voxel range")


def check_voxel_array(array: Any, dtype: np.dtype[Any], what: str) -> np.ndarray:
    """A non-empty 3D ZYX array of ``dtype`` (another byte order is converted), or BadRequestError.

    Args:
        array: What the caller passed as voxels.
        dtype: The instance's voxel dtype; only the same kind and size are accepted
            (no silent casts that would change values).
        what: The instance, for the message (e.g. ``uint8blk 'grayscale'``).
    """
    if not isinstance(array, np.ndarray):
        raise BadRequestError(f"voxels must be a numpy array, not {type(array).__name__}")
    if array.ndim != 3:
        raise BadRequestError(f"voxels must be a 3D ZYX array, got shape {array.shape}")
    if array.size == 0:
        raise BadRequestError(f"voxel array of shape {array.shape} is empty")
    if array.dtype.kind != dtype.kind or array.dtype.itemsize != dtype.itemsize:
        raise BadRequestError(
            f"{what} holds {dtype} voxels, got {array.dtype}",
            hint=f"convert the array with .astype('{dtype}') if the values fit",
        )
    if array.dtype != dtype:  # other byte order
        array = array.astype(dtype)
    return array


#: The most labels one reservation may ask for.
MAX_RESERVE = 1 << 40


def check_label_count(count: Any) -> int:
    """A label reservation size: an integer 1..MAX_RESERVE."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise BadRequestError(f"label count must be an integer, not {count!r}")
    if not 1 <= count <= MAX_RESERVE:
        raise BadRequestError(f"label count must be 1..{MAX_RESERVE}, got {count}")
    return int(count)


__all__ = [
    "MAX_RESERVE",
    "check_label_count",
    "check_range",
    "check_scale",
    "check_voxel_array",
]
