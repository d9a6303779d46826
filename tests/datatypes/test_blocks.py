"""Block keys and the generic block engine (dvidctl/datatypes/blocks.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes.imageblk import blockvolume as blocks
from dvidctl.datatypes.imageblk import parallel
from dvidctl.datatypes.imageblk.blockvolume import (
    TKEY_LEN,
    block_tkey,
    block_tkeys,
    decode_block_tkey,
    decode_block_tkeys,
    describe_block_tkey,
    scale_range,
)
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box

coord = st.integers(INT32_MIN, INT32_MAX)


@given(st.integers(0, 255), coord, coord, coord)
def test_tkey_round_trip(scale: int, z: int, y: int, x: int) -> None:
    tk = block_tkey(186, scale, z, y, x)
    assert len(tk) == TKEY_LEN and tk[:2] == bytes([186, scale])
    assert decode_block_tkey(tk) == (scale, (z, y, x))
    assert block_tkeys(186, scale, np.array([[z, y, x]])) == [tk]


@given(st.lists(st.tuples(coord, coord, coord), min_size=2, max_size=30))
def test_tkey_byte_order_is_zyx_numeric_order(coords: list[tuple[int, int, int]]) -> None:
    keys = block_tkeys(23, 0, np.array(coords, dtype=np.int64))
    by_bytes = [decode_block_tkey(k)[1] for k in sorted(keys)]
    assert by_bytes == sorted(coords)


def test_vectorized_keys_match_scalar() -> None:
    rng = np.random.default_rng(0)
    c = rng.integers(-1000, 1000, (500, 3))
    keys = block_tkeys(23, 3, c)
    assert keys == [block_tkey(23, 3, *map(int, row)) for row in c]
    scales, back = decode_block_tkeys(keys)
    assert (scales == 3).all() and np.array_equal(back, c)


def test_tkey_refuses_out_of_range() -> None:
    with pytest.raises(BadRequestError):
        block_tkey(23, 0, 0, 0, INT32_MAX + 1)
    with pytest.raises(BadRequestError):
        block_tkeys(23, 0, np.array([[INT32_MIN - 1, 0, 0]]))
    with pytest.raises(BadRequestError):
        block_tkey(23, 256, 0, 0, 0)


def test_scale_range_and_describe() -> None:
    start, stop = scale_range(186, 2)
    assert start <= block_tkey(186, 2, INT32_MIN, INT32_MIN, INT32_MIN)
    assert block_tkey(186, 2, INT32_MAX, INT32_MAX, INT32_MAX) < stop  # type: ignore[operator]
    assert block_tkey(186, 3, INT32_MIN, 0, 0) >= stop  # type: ignore[operator]
    assert describe_block_tkey(block_tkey(186, 1, -3, 2, 1)) == "block s1 (x,y,z)=(1,2,-3)"


def test_parallel_map_keeps_order_and_raises() -> None:
    assert parallel_map(lambda v: v * 2, list(range(100))) == [v * 2 for v in range(100)]

    def boom(v: int) -> int:
        if v == 37:
            raise ValueError("bad item")
        return v

    with pytest.raises(ValueError, match="bad item"):
        parallel_map(boom, list(range(100)))


def test_set_threads_one_runs_inline() -> None:
    try:
        parallel.set_threads(1)
        assert parallel_map(lambda v: v + 1, [1, 2, 3]) == [2, 3, 4]
    finally:
        parallel.set_threads(2)
    with pytest.raises(BadRequestError):
        parallel.set_threads(0)


@pytest.fixture
def gray(mem_repo: Repository):  # type: ignore[no-untyped-def]
    mem_repo.new_instance("uint8blk", "g", {"BlockSize": "8,8,8", "Background": "7"})
    return mem_repo.head.instance("g")


def test_read_fills_missing_blocks_with_background(gray) -> None:  # type: ignore[no-untyped-def]
    data = np.arange(8 * 8 * 8, dtype=np.uint8).reshape(8, 8, 8)
    gray.put_subvolume(data, (8, 0, -8))
    out = gray.blocks.read(Box((0, 0, -16), (24, 8, 8)), 0)
    assert (out[8:16, :, 8:16] == data).all()
    mask = np.ones(out.shape, bool)
    mask[8:16, :, 8:16] = False
    assert (out[mask] == 7).all()


def test_read_skip_leaves_inner_blocks(gray) -> None:  # type: ignore[no-untyped-def]
    gray.put_subvolume(np.full((16, 16, 16), 3, np.uint8), (0, 0, 0))
    out = np.full((16, 16, 16), 99, np.uint8)
    gray.blocks.read(Box((0, 0, 0), (16, 16, 16)), 0, out, skip=Box((0, 0, 0), (8, 16, 16)))
    assert (out[:8] == 99).all() and (out[8:] == 3).all()


def test_payloads_and_coords(gray) -> None:  # type: ignore[no-untyped-def]
    gray.put_subvolume(np.ones((8, 8, 24), np.uint8), (0, 8, -8))
    coords = gray.blocks.block_coords(0)
    assert coords.tolist() == [[0, 1, -1], [0, 1, 0], [0, 1, 1]]
    found = gray.blocks.payloads(0, np.array([[0, 1, 0], [0, 1, 5], [3, 3, 3]]))
    assert list(found) == [(0, 1, 0)]


def test_values_at(gray) -> None:  # type: ignore[no-untyped-def]
    data = np.random.default_rng(1).integers(0, 255, (10, 11, 12), dtype=np.uint8)
    gray.put_subvolume(data, (-3, 2, 5))
    pts = np.array([[-3, 2, 5], [6, 12, 16], [0, 5, 9], [100, 100, 100]])
    got = gray.blocks.values_at(0, pts)
    assert got.tolist() == [data[0, 0, 0], data[9, 10, 11], data[3, 3, 4], 7]


_CACHE: dict[str, object] = {}


def _written_volume():  # type: ignore[no-untyped-def]
    """One instance with random voxels at [-24, 24)^3, shared by the property examples."""
    if not _CACHE:
        repo = Repository.memory()
        repo.new_instance("uint8blk", "g", {"BlockSize": "8,8,8"})
        ref = np.random.default_rng(0).integers(1, 255, (48, 48, 48), dtype=np.uint8)
        repo.head.instance("g").put_subvolume(ref, (-24, -24, -24))
        padded = np.zeros((112, 112, 112), np.uint8)  # covers [-56, 56)^3
        padded[32:80, 32:80, 32:80] = ref
        _CACHE.update(inst=repo.head.instance("g"), padded=padded)
    return _CACHE["inst"], _CACHE["padded"]


@settings(max_examples=40)
@given(
    st.tuples(st.integers(-30, 20), st.integers(-30, 20), st.integers(-30, 20)),
    st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 30)),
)
def test_read_any_box_matches_numpy(
    start: tuple[int, int, int], shape: tuple[int, int, int]
) -> None:
    g, padded = _written_volume()
    box = Box.from_shape(shape, start)
    want = padded[tuple(slice(s + 56, s + 56 + n) for s, n in zip(start, shape, strict=True))]
    assert np.array_equal(g.blocks.read(box, 0), want)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("parallel_min", "slab"), [(10**9, 512), (2, 1), (2, 3)])
def test_serial_and_slabbed_reads_match(
    monkeypatch: pytest.MonkeyPatch, parallel_min: int, slab: int
) -> None:
    g, padded = _written_volume()
    monkeypatch.setattr(blocks, "_PARALLEL_BLOCKS", parallel_min)
    monkeypatch.setattr(blocks, "_SLAB_BLOCKS", slab)
    box = Box((-30, -27, -33), (40, 41, 42))
    want = padded[26:96, 29:97, 23:98]
    assert np.array_equal(g.blocks.read(box, 0), want)  # type: ignore[attr-defined]
