"""The ROIAPI contract, run on the local instance and on the remote one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dvidctl.datatypes.roi.protocol import ROIAPI
from dvidctl.errors import BadRequestError, LockedNodeError
from dvidctl.geometry import Box
from tests.contracts.conftest import Backend, LocalSide, RemoteSide

#: Unsorted, overlapping, touching and repeated spans; normalised they are NORMAL.
MESSY = [
    [1, 0, 4, 5], [0, 0, 0, 1], [1, 0, 0, 2], [0, 0, 2, 3], [-1, 2, -2, -1], [1, 0, 3, 3],
    [0, 0, 0, 1],
]  # fmt: skip
#: MESSY as DVID stores it: one key per distinct span, in key order (z, y, x0, length).
STORED = [[-1, 2, -2, -1], [0, 0, 0, 1], [0, 0, 2, 3], [1, 0, 0, 2], [1, 0, 3, 3], [1, 0, 4, 5]]
NORMAL = [[-1, 2, -2, -1], [0, 0, 0, 3], [1, 0, 0, 5]]


def mask_of(spans: list[list[int]], box: Box, block: int) -> np.ndarray:
    """The mask :meth:`ROIAPI.mask` must return, voxel by voxel."""
    out = np.zeros(box.shape, np.uint8)
    (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
    z, y, x = np.meshgrid(
        np.arange(z0, z1) // block,
        np.arange(y0, y1) // block,
        np.arange(x0, x1) // block,
        indexing="ij",
    )
    for sz, sy, sx0, sx1 in spans:
        out[(z == sz) & (y == sy) & (x >= sx0) & (x <= sx1)] = 1
    return out


class ROIContract:
    """What every :class:`ROIAPI` must do. Subclasses provide ``backend``."""

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def roi(self, backend: Backend) -> ROIAPI:
        inst = backend.new("roi", {"BlockSize": "4,4,4"})
        assert isinstance(inst, ROIAPI)
        return inst

    def test_identity(self, roi: ROIAPI) -> None:
        assert roi.typename == "roi" and roi.block_size == (4, 4, 4)
        assert roi.get_spans() == []

    def test_spans_are_stored_as_given_and_read_as_their_union(self, roi: ROIAPI) -> None:
        assert roi.put_spans(MESSY) == len(STORED)
        assert roi.get_spans() == STORED  # as DVID's GET roi
        box = Box((-4, 0, -8), (8, 12, 24))
        np.testing.assert_array_equal(roi.mask(box), mask_of(NORMAL, box, 4))
        assert roi.put_spans(np.asarray([[3, 3, 3, 3]], np.int32)) == 1
        assert roi.get_spans() == [[3, 3, 3, 3]]  # put replaces

    def test_delete(self, roi: ROIAPI) -> None:
        roi.put_spans(NORMAL)
        assert roi.delete() == len(NORMAL)
        assert roi.get_spans() == []
        assert roi.delete() == 0

    def test_mask_of_unaligned_boxes(self, roi: ROIAPI) -> None:
        roi.put_spans(NORMAL)
        for box in (
            Box((-5, 6, -9), (7, 11, 25)),
            Box((0, 0, 0), (4, 4, 16)),
            Box((1, 1, 1), (2, 2, 2)),
        ):
            assert np.array_equal(roi.mask(box), mask_of(NORMAL, box, 4)), box
        empty = roi.mask(Box((0, 0, 0), (0, 3, 3)))
        assert empty.shape == (0, 3, 3) and empty.dtype == np.uint8

    def test_points(self, roi: ROIAPI) -> None:
        roi.put_spans(NORMAL)
        pts = [[0, 0, 0], [15, 3, 3], [16, 3, 3], [-8, 8, -4], [-8, 8, -5], [23, 0, 4]]
        assert roi.contains_points(pts).tolist() == [True, True, False, True, False, True]
        # floats are floored to the voxel that holds them: -0.5 is in voxel -1, block -1
        floats = [[-0.5, 8.2, -3.9], [3.99, 3.99, 3.99], [-0.5, 0.0, 0.0]]
        assert roi.contains_points(floats).tolist() == [True, True, False]
        got = roi.contains_points(np.empty((0, 3)))
        assert got.dtype == bool and got.shape == (0,)

    @pytest.mark.parametrize(
        "spans",
        [[[0, 0, 5, 4]], [[0, 0, 1]], [[0, 0, 1.5, 2]], [[0, 0, 0, 2**31]], "[[0,0,0,1]]"],
        ids=["x1<x0", "three", "float", "beyond-int32", "string"],
    )
    def test_bad_spans_write_nothing(self, roi: ROIAPI, spans: Any) -> None:
        roi.put_spans(NORMAL)
        with pytest.raises(BadRequestError):
            roi.put_spans(spans)
        assert roi.get_spans() == NORMAL

    @pytest.mark.parametrize(
        "points",
        [[[1, 2]], [[1, 2, 3], [4, 5]], [[0, 0, float("nan")]], [[0, 0, 2**40]], "1,2,3"],
        ids=["two-numbers", "ragged", "nan", "beyond-int32", "string"],
    )
    def test_bad_points_are_bad_requests(self, roi: ROIAPI, points: Any) -> None:
        with pytest.raises(BadRequestError):
            roi.contains_points(points)

    def test_put_mask_stores_the_blocks_with_a_set_voxel(self, roi: ROIAPI) -> None:
        mask = np.zeros((8, 4, 12), np.uint8)  # 2 x 1 x 3 blocks of 4^3 at block (-1, 2, 1)
        mask[0, 0, 0] = 1  # block (-1, 2, 1)
        mask[7, 3, 4:8] = 255  # block (0, 2, 2)
        mask[5, 1, 11] = 1  # block (0, 2, 3)
        assert roi.put_mask(mask, (-4, 8, 4)) == 2
        assert roi.get_spans() == [[-1, 2, 1, 1], [0, 2, 2, 3]]
        assert roi.put_mask(mask.astype(bool), (4, 8, 4)) == 2
        assert roi.get_spans() == [[1, 2, 1, 1], [2, 2, 2, 3]]

    @pytest.mark.parametrize(
        ("shape", "offset"),
        [((4, 4, 6), (0, 0, 0)), ((4, 4, 4), (0, 2, 0)), ((4, 4), (0, 0, 0))],
        ids=["size", "offset", "2d"],
    )
    def test_unaligned_masks_write_nothing(
        self, roi: ROIAPI, shape: tuple[int, ...], offset: tuple[int, int, int]
    ) -> None:
        roi.put_spans(NORMAL)
        with pytest.raises(BadRequestError, match="multiples of the ROI's block size"):
            roi.put_mask(np.ones(shape, np.uint8), offset)
        with pytest.raises(BadRequestError):
            roi.put_mask(np.ones((4, 4, 4), np.float32), (0, 0, 0))
        assert roi.get_spans() == NORMAL

    def test_mask_at_a_scale(self, roi: ROIAPI) -> None:
        roi.put_spans(NORMAL)
        box = Box((-3, 0, -5), (5, 7, 13))  # voxels of scale 1: blocks are 2^3 there
        np.testing.assert_array_equal(roi.mask(box, 1), mask_of(NORMAL, box, 2))
        np.testing.assert_array_equal(roi.mask(box, 2), mask_of(NORMAL, box, 1))
        with pytest.raises(BadRequestError, match="too coarse"):
            roi.mask(box, 3)

    def test_partition(self, roi: ROIAPI) -> None:
        roi.put_spans([[0, 0, 0, 3], [1, 0, 0, 3], [5, 1, 2, 2]])
        p = roi.partition(2)
        assert p["NumActiveBlocks"] == 9 and p["NumSubvolumes"] == len(p["Subvolumes"])
        assert sum(sv["ActiveBlocks"] for sv in p["Subvolumes"]) == 9
        first = p["Subvolumes"][0]
        assert first["MinPoint"] == [0, 0, 0] and first["MaxPoint"] == [7, 7, 7]
        opt = roi.partition(2, optimized=True)
        assert sum(sv["ActiveBlocks"] for sv in opt["Subvolumes"]) == 9
        with pytest.raises(BadRequestError):
            roi.partition(0)

    def test_writes_to_a_committed_node_are_refused(self, backend: Backend) -> None:
        roi = backend.new("roi", {"BlockSize": "4,4,4"})
        assert isinstance(roi, ROIAPI)
        roi.put_spans(NORMAL)
        old = backend.commit(roi)
        assert isinstance(old, ROIAPI)
        with pytest.raises(LockedNodeError):
            old.put_spans([[0, 0, 0, 0]])
        with pytest.raises(LockedNodeError):
            old.delete()
        assert old.get_spans() == NORMAL
        assert old.contains_points([[0, 0, 0]]).tolist() == [True]  # a query, not a write


class TestLocalROI(LocalSide, ROIContract):
    """ROI (datatypes/roi/ops.py) on a RocksDB repository."""


class TestRemoteROI(RemoteSide, ROIContract):
    """RemoteROI (api/remote/roi.py) against a real dvidctl serve."""
