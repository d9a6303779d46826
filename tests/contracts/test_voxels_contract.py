"""The VoxelsAPI contract, run on local and remote uint8blk (labelmap reuses it)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from dvidctl.datatypes.imageblk.protocol import VoxelsAPI
from dvidctl.errors import BadRequestError, LockedNodeError
from dvidctl.geometry import Box
from tests.contracts.conftest import Backend, LocalSide, RemoteSide

BAD_SCALES: list[Any] = [2, -1, True, "1", 1.0, None]


class VoxelsContract:
    """What every :class:`VoxelsAPI` must do. Subclasses provide ``backend``."""

    typename: ClassVar[str] = "uint8blk"
    config: ClassVar[dict[str, str]] = {
        "BlockSize": "16,16,16",
        "MaxDownresLevel": "1",
        "Background": "9",
    }
    background: ClassVar[int] = 9

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def vol(self, backend: Backend) -> VoxelsAPI:
        inst = backend.new(self.typename, self.config)
        assert isinstance(inst, VoxelsAPI)
        return inst

    def random(self, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
        """Random voxels of this type, never equal to the background."""
        rng = np.random.default_rng(seed)
        return rng.integers(10, 250, shape).astype(self.dtype_of())

    def dtype_of(self) -> np.dtype[Any]:
        return np.dtype(np.uint8)

    # -------------------------------------------------------------- shape
    def test_properties(self, vol: VoxelsAPI) -> None:
        assert vol.typename == self.typename
        assert vol.dtype == self.dtype_of()
        assert vol.block_shape == (16, 16, 16)
        assert vol.max_downres == 1
        assert vol.background == self.background
        assert vol.voxel_size == (8.0, 8.0, 8.0)
        assert vol.extents() is None
        assert vol.info()["Base"]["Name"] == vol.name

    # ------------------------------------------------------- subvolumes
    def test_unaligned_round_trip_with_background_around(self, vol: VoxelsAPI) -> None:
        data = self.random((9, 20, 37))
        box = vol.put_subvolume(data, (3, -5, 17))
        assert box == Box((3, -5, 17), (12, 15, 54))
        assert np.array_equal(vol.get_subvolume(box), data)
        around = Box((0, -8, 10), (14, 18, 60))
        want = np.full(around.shape, self.background, vol.dtype)
        want[3:12, 3:23, 7:44] = data
        assert np.array_equal(vol.get_subvolume(around), want)
        inner = Box((4, 0, 20), (7, 9, 50))
        assert np.array_equal(vol.get_subvolume(inner), data[1:4, 5:14, 3:33])

    def test_partial_overwrite_keeps_the_rest(self, vol: VoxelsAPI) -> None:
        base = self.random((20, 20, 20), seed=1)
        vol.put_subvolume(base, (0, 0, 0))
        patch = self.random((3, 5, 7), seed=2)
        vol.put_subvolume(patch, (10, 11, 12))
        want = base.copy()
        want[10:13, 11:16, 12:19] = patch
        assert np.array_equal(vol.get_subvolume(Box((0, 0, 0), (20, 20, 20))), want)

    def test_extents_grow_with_writes(self, vol: VoxelsAPI) -> None:
        vol.put_subvolume(self.random((2, 3, 4)), (1, 2, 3))
        assert vol.extents() == Box((1, 2, 3), (3, 5, 7))
        vol.put_subvolume(self.random((1, 1, 1)), (-4, 10, 0))
        assert vol.extents() == Box((-4, 2, 0), (3, 11, 7))

    def test_read_into_out_and_empty_boxes(self, vol: VoxelsAPI) -> None:
        data = self.random((4, 5, 6))
        vol.put_subvolume(data, (0, 0, 0))
        out = np.zeros((4, 5, 6), vol.dtype)
        got = vol.get_subvolume(Box((0, 0, 0), (4, 5, 6)), out=out)
        assert got is out and np.array_equal(out, data)
        assert vol.get_subvolume(Box((0, 0, 0), (0, 5, 6))).shape == (0, 5, 6)

    def test_other_byte_order_is_accepted(self, vol: VoxelsAPI) -> None:
        data = self.random((2, 3, 4))
        vol.put_subvolume(data.astype(vol.dtype.newbyteorder(">")), (0, 0, 0))
        assert np.array_equal(vol.get_subvolume(Box((0, 0, 0), (2, 3, 4))), data)

    # ----------------------------------------------------- slices and arb
    def test_slices_are_planes_of_the_volume(self, vol: VoxelsAPI) -> None:
        data = self.random((10, 12, 14), seed=3)
        vol.put_subvolume(data, (0, 0, 0))
        assert np.array_equal(vol.get_slice("xy", (2, 3, 4), (9, 7)), data[4, 3:10, 2:11])
        assert np.array_equal(vol.get_slice("xz", (2, 3, 4), (9, 5)), data[4:9, 3, 2:11])
        assert np.array_equal(vol.get_slice("yz", (2, 3, 4), (6, 5)), data[4:9, 3:9, 2])
        with pytest.raises(BadRequestError):
            vol.get_slice("xq", (0, 0, 0), (4, 4))

    def test_arb_along_an_axis_is_a_slice(self, vol: VoxelsAPI) -> None:
        data = self.random((10, 12, 14), seed=4)
        vol.put_subvolume(data, (0, 0, 0))
        z, vs = 5, 8.0
        img = vol.get_arb(
            (2 * vs, 3 * vs, z * vs), (11 * vs, 3 * vs, z * vs), (2 * vs, 9 * vs, z * vs), vs
        )
        assert img.dtype == vol.dtype
        assert np.array_equal(img, data[z, 3:10, 2:12])

    # ------------------------------------------------------------ scales
    def test_scale_one_follows_writes_at_scale_zero(self, vol: VoxelsAPI) -> None:
        value = self.random((1, 1, 1), seed=5)[0, 0, 0]
        vol.put_subvolume(np.full((32, 32, 32), value, vol.dtype), (0, 0, 0))
        got = vol.get_subvolume(Box((0, 0, 0), (16, 16, 16)), scale=1)
        assert got.shape == (16, 16, 16) and (got == value).all()
        assert vol.check_scale(1) == 1 and vol.check_scale(0) == 0

    def test_writes_at_scale_one(self, vol: VoxelsAPI) -> None:
        data = self.random((5, 6, 7), seed=6)
        assert vol.put_subvolume(data, (1, 2, 3), scale=1) == Box((1, 2, 3), (6, 8, 10))
        assert np.array_equal(vol.get_subvolume(Box((1, 2, 3), (6, 8, 10)), scale=1), data)
        assert vol.extents() is None  # only scale-0 writes set the extents

    @pytest.mark.parametrize("scale", BAD_SCALES)
    def test_scales_not_stored_are_bad_requests(self, vol: VoxelsAPI, scale: Any) -> None:
        box = Box((0, 0, 0), (4, 4, 4))
        for call in (
            lambda: vol.check_scale(scale),
            lambda: vol.get_subvolume(box, scale),
            lambda: vol.put_subvolume(np.zeros((4, 4, 4), vol.dtype), (0, 0, 0), scale),
            lambda: vol.get_slice("xy", (0, 0, 0), (4, 4), scale),
        ):
            with pytest.raises(BadRequestError):
                call()
        assert vol.extents() is None

    # -------------------------------------------------------- bad input
    @pytest.mark.parametrize(
        "array",
        [
            np.zeros((2, 2), np.uint8),
            np.zeros((0, 2, 2), np.uint8),
            np.zeros((2, 2, 2), np.float32),
            np.zeros((2, 2, 2), np.int16),
            [[[1]]],
        ],
        ids=["2d", "empty", "float32", "int16", "list"],
    )
    def test_bad_arrays_write_nothing(self, vol: VoxelsAPI, array: Any) -> None:
        with pytest.raises(BadRequestError):
            vol.put_subvolume(array, (0, 0, 0))
        assert vol.extents() is None

    def test_the_other_voxel_dtype_is_refused(self, vol: VoxelsAPI) -> None:
        other = np.uint64 if vol.dtype == np.uint8 else np.uint8
        with pytest.raises(BadRequestError):
            vol.put_subvolume(np.ones((2, 2, 2), other), (0, 0, 0))
        assert vol.extents() is None

    def test_boxes_outside_int32_are_bad_requests(self, vol: VoxelsAPI) -> None:
        with pytest.raises(BadRequestError):
            vol.put_subvolume(self.random((2, 2, 2)), (0, 0, 2**31 - 1))
        with pytest.raises(BadRequestError):
            vol.get_subvolume(Box((0, 0, -(2**31) - 1), (1, 1, 0)))
        assert vol.extents() is None

    def test_writes_to_a_committed_node_are_refused(self, backend: Backend) -> None:
        vol = backend.new(self.typename, self.config)
        assert isinstance(vol, VoxelsAPI)
        data = self.random((3, 3, 3))
        vol.put_subvolume(data, (0, 0, 0))
        old = backend.commit(vol)
        assert isinstance(old, VoxelsAPI)
        with pytest.raises(LockedNodeError):
            old.put_subvolume(data, (3, 3, 3))
        assert np.array_equal(old.get_subvolume(Box((0, 0, 0), (3, 3, 3))), data)
        assert old.extents() == Box((0, 0, 0), (3, 3, 3))


class TestLocalUint8Blk(LocalSide, VoxelsContract):
    """Uint8Blk (datatypes/uint8blk/ops.py) on a RocksDB repository."""


class TestRemoteUint8Blk(RemoteSide, VoxelsContract):
    """RemoteVoxels (api/remote/imageblk.py) against a real dvidctl serve."""
