"""uint8blk operations: grayscale volumes (DVID_API.md §5), on the shared voxel base."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dvidctl.datatypes.imageblk.instance import VoxelInstance
from dvidctl.datatypes.uint8blk.keys import CLASS_BLOCK


class Uint8Blk(VoxelInstance):
    """A uint8blk instance at one node: subvolumes, slices, arb planes, tiles, pyramid.

    Pyramid levels use the rounded mean of each 2x2x2 cube; ``arb`` planes are
    interpolated trilinearly.
    """

    typename = "uint8blk"
    dtype: ClassVar[np.dtype] = np.dtype(np.uint8)
    key_class: ClassVar[int] = CLASS_BLOCK
    interpolable: ClassVar[bool] = True
    value_label: ClassVar[str] = "uint8"
