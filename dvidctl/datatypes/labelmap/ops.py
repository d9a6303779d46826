"""labelmap operations: uint64 label volumes (DVID_API.md §6), on the shared voxel base.

Beyond subvolumes, slices, arb planes and tiles this adds labels at points and
the label counters: ``MaxLabel`` (versioned; each scale-0 write raises it to the
largest label written; merges take the max) and ``NextLabel`` (repo-wide, kept in
the instance record, as DVID's ``nextlabel`` reservations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import MAXLABEL_TKEY
from dvidctl.datatypes.imageblk.checks import check_label_count
from dvidctl.datatypes.imageblk.config import pack_u64, unpack_u64
from dvidctl.datatypes.imageblk.downsample import downsample_labels
from dvidctl.datatypes.imageblk.instance import VoxelInstance
from dvidctl.datatypes.imageblk.multiscale import Downsample
from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK
from dvidctl.errors import BadRequestError
from dvidctl.geometry import parse_points
from dvidctl.store.versioned import VersionedBatch


class LabelMap(VoxelInstance):
    """A labelmap instance at one node (supervoxel ids; no body mapping yet).

    Pyramid levels take the most frequent non-zero label of each 2x2x2 cube
    (ties to the smaller label); ``arb`` planes are sampled nearest.
    """

    typename = "labelmap"
    dtype: ClassVar[np.dtype] = np.dtype(np.uint64)
    key_class: ClassVar[int] = CLASS_BLOCK
    interpolable: ClassVar[bool] = False
    value_label: ClassVar[str] = "labelmap"
    tracks_max: ClassVar[bool] = True

    def downsampler(self) -> Downsample:
        """Label mode ignoring 0 (DVID's downres rule)."""
        return downsample_labels

    # ---------------------------------------------------------------- labels
    def labels_at(
        self, points_xyz: Sequence[Sequence[int]] | np.ndarray, scale: int = 0
    ) -> np.ndarray:
        """Labels at integer voxel points given as ``(n, 3)`` XYZ (DVID's ``labels``)."""
        self.check_scale(scale)
        pts = parse_points(points_xyz)
        if len(pts) == 0:
            return np.zeros(0, np.uint64)
        return self.blocks.values_at(scale, pts[:, ::-1])

    def label_at(self, point_xyz: Sequence[int], scale: int = 0) -> int:
        """The label at one voxel (DVID's ``label/{x_y_z}``)."""
        return int(self.labels_at([point_xyz], scale)[0])

    # -------------------------------------------------------------- counters
    def max_label(self) -> int:
        """The largest label written along this node's ancestry (0 if none)."""
        got = self._get(MAXLABEL_TKEY)
        return 0 if got is None else unpack_u64(got)

    def max_labels_by_version(self) -> dict[int, int]:
        """The max label stored at each version that raised it (DVID's ``MaxLabel`` map)."""
        return {
            vid: unpack_u64(payload)
            for vid, payload in self.node.store.payload_versions(self.iid, MAXLABEL_TKEY)
        }

    def max_repo_label(self) -> int:
        """The largest label written in any version."""
        return max(self.max_labels_by_version().values(), default=0)

    def next_label(self) -> int:
        """The next label :meth:`reserve_labels` would hand out."""
        return max(int(self.config.get("next_label", 0)), self.max_repo_label() + 1)

    def reserve_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` new labels for the whole repository; returns ``(first, last)``.

        A mutation as in DVID: refused on a committed node (LockedNodeError).
        """
        check_label_count(count)
        self.node.store.check_writable(self.vid, check_locked=not self.writable_anywhere)
        with self.lock:
            start = self.next_label()
            self._save_config(next_label=start + count)
        return start, start + count - 1

    def set_next_label(self, label: int) -> None:
        """Set the next label :meth:`reserve_labels` hands out (DVID's ``set-nextlabel``)."""
        if not 0 <= label <= 2**63:
            raise BadRequestError(f"next label must be in 0..2^63, got {label}")
        self._save_config(next_label=label)

    def raise_max_label(self, label: int) -> None:
        """Raise the max label at this node to ``label`` (no change unless it is larger)."""
        if not 0 < label <= 2**48:
            raise BadRequestError(f"max label must be in 1..2^48, got {label}")
        with self.lock:
            if label > self.max_label():
                b = self._batch()
                b.put(self.iid, MAXLABEL_TKEY, pack_u64(label))
                b.commit()

    def _after_write(self, batch: VersionedBatch, stat: int | None) -> None:
        if stat is not None and stat > self.max_label():
            batch.put(self.iid, MAXLABEL_TKEY, pack_u64(stat))

    # ------------------------------------------------------------------ info
    def extended(self) -> dict[str, Any]:
        """imageblk fields plus DVID's labelmap counters."""
        ext = super().extended()
        by_version = self.max_labels_by_version()
        ext.update(
            MaxLabel={str(v): m for v, m in sorted(by_version.items())},
            MaxRepoLabel=max(by_version.values(), default=0),
            NextLabel=int(self.config.get("next_label", 0)),
            IndexedLabels=bool(self.config.get("indexed_labels", True)),
        )
        return ext


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared labelmap interface
    from dvidctl.datatypes.labelmap.protocol import LabelMapAPI

    _: type[LabelMapAPI] = LabelMap
