"""The labelmap interface shared by local and remote instances: voxels plus labels.

:class:`~dvidctl.datatypes.labelmap.ops.LabelMap` and
:class:`~dvidctl.api.remote.imageblk.RemoteLabelMap` both satisfy
:class:`LabelMapAPI`. Points are XYZ integers (``(n, 3)``); label reservations
are repo-wide and, as any mutation in DVID, refused on a committed node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from dvidctl.datatypes.imageblk.protocol import VoxelsAPI


@runtime_checkable
class LabelMapAPI(VoxelsAPI, Protocol):
    """A uint64 label volume at one version."""

    def labels_at(
        self, points_xyz: Sequence[Sequence[int]] | np.ndarray, scale: int = 0
    ) -> np.ndarray:
        """Labels (uint64) at integer voxel points ``(n, 3)`` XYZ, in the order given."""
        ...

    def label_at(self, point_xyz: Sequence[int], scale: int = 0) -> int:
        """The label at one voxel ``(x, y, z)``."""
        ...

    def max_label(self) -> int:
        """The largest label written along this version's ancestry (0 if none)."""
        ...

    def next_label(self) -> int:
        """The first label :meth:`reserve_labels` would hand out."""
        ...

    def reserve_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` new labels for the repository; returns ``(first, last)`` inclusive."""
        ...


__all__ = ["LabelMapAPI"]
