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
from dvidctl.datatypes.labelmap.mutlog import ModInfo
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.geometry import Box


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

    # ------------------------------------------------------------ proofreading
    def size(self, label: int, *, supervoxels: bool = False) -> int:
        """Voxels of a body (or supervoxel); NotFoundError when it has none."""
        ...

    def sizes(self, labels: Sequence[int], *, supervoxels: bool = False) -> list[int]:
        """Voxels of each label, 0 for labels without voxels."""
        ...

    def supervoxels(self, label: int) -> np.ndarray:
        """The supervoxels of a body, ascending (NotFoundError when it has none)."""
        ...

    def mapping(self, svs: Sequence[int] | np.ndarray, *, lookup: bool = True) -> np.ndarray:
        """The body of each supervoxel (0: retired or, with ``lookup``, without voxels)."""
        ...

    def sparsevol(
        self, label: int, *, scale: int = 0, supervoxels: bool = False, bounds: Box | None = None
    ) -> Runs:
        """Runs along x (ZYX starts) of a body's voxels at ``scale``, cut to ``bounds``."""
        ...

    def merge(self, target: int, others: Sequence[int], info: ModInfo | None = None) -> int:
        """Merge bodies into ``target``; the mutation id."""
        ...

    def cleave(
        self, label: int, svs: Sequence[int], info: ModInfo | None = None
    ) -> tuple[int, int]:
        """Move supervoxels of a body to a new body; ``(new label, mutation id)``."""
        ...

    def split(self, label: int, runs: Runs, info: ModInfo | None = None) -> tuple[int, int]:
        """Split scale-0 voxels off a body; ``(new label, mutation id)``."""
        ...


__all__ = ["LabelMapAPI"]
