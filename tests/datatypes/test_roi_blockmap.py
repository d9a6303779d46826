"""datatypes/roi/blockmap.py against voxel-by-voxel references; the strict ptquery parser."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl.datatypes.roi import blockmap
from dvidctl.datatypes.roi.spans import parse_point_list, to_blocks
from dvidctl.errors import BadRequestError


def reference_blocks(hit: np.ndarray, origin: tuple[int, ...], cell: tuple[int, ...]) -> set:  # type: ignore[type-arg]
    """Each true voxel's block, one voxel at a time."""
    return {
        tuple((int(v) + o) // c for v, o, c in zip(p, origin, cell, strict=True))
        for p in np.argwhere(hit)
    }


@settings(max_examples=60)
@given(
    shape=st.tuples(*[st.integers(1, 12)] * 3),
    origin=st.tuples(*[st.integers(-40, 40)] * 3),
    cell=st.tuples(*[st.integers(1, 7)] * 3),
    seed=st.integers(0, 2**16),
    density=st.sampled_from([0.0, 0.02, 0.3]),
)
def test_blocks_hit_matches_a_voxel_reference(
    shape: tuple[int, int, int],
    origin: tuple[int, int, int],
    cell: tuple[int, int, int],
    seed: int,
    density: float,
) -> None:
    hit = np.random.default_rng(seed).random(shape) < density
    got = blockmap.blocks_hit(hit, origin, cell)
    assert got.dtype == np.int64 and got.shape[1] == 3
    assert {tuple(b) for b in got.tolist()} == reference_blocks(hit, origin, cell)
    assert len(got) == len({tuple(b) for b in got.tolist()})  # each block once


def test_blocks_hit_of_a_label_block_in_a_finer_grid() -> None:
    hit = np.zeros((64, 64, 64), bool)
    hit[0, 0, 0] = hit[63, 40, 33] = True
    got = blockmap.blocks_hit(hit, (64, -64, 128), (32, 32, 32))
    assert sorted(map(tuple, got.tolist())) == [(2, -2, 4), (3, -1, 5)]


@settings(max_examples=40)
@given(
    nblocks=st.tuples(*[st.integers(1, 3)] * 3),
    block=st.tuples(*[st.integers(1, 4)] * 3),
    first=st.tuples(*[st.integers(-3, 3)] * 3),
    seed=st.integers(0, 2**16),
)
def test_mask_spans_matches_a_voxel_reference(
    nblocks: tuple[int, int, int],
    block: tuple[int, int, int],
    first: tuple[int, int, int],
    seed: int,
) -> None:
    shape = tuple(n * b for n, b in zip(nblocks, block, strict=True))
    mask = (np.random.default_rng(seed).random(shape) < 0.05).astype(np.uint8) * 7
    offset = tuple(f * b for f, b in zip(first, block, strict=True))
    spans = blockmap.mask_spans(mask, offset, block)
    got = {tuple(b) for b in to_blocks(spans).tolist()}
    assert got == reference_blocks(mask != 0, offset, block)


@pytest.mark.parametrize(
    ("mask", "offset", "text"),
    [
        (np.ones((4, 4, 5), np.uint8), (0, 0, 0), "multiples"),
        (np.ones((4, 4, 4), np.uint8), (0, 0, -2), "multiples"),
        (np.ones((4, 4, 4), np.float64), (0, 0, 0), "bool or integer"),
        (np.ones((4,), np.uint8), (0, 0, 0), "3D"),
        (np.ones((4, 4, 4), np.uint8), (0, 0, 2**33), "int32"),
    ],
    ids=["size", "offset", "float", "1d", "beyond-int32"],
)
def test_bad_masks(mask: np.ndarray, offset: tuple[int, int, int], text: str) -> None:
    with pytest.raises(BadRequestError, match=text):
        blockmap.mask_spans(mask, offset, (4, 4, 4))


def test_scale_cell() -> None:
    assert blockmap.scale_cell((32, 32, 32), 0) == (32, 32, 32)
    assert blockmap.scale_cell((32, 16, 64), 4) == (2, 1, 4)
    with pytest.raises(BadRequestError, match="too coarse"):
        blockmap.scale_cell((32, 32, 32), 6)
    with pytest.raises(BadRequestError):
        blockmap.scale_cell((32, 32, 32), -1)


def test_parse_point_list_reads_integers_as_dvid_does() -> None:
    got = parse_point_list([[1, 2, 3], [-4, 5, 2**31 - 1]])
    assert got.dtype == np.int64 and got.tolist() == [[1, 2, 3], [-4, 5, 2**31 - 1]]
    assert parse_point_list([]).shape == (0, 3)


@pytest.mark.parametrize(
    "points",
    [
        [[1.0, 2, 3]],
        [[1.5, 2, 3]],
        [[True, 2, 3]],
        [["1", 2, 3]],
        [[1, 2]],
        [[1, 2, 3, 4]],
        [[1, 2, 2**31]],
        [[None, 2, 3]],
        {"x": 1},
        "[[1,2,3]]",
    ],
    ids=["float-int", "float", "bool", "string", "two", "four", "beyond", "null", "object", "str"],
)
def test_parse_point_list_refuses(points: Any) -> None:
    with pytest.raises(BadRequestError):
        parse_point_list(points)
