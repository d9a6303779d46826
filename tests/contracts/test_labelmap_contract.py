"""The LabelMapAPI contract (the voxel contract plus labels), on local and remote labelmaps."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from dvidctl.datatypes.labelmap.protocol import LabelMapAPI
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError
from dvidctl.geometry import Box
from tests.contracts.conftest import Backend, LocalSide, RemoteSide
from tests.contracts.test_voxels_contract import VoxelsContract


class LabelMapContract(VoxelsContract):
    """What every :class:`LabelMapAPI` must do, voxels included. Subclasses provide ``backend``."""

    typename: ClassVar[str] = "labelmap"
    config: ClassVar[dict[str, str]] = {"BlockSize": "16,16,16", "MaxDownresLevel": "1"}
    background: ClassVar[int] = 0

    def random(self, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
        """Labels above 2^32 (they must survive every path as uint64)."""
        rng = np.random.default_rng(seed)
        return rng.integers(2**40, 2**40 + 50, shape, dtype=np.uint64)

    def dtype_of(self) -> np.dtype[Any]:
        return np.dtype(np.uint64)

    @pytest.fixture
    def labels(self, backend: Backend) -> LabelMapAPI:
        inst = backend.new(self.typename, self.config)
        assert isinstance(inst, LabelMapAPI)
        return inst

    # ----------------------------------------------------- labels at points
    def test_labels_at_points(self, labels: LabelMapAPI) -> None:
        data = self.random((6, 7, 8), seed=7)
        labels.put_subvolume(data, (2, -3, 5))
        pts = [[5, -3, 2], [12, 3, 7], [8, 0, 4], [100, 100, 100], [-1, -1, -1]]
        want = [data[0, 0, 0], data[5, 6, 7], data[2, 3, 3], 0, 0]
        got = labels.labels_at(pts)
        assert got.dtype == np.uint64 and got.tolist() == [int(v) for v in want]
        assert labels.labels_at(np.asarray(pts, dtype=np.int32)).tolist() == got.tolist()
        assert labels.label_at((12, 3, 7)) == int(data[5, 6, 7])
        assert labels.labels_at([]).tolist() == []

    def test_labels_at_scale_one(self, labels: LabelMapAPI) -> None:
        labels.put_subvolume(np.full((32, 32, 32), 2**45 + 3, np.uint64), (0, 0, 0))
        assert labels.labels_at([[3, 4, 5], [20, 0, 0]], scale=1).tolist() == [2**45 + 3, 0]
        assert labels.label_at((15, 15, 15), scale=1) == 2**45 + 3

    @pytest.mark.parametrize(
        "points",
        [[[1, 2]], [[1.5, 2, 3]], [[1, 2, 3], [4, 5]], [[0, 0, 2**31]], "1,2,3"],
        ids=["two-numbers", "float", "ragged", "beyond-int32", "string"],
    )
    def test_bad_points_are_bad_requests(self, labels: LabelMapAPI, points: Any) -> None:
        with pytest.raises(BadRequestError):
            labels.labels_at(points)

    def test_bad_point_or_scale_for_one_label(self, labels: LabelMapAPI) -> None:
        with pytest.raises(BadRequestError):
            labels.label_at((1, 2))
        with pytest.raises(BadRequestError):
            labels.label_at((1, 2, 3), scale=2)
        with pytest.raises(BadRequestError):
            labels.labels_at([[1, 2, 3]], scale=-1)

    # ---------------------------------------------------------- counters
    def test_max_label_follows_writes(self, labels: LabelMapAPI) -> None:
        assert labels.max_label() == 0
        labels.put_subvolume(np.asarray([[[7, 2**50, 3]]], np.uint64), (0, 0, 0))
        assert labels.max_label() == 2**50
        labels.put_subvolume(np.asarray([[[9]]], np.uint64), (5, 5, 5))
        assert labels.max_label() == 2**50

    def test_reserve_labels_hands_out_fresh_ranges(self, labels: LabelMapAPI) -> None:
        labels.put_subvolume(np.asarray([[[41]]], np.uint64), (0, 0, 0))
        first = labels.next_label()
        assert first == 42
        assert labels.reserve_labels(5) == (42, 46)
        assert labels.next_label() == 47
        assert labels.reserve_labels(1) == (47, 47)

    @pytest.mark.parametrize("count", [0, -3, 2**41, True, 2.0, "5"])
    def test_bad_reservations_reserve_nothing(self, labels: LabelMapAPI, count: Any) -> None:
        before = labels.next_label()
        with pytest.raises(BadRequestError):
            labels.reserve_labels(count)
        assert labels.next_label() == before

    def test_reservations_on_a_committed_node_are_refused(self, backend: Backend) -> None:
        labels = backend.new(self.typename, self.config)
        assert isinstance(labels, LabelMapAPI)
        labels.put_subvolume(np.asarray([[[5]]], np.uint64), (0, 0, 0))
        old = backend.commit(labels)
        assert isinstance(old, LabelMapAPI)
        with pytest.raises(LockedNodeError):
            old.reserve_labels(3)
        assert old.next_label() == 6 and old.max_label() == 5 and old.label_at((0, 0, 0)) == 5

    # ---------------------------------------------------------- proofreading
    def test_sizes_sparsevol_and_mutations(self, labels: LabelMapAPI) -> None:
        vol = np.zeros((16, 16, 32), np.uint64)
        vol[:, :, :10], vol[:, :, 10:20], vol[:, :, 20:] = 2**40 + 1, 2**40 + 2, 2**40 + 3
        a, b, c = 2**40 + 1, 2**40 + 2, 2**40 + 3
        labels.put_subvolume(vol, (0, 0, 16))
        assert labels.size(a) == 16 * 16 * 10
        assert labels.sizes([a, c, 12345]) == [16 * 16 * 10, 16 * 16 * 12, 0]
        runs = labels.sparsevol(b)
        np.testing.assert_array_equal(runs.voxels_zyx(), np.argwhere(vol == b) + (0, 0, 16))
        bounded = labels.sparsevol(b, bounds=Box((2, 3, 0), (4, 5, 100)))
        assert bounded.num_voxels == 2 * 2 * 10
        with pytest.raises(NotFoundError):
            labels.size(12345)
        mut = labels.merge(a, [b])
        assert labels.supervoxels(a).tolist() == [a, b]
        assert labels.mapping([b, a, 999]).tolist() == [a, a, 0]
        assert labels.label_at((16 + 12, 0, 0)) == a
        new, mut2 = labels.cleave(a, [b])
        assert mut2 > mut and labels.size(new) == 16 * 16 * 10
        pts = np.argwhere(vol == c)[:100] + (0, 0, 16)
        split, _ = labels.split(c, Runs(pts, np.ones(len(pts), np.int64)))
        assert labels.size(split) == 100 and labels.size(c) == 16 * 16 * 12 - 100
        with pytest.raises(BadRequestError):
            labels.merge(a, [a])
        with pytest.raises(BadRequestError):
            labels.cleave(a, [c])


class TestLocalLabelMap(LocalSide, LabelMapContract):
    """LabelMap (datatypes/labelmap/ops.py) on a RocksDB repository."""


class TestRemoteLabelMap(RemoteSide, LabelMapContract):
    """RemoteLabelMap (api/remote/imageblk.py) against a real dvidctl serve."""
