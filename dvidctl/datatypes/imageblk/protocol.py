"""The voxel interface (uint8blk, labelmap) shared by local and remote instances.

:class:`~dvidctl.datatypes.imageblk.instance.VoxelInstance` (a repository) and
:class:`~dvidctl.api.remote.imageblk.RemoteVoxels` (any DVID server) both satisfy
:class:`VoxelsAPI`. Arrays are numpy ZYX; DVID-style arguments (``offset_xyz``,
``size_wh``, arb corners) are XYZ. Both sides check their input with
:mod:`dvidctl.datatypes.imageblk.checks` before anything is read or written, so
bad input is the same ``BadRequestError`` on either; a write to a committed node is
``LockedNodeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dvidctl.datatypes.protocol import InstanceAPI
from dvidctl.geometry import Box


@runtime_checkable
class VoxelsAPI(InstanceAPI, Protocol):
    """A block-stored voxel volume with a pyramid of scales, at one version."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """The voxel dtype (uint8 for uint8blk, uint64 for labelmap)."""
        ...

    @property
    def block_shape(self) -> tuple[int, int, int]:
        """Block size, ZYX."""
        ...

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Voxel size at scale 0, XYZ (real-world units, for :meth:`get_arb`)."""
        ...

    @property
    def background(self) -> int:
        """The value of voxels never written."""
        ...

    @property
    def max_downres(self) -> int:
        """The highest stored scale (DVID's ``MaxDownresLevel``)."""
        ...

    def check_scale(self, scale: int) -> int:
        """Return ``scale`` if it is a stored level (0..max_downres), else BadRequestError."""
        ...

    def extents(self) -> Box | None:
        """The box of every voxel written at scale 0 (ZYX), or None before any write."""
        ...

    def get_subvolume(self, box: Box, scale: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Read ``box`` (ZYX, voxel space of ``scale``); unwritten voxels are the background."""
        ...

    def put_subvolume(
        self, array: np.ndarray, offset_zyx: Sequence[int] = (0, 0, 0), scale: int = 0
    ) -> Box:
        """Write a ZYX array with its first voxel at ``offset_zyx``; returns the box written."""
        ...

    def get_slice(
        self, plane: str, offset_xyz: Sequence[int], size_wh: Sequence[int], scale: int = 0
    ) -> np.ndarray:
        """An orthogonal 2D image: ``xy`` (rows y), ``xz`` or ``yz`` (rows z)."""
        ...

    def get_arb(
        self,
        tl: Sequence[float],
        tr: Sequence[float],
        bl: Sequence[float],
        res: float,
        scale: int = 0,
    ) -> np.ndarray:
        """DVID's arbitrary plane through pixel centres ``tl``, ``tr``, ``bl`` (real-world XYZ)."""
        ...


__all__ = ["VoxelsAPI"]
