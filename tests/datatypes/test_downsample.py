"""Tests for dvidctl.datatypes.imageblk.downsample against slow reference implementations."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dvidctl.datatypes.imageblk.downsample as ds
from dvidctl.datatypes.imageblk.downsample import downsample_gray, downsample_labels
from tests.testdata import find_testdata

SAMPLES = [
    "fib19-64x64x64-sample1.dat.gz",
    "fib19-64x64x64-sample2.dat.gz",
    "cx-64x64x64-sample1.dat.gz",
    "cx-64x64x64-sample2.dat.gz",
]
MAX_U64 = 2**64 - 1


def dvid_testdata() -> Path:
    """The DVID test data directory (see tests/testdata.py)."""
    return find_testdata()


def load_sample(name: str) -> np.ndarray:
    raw = gzip.decompress((dvid_testdata() / name).read_bytes())
    return np.frombuffer(raw, "<u8").reshape(64, 64, 64)


# ----------------------------------------------------------------------------- references


def children_of(vol: np.ndarray, z: int, y: int, x: int) -> list[int]:
    """The children of output voxel (z, y, x) that exist (odd dims have fewer at the end)."""
    return [int(v) for v in vol[2 * z : 2 * z + 2, 2 * y : 2 * y + 2, 2 * x : 2 * x + 2].ravel()]


def reference_mode(children: list[int]) -> int:
    votes = Counter(c for c in children if c != 0)
    if not votes:
        return 0
    best = max(votes.values())
    return min(label for label, n in votes.items() if n == best)


def reference_labels(vol: np.ndarray) -> np.ndarray:
    shape = tuple((n + 1) // 2 for n in vol.shape)
    out = np.zeros(shape, vol.dtype)
    for z, y, x in np.ndindex(*shape):
        out[z, y, x] = reference_mode(children_of(vol, z, y, x))
    return out


def reference_gray(vol: np.ndarray) -> np.ndarray:
    shape = tuple((n + 1) // 2 for n in vol.shape)
    out = np.zeros(shape, vol.dtype)
    for z, y, x in np.ndindex(*shape):
        kids = children_of(vol, z, y, x)
        total, count = sum(kids), len(kids)
        out[z, y, x] = (2 * total + count) // (2 * count)  # round half up
    return out


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "children,expected",
    [
        ([0] * 8, 0),
        ([0] * 7 + [9], 9),
        ([5, 5, 3, 3, 0, 0, 0, 0], 3),
        ([7, 7, 7, 7, 2, 2, 2, 2], 2),
        ([1, 2, 3, 4, 5, 6, 7, 8], 1),
        ([8, 7, 6, 5, 4, 3, 2, 1], 1),
        ([4, 0, 4, 0, 0, 0, 6, 0], 4),
        ([6, 6, 6, 1, 1, 0, 0, 0], 6),
        ([0, 0, 0, 0, 0, 0, 3, 3], 3),
        ([9, 1, 9, 1, 9, 1, 2, 2], 1),
        ([MAX_U64, 0, 0, 0, 0, 0, 0, 0], MAX_U64),
        ([MAX_U64, MAX_U64 - 1, 0, 0, 0, 0, 0, 0], MAX_U64 - 1),
        ([MAX_U64, MAX_U64, 5, 0, 0, 0, 0, 0], MAX_U64),
        ([2**63, 1, 2**63, 1, 0, 0, 0, 0], 1),
    ],
)
def test_mode_cases(children: list[int], expected: int) -> None:
    vol = np.array(children, np.uint64).reshape(2, 2, 2)
    assert reference_mode(children) == expected
    out = downsample_labels(vol)
    assert out.shape == (1, 1, 1) and out.dtype == np.uint64
    assert int(out[0, 0, 0]) == expected
    # Every child position is treated alike.
    for perm in np.random.default_rng(0).permuted(np.tile(np.arange(8), (5, 1)), axis=1):
        assert int(downsample_labels(vol.ravel()[perm].reshape(2, 2, 2))[0, 0, 0]) == expected


@pytest.mark.parametrize("name", SAMPLES)
def test_real_samples_match_reference(name: str) -> None:
    vol = load_sample(name)
    out = downsample_labels(vol)
    assert out.shape == (32, 32, 32) and out.dtype == np.uint64
    np.testing.assert_array_equal(out, reference_labels(vol))


def test_real_sample_with_zeros_and_next_level() -> None:
    vol = load_sample("fib19-64x64x64-sample1.dat.gz").copy()
    rng = np.random.default_rng(5)
    vol[rng.random(vol.shape) < 0.4] = 0
    vol[:16, :16, :16] = 0
    level1 = downsample_labels(vol)
    np.testing.assert_array_equal(level1, reference_labels(vol))
    assert (level1[:8, :8, :8] == 0).all()
    np.testing.assert_array_equal(downsample_labels(level1), reference_labels(level1))


@st.composite
def small_label_volumes(draw: st.DrawFn) -> np.ndarray:
    shape = tuple(draw(st.integers(1, 9)) for _ in range(3))
    pool = draw(
        st.lists(st.one_of(st.integers(0, 4), st.integers(0, MAX_U64)), min_size=1, max_size=6)
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.choice(np.array(pool, np.uint64), size=shape)


@settings(max_examples=200, deadline=None)
@given(small_label_volumes())
def test_labels_random_vs_reference(vol: np.ndarray) -> None:
    """Includes odd dims: missing children count as 0, i.e. are ignored."""
    np.testing.assert_array_equal(downsample_labels(vol), reference_labels(vol))


def test_random_few_labels_many_ties() -> None:
    rng = np.random.default_rng(2)
    vol = rng.integers(0, 4, size=(16, 24, 32), dtype=np.uint64)
    np.testing.assert_array_equal(downsample_labels(vol), reference_labels(vol))


def test_slabs(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 5, size=(22, 10, 6), dtype=np.uint64)
    expected = reference_labels(vol)
    monkeypatch.setattr(ds, "_SLAB_VOXELS", 7)
    np.testing.assert_array_equal(downsample_labels(vol), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.int64])
def test_label_dtypes_preserved(dtype: type) -> None:
    rng = np.random.default_rng(4)
    vol = rng.integers(0, 7, size=(4, 6, 8)).astype(dtype)
    out = downsample_labels(vol)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, reference_labels(vol))


def test_non_contiguous_input() -> None:
    vol = load_sample("cx-64x64x64-sample1.dat.gz")[:, ::2, :]
    np.testing.assert_array_equal(downsample_labels(vol), reference_labels(vol))


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint64), np.zeros((2, 2, 2), np.float32)])
def test_labels_reject_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        downsample_labels(bad)


# ----------------------------------------------------------------------------- grayscale


@pytest.mark.parametrize(
    "children,expected",
    [
        ([0] * 8, 0),
        ([255] * 8, 255),
        ([1] * 4 + [2] * 4, 2),
        ([0] * 4 + [1] * 4, 1),
        ([0] * 5 + [1] * 3, 0),
        ([0] * 7 + [4], 1),
        ([0] * 7 + [3], 0),
        ([255] * 7 + [0], 223),
        ([10, 20, 30, 40, 50, 60, 70, 80], 45),
    ],
)
def test_gray_rounding(children: list[int], expected: int) -> None:
    vol = np.array(children, np.uint8).reshape(2, 2, 2)
    assert int(downsample_gray(vol)[0, 0, 0]) == expected
    assert int(reference_gray(vol)[0, 0, 0]) == expected


@settings(max_examples=150, deadline=None)
@given(st.tuples(*(st.integers(1, 9) for _ in range(3))), st.integers(0, 2**32 - 1))
def test_gray_random_vs_reference(shape: tuple[int, int, int], seed: int) -> None:
    vol = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    out = downsample_gray(vol)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, reference_gray(vol))


def test_gray_large_and_uint16() -> None:
    rng = np.random.default_rng(6)
    vol = rng.integers(0, 256, size=(32, 48, 64), dtype=np.uint8)
    np.testing.assert_array_equal(downsample_gray(vol), reference_gray(vol))
    v16 = rng.integers(0, 2**16, size=(6, 7, 8), dtype=np.uint16)
    out = downsample_gray(v16)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, reference_gray(v16))


def test_gray_from_real_labels() -> None:
    """Low bytes of real segmentations: structured, non-random grayscale."""
    vol = (load_sample("fib19-64x64x64-sample2.dat.gz") & np.uint64(0xFF)).astype(np.uint8)
    np.testing.assert_array_equal(downsample_gray(vol), reference_gray(vol))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.uint8),
        np.zeros((2, 2, 2), np.int8),
        np.zeros((2, 2, 2), np.uint64),
        np.zeros((2, 2, 2), np.float32),
    ],
)
def test_gray_rejects_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        downsample_gray(bad)
