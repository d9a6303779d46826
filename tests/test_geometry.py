"""Tests for dvidctl.geometry: x_y_z parsing, ZYX boxes, block ranges, size limits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvidctl.errors import BadRequestError
from dvidctl.geometry import (
    INT32_MAX,
    INT32_MIN,
    Box,
    check_voxel_budget,
    default_budget_bytes,
    format_xyz,
    iter_block_coords,
    parse_floats,
    parse_xyz,
)

int32s = st.integers(INT32_MIN, INT32_MAX)
coords = st.integers(-40, 40)
sizes = st.integers(0, 12)
block_shapes = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))


@st.composite
def boxes(draw: st.DrawFn, max_size: int = 12) -> Box:
    start = draw(st.tuples(coords, coords, coords))
    shape = draw(st.tuples(*[st.integers(0, max_size)] * 3))
    return Box.from_shape(shape, start)


# ---------------------------------------------------------------- parsing


@given(
    st.lists(int32s, min_size=1, max_size=4), st.sampled_from([",", "_", " ", ", ", " _ ", "  "])
)
def test_parse_round_trip(values: list[int], sep: str) -> None:
    text = sep.join(str(v) for v in values)
    assert parse_xyz(text, len(values)) == tuple(values)
    assert parse_xyz(format_xyz(values), len(values)) == tuple(values)


def test_parse_examples() -> None:
    assert parse_xyz("1,2,3") == (1, 2, 3)
    assert parse_xyz("1_2_3") == (1, 2, 3)
    assert parse_xyz(" 1 2 3 ") == (1, 2, 3)
    assert parse_xyz("-1_+2_0") == (-1, 2, 0)
    assert parse_xyz("512_256", 2, name="size", allow_negative=False) == (512, 256)


@pytest.mark.parametrize(
    ("text", "n", "fragment"),
    [
        ("1_2", 3, "exactly 3"),
        ("1_2_3_4", 3, "exactly 3"),
        ("", 3, "empty"),
        ("   ", 3, "empty"),
        ("1__2_3", 3, "exactly 3"),
        ("_1_2_3", 3, "exactly 3"),
        ("a_2_3", 3, "not an integer"),
        ("1.5_2_3", 3, "not an integer"),
        ("1e3_2_3", 3, "not an integer"),
        ("0x10_2_3", 3, "not an integer"),
        (f"{INT32_MAX + 1}_0_0", 3, "32-bit"),
        (f"0_{INT32_MIN - 1}_0", 3, "32-bit"),
    ],
)
def test_parse_errors(text: str, n: int, fragment: str) -> None:
    with pytest.raises(BadRequestError, match=fragment) as info:
        parse_xyz(text, n)
    assert "\n" not in str(info.value)


def test_parse_negative_refused_for_sizes() -> None:
    with pytest.raises(BadRequestError, match="y must not be negative") as info:
        parse_xyz("4_-1_2", name="size", allow_negative=False)
    assert "size" in str(info.value)


def test_parse_error_has_hint() -> None:
    with pytest.raises(BadRequestError) as info:
        parse_xyz("1_2", name="offset")
    assert info.value.hint is not None and "10_20_30" in info.value.hint


def test_parse_floats() -> None:
    assert parse_floats("100.2_90_80.7") == (100.2, 90.0, 80.7)
    assert parse_floats("-1e2,3,4") == (-100.0, 3.0, 4.0)
    for bad in ("nan_1_2", "inf_1_2", "x_1_2", "1_2"):
        with pytest.raises(BadRequestError):
            parse_floats(bad)


# ---------------------------------------------------------------- Box basics


@given(st.tuples(coords, coords, coords), st.tuples(sizes, sizes, sizes))
def test_box_from_xyz(offset: tuple[int, int, int], size: tuple[int, int, int]) -> None:
    box = Box.from_xyz(offset, size)
    assert box.offset_xyz == offset
    assert box.size_xyz == size
    assert box.shape == size[::-1]
    assert box.start == offset[::-1]
    assert box.nvoxels == math.prod(size)
    assert np.zeros(box.shape).size == box.nvoxels


def test_box_validation() -> None:
    with pytest.raises(BadRequestError):
        Box((0, 0, 0), (1, -1, 1))
    with pytest.raises(BadRequestError):
        Box.from_xyz((0, 0, 0), (1, -1, 1))
    with pytest.raises(BadRequestError):
        Box((0, 0), (1, 1))  # type: ignore[arg-type]
    box = Box(np.array([1, 2, 3]), [4, 5, 6])  # type: ignore[arg-type]
    assert box.start == (1, 2, 3) and all(type(v) is int for v in box.start + box.stop)
    assert hash(box) == hash(Box((1, 2, 3), (4, 5, 6)))


def _mask(box: Box, origin: int = -60, n: int = 120) -> np.ndarray:
    mask = np.zeros((n, n, n), bool)
    mask[tuple(slice(a - origin, b - origin) for a, b in zip(box.start, box.stop, strict=True))] = (
        True
    )
    return mask


@given(boxes(), boxes())
def test_intersect_union_contains(a: Box, b: Box) -> None:
    inter = a.intersect(b)
    both = _mask(a) & _mask(b)
    if inter is None:
        assert not both.any()
    else:
        assert np.array_equal(_mask(inter), both)
        assert a.contains(inter) and b.contains(inter)
    union = a.union(b)
    assert union.contains(a) or a.is_empty
    assert union.contains(b) or b.is_empty
    assert a.contains(a)


@given(boxes(max_size=5), st.tuples(coords, coords, coords))
def test_contains_point(box: Box, point: tuple[int, int, int]) -> None:
    inside = all(s <= p < e for s, p, e in zip(box.start, point, box.stop, strict=True))
    assert box.contains(point) == inside


@given(boxes(), st.tuples(sizes, sizes, sizes), st.tuples(sizes, sizes, sizes))
def test_slices_in_matches_numpy(
    inner: Box, before: tuple[int, ...], after: tuple[int, ...]
) -> None:
    outer = Box(
        tuple(s - d for s, d in zip(inner.start, before, strict=True)),  # type: ignore[arg-type]
        tuple(e + d for e, d in zip(inner.stop, after, strict=True)),  # type: ignore[arg-type]
    )
    z, y, x = np.meshgrid(
        *(np.arange(a, b) for a, b in zip(outer.start, outer.stop, strict=True)), indexing="ij"
    )
    got = np.stack([z, y, x], axis=-1)[inner.slices_in(outer)]
    assert got.shape[:3] == inner.shape
    if inner.nvoxels:
        assert tuple(got[0, 0, 0]) == inner.start
        assert tuple(got[-1, -1, -1]) == tuple(v - 1 for v in inner.stop)


def test_slices_in_refuses_outside() -> None:
    with pytest.raises(BadRequestError):
        Box((0, 0, 0), (4, 4, 4)).slices_in(Box((1, 0, 0), (8, 8, 8)))


# ---------------------------------------------------------------- blocks


@given(boxes(), block_shapes)
def test_block_range_brute_force(box: Box, bs: tuple[int, int, int]) -> None:
    bstart, bstop = box.block_range(bs)
    if box.is_empty:
        assert bstart == bstop
        return
    for axis in range(3):
        touched = {math.floor(v / bs[axis]) for v in range(box.start[axis], box.stop[axis])}
        assert bstart[axis] == min(touched)
        assert bstop[axis] == max(touched) + 1


def test_block_range_negative_examples() -> None:
    assert Box((-1, -1, -1), (0, 0, 0)).block_range((64, 64, 64)) == ((-1, -1, -1), (0, 0, 0))
    assert Box((-64, 0, 1), (-63, 64, 65)).block_range((64, 64, 64)) == ((-1, 0, 0), (0, 1, 2))
    with pytest.raises(BadRequestError):
        Box((0, 0, 0), (1, 1, 1)).block_range((0, 1, 1))


@given(boxes(), block_shapes)
def test_aligned_to_and_is_aligned(box: Box, bs: tuple[int, int, int]) -> None:
    aligned = box.aligned_to(bs)
    assert aligned.is_aligned(bs)
    assert aligned.contains(box)
    if not box.is_empty:
        assert aligned.block_range(bs) == box.block_range(bs)
    assert box.is_aligned(bs) == (aligned == box)


@given(boxes(), st.integers(0, 4))
def test_scaled_down_covers_tightly(box: Box, levels: int) -> None:
    scaled = box.scaled_down(levels)
    f = 2**levels
    for axis in range(3):
        cells = {v // f for v in range(box.start[axis], box.stop[axis])}
        if cells:
            assert (scaled.start[axis], scaled.stop[axis]) == (min(cells), max(cells) + 1)
    with pytest.raises(BadRequestError):
        box.scaled_down(-1)


@given(st.tuples(coords, coords, coords), st.tuples(sizes, sizes, sizes))
def test_iter_block_coords_order(bstart: tuple[int, int, int], n: tuple[int, int, int]) -> None:
    bstop = tuple(a + b for a, b in zip(bstart, n, strict=True))
    got = iter_block_coords(bstart, bstop)
    expected = list(itertools.product(*(range(a, b) for a, b in zip(bstart, bstop, strict=True))))
    assert got.dtype == np.int32 and got.shape == (len(expected), 3)
    assert [tuple(r) for r in got.tolist()] == expected


def test_iter_block_coords_reversed_is_empty() -> None:
    assert iter_block_coords((0, 0, 5), (2, 2, 3)).shape == (0, 3)


# ---------------------------------------------------------------- budget


def test_budget() -> None:
    assert check_voxel_budget(10, 8, limit_bytes=80) == 80
    with pytest.raises(
        BadRequestError, match=r"11 voxels x 8 bytes = 88 bytes exceeds the allowed 80 bytes"
    ) as info:
        check_voxel_budget(11, 8, limit_bytes=80)
    assert info.value.hint
    with pytest.raises(BadRequestError, match="GiB"):
        check_voxel_budget(2**40, 8)
    with pytest.raises(BadRequestError):
        check_voxel_budget(-1, 1)
    limit = default_budget_bytes()
    assert 0 < limit <= 8 * 2**30
    assert check_voxel_budget(limit, 1) == limit
