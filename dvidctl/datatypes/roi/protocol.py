"""The roi interface shared by local and remote instances.

:class:`~dvidctl.datatypes.roi.ops.ROI` and :class:`~dvidctl.api.remote.roi.RemoteROI`
both satisfy :class:`ROIAPI`. Spans are ``[z, y, x0, x1]`` in block coordinates
(``x1`` inclusive); both sides parse and normalise them with
:mod:`dvidctl.datatypes.roi.spans` and points with :func:`dvidctl.geometry.parse_points`,
so bad input is the same ``BadRequestError`` on either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dvidctl.datatypes.protocol import InstanceAPI
from dvidctl.geometry import Box


@runtime_checkable
class ROIAPI(InstanceAPI, Protocol):
    """A set of blocks, stored as spans, at one version."""

    @property
    def block_size(self) -> tuple[int, int, int]:
        """Block size in voxels, XYZ."""
        ...

    def get_spans(self) -> list[list[int]]:
        """The stored spans ``[[z, y, x0, x1], ...]`` in key order (z, y, x0, length), as
        DVID's ``GET roi``: spans posted separately stay separate."""
        ...

    def put_spans(self, spans: Sequence[Sequence[int]] | np.ndarray) -> int:
        """Replace the ROI with ``spans`` as given (DVID's ``POST roi``); returns the number
        of distinct spans stored. Every query reads the ROI as the union of its spans."""
        ...

    def delete(self) -> int:
        """Delete every span; returns how many there were."""
        ...

    def put_mask(self, mask: np.ndarray, offset_zyx: Sequence[int]) -> int:
        """Replace the ROI with the blocks where a block-aligned ZYX mask at voxel
        ``offset_zyx`` has a non-zero voxel; returns the number of spans stored."""
        ...

    def mask(self, box: Box, scale: int = 0) -> np.ndarray:
        """A uint8 ZYX array of ``box``'s shape (voxels of ``scale``): 1 inside, else 0."""
        ...

    def partition(self, batchsize: int = 8, optimized: bool = False) -> dict[str, Any]:
        """Subvolumes of about ``batchsize``³ blocks covering the ROI (DVID's ``partition``)."""
        ...

    def contains_points(self, points_xyz: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Whether each voxel point ``[x, y, z]`` (floats floored) is inside, as a bool array."""
        ...


__all__ = ["ROIAPI"]
