"""Multiscale pyramids: incremental updates and rebuilds against direct numpy references."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.geometry import Box

LEVELS = 3
LO, HI = -32, 64  # reference region, a multiple of 2**LEVELS * block size on both ends


def naive_gray(vol: np.ndarray) -> np.ndarray:
    """Rounded mean (halves up) of each 2x2x2 cube; even shapes only."""
    z, y, x = vol.shape
    cubes = vol.reshape(z // 2, 2, y // 2, 2, x // 2, 2).astype(np.int64).sum(axis=(1, 3, 5))
    return ((cubes + 4) // 8).astype(vol.dtype)


def naive_labels(vol: np.ndarray) -> np.ndarray:
    """Most frequent non-zero label of each 2x2x2 cube, ties to the smaller; 0 if all 0."""
    z, y, x = vol.shape
    out = np.zeros((z // 2, y // 2, x // 2), vol.dtype)
    for k in range(z // 2):
        for j in range(y // 2):
            for i in range(x // 2):
                cube = vol[2 * k : 2 * k + 2, 2 * j : 2 * j + 2, 2 * i : 2 * i + 2].ravel()
                cube = cube[cube != 0]
                if cube.size:
                    vals, counts = np.unique(cube, return_counts=True)
                    out[k, j, i] = vals[
                        np.argmax(counts)
                    ]  # unique is sorted: ties go to the smaller
    return out


def _instance(repo: Repository, typename: str, **cfg: str):  # type: ignore[no-untyped-def]
    repo.new_instance(
        typename, "v", {"BlockSize": "16,16,16", "MaxDownresLevel": str(LEVELS), **cfg}
    )
    return repo.head.instance("v")


def _check_pyramid(inst, model: np.ndarray, reduce) -> None:  # type: ignore[no-untyped-def]
    level = model
    for scale in range(LEVELS + 1):
        lo, hi = LO // 2**scale, HI // 2**scale
        got = inst.get_subvolume(Box((lo,) * 3, (hi,) * 3), scale)
        assert np.array_equal(got, level), f"scale {scale}"
        level = reduce(level)


@settings(max_examples=6)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.integers(-30, 40), st.integers(-30, 40), st.integers(-30, 40)),
            st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(1, 24)),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_gray_pyramid_follows_unaligned_writes(writes: list) -> None:  # type: ignore[type-arg]
    repo = Repository.memory()
    inst = _instance(repo, "uint8blk", Background="40")
    model = np.full((HI - LO,) * 3, 40, np.uint8)
    rng = np.random.default_rng(len(writes))
    for start, shape in writes:
        shape = tuple(min(n, HI - s) for s, n in zip(start, shape, strict=True))
        data = rng.integers(0, 256, shape, dtype=np.uint8)
        inst.put_subvolume(data, start)
        model[tuple(slice(s - LO, s - LO + n) for s, n in zip(start, shape, strict=True))] = data
    _check_pyramid(inst, model, naive_gray)


def test_label_pyramid_follows_writes(testdata_dir: Path) -> None:
    sample = np.frombuffer(
        gzip.decompress((testdata_dir / "cx-64x64x64-sample2.dat.gz").read_bytes()), "<u8"
    ).reshape(64, 64, 64)
    repo = Repository.memory()
    inst = _instance(repo, "labelmap")
    model = np.zeros((HI - LO,) * 3, np.uint64)
    rng = np.random.default_rng(0)
    for start, (z, y, x) in [
        ((-3, 5, 7), (40, 30, 50)),
        ((20, -30, 1), (33, 60, 17)),
        ((0, 0, 0), (5, 5, 5)),
    ]:
        data = np.ascontiguousarray(sample[rng.integers(0, 64 - z) :][:z, :y, :x])
        if start == (0, 0, 0):
            data = np.zeros((z, y, x), np.uint64)  # erase a corner: zeros are ignored above
        inst.put_subvolume(data, start)
        model[
            start[0] - LO : start[0] - LO + z,
            start[1] - LO : start[1] - LO + y,
            start[2] - LO : start[2] - LO + x,
        ] = data
    _check_pyramid(inst, model, naive_labels)


@pytest.mark.parametrize("typename", ["uint8blk", "labelmap"])
def test_downres_rebuilds_and_drops_stale_blocks(mem_repo: Repository, typename: str) -> None:
    inst = _instance(mem_repo, typename)
    dtype = inst.dtype
    rng = np.random.default_rng(1)
    data = rng.integers(1, 6, (50, 40, 30)).astype(dtype)
    inst.put_subvolume(data, (-10, 3, 20))
    model = np.zeros((HI - LO,) * 3, dtype)
    model[-10 - LO : 40 - LO, 3 - LO : 43 - LO, 20 - LO : 50 - LO] = data
    inst.put_subvolume(np.full((16, 16, 16), 99, dtype), (0, 0, 0), scale=1)  # corrupt level 1
    inst.put_subvolume(np.full((16, 16, 16), 77, dtype), (160, 160, 160), scale=2)  # stale block
    counts = inst.downres()
    assert set(counts) == {1, 2, 3} and counts[3] >= 1
    reduce = naive_gray if typename == "uint8blk" else naive_labels
    _check_pyramid(inst, model, reduce)
    assert (inst.get_subvolume(Box((160,) * 3, (176,) * 3), 2) == 0).all()
    assert inst.blocks.block_coords(2).tolist() == [[-1, 0, 0], [0, 0, 0]]


def test_pyramid_is_versioned(mem_repo: Repository) -> None:
    inst = _instance(mem_repo, "uint8blk")
    inst.put_subvolume(np.full((32, 32, 32), 100, np.uint8))
    mem_repo.commit("base")
    mem_repo.branch("dev")
    mem_repo.checkout("dev")
    mem_repo.head.instance("v").put_subvolume(np.full((32, 32, 32), 200, np.uint8))  # type: ignore[attr-defined]
    box = Box((0, 0, 0), (4, 4, 4))
    dev = mem_repo.node("dev").instance("v").get_subvolume(box, 3)  # type: ignore[attr-defined]
    master = mem_repo.node("master").instance("v").get_subvolume(box, 3)  # type: ignore[attr-defined]
    assert (dev == 200).all() and (master == 100).all()


def test_slices_at_scale(mem_repo: Repository) -> None:
    inst = _instance(mem_repo, "uint8blk")
    vol = np.random.default_rng(2).integers(0, 256, (64, 64, 64), dtype=np.uint8)
    inst.put_subvolume(vol)
    level1 = naive_gray(vol)
    assert np.array_equal(inst.get_slice("xz", (2, 5, 3), (20, 12), scale=1), level1[3:15, 5, 2:22])


def test_write_at_a_scale_updates_the_levels_above_it(mem_repo: Repository) -> None:
    inst = _instance(mem_repo, "uint8blk")
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, (HI - LO,) * 3, dtype=np.uint8)
    inst.put_subvolume(base, (LO,) * 3)
    # overwrite part of scale 1 directly: scale 1 holds it, scales 2..3 follow, scale 0 keeps base
    s1 = naive_gray(base)
    patch = rng.integers(0, 256, (10, 12, 14), dtype=np.uint8)
    at = (-5, 3, 7)  # scale-1 voxel coordinates
    inst.put_subvolume(patch, at, scale=1)
    lo1 = LO // 2
    s1[tuple(slice(a - lo1, a - lo1 + n) for a, n in zip(at, patch.shape, strict=True))] = patch
    assert np.array_equal(inst.get_subvolume(Box((LO,) * 3, (HI,) * 3), 0), base)
    level = s1
    for scale in range(1, LEVELS + 1):
        lo, hi = LO // 2**scale, HI // 2**scale
        got = inst.get_subvolume(Box((lo,) * 3, (hi,) * 3), scale)
        assert np.array_equal(got, level), f"scale {scale}"
        level = naive_gray(level)
