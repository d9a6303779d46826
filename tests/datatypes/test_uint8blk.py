"""uint8blk: config, subvolume round trips, slices, arb, tiles, extents, bad input, versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.imageblk import sampling
from dvidctl.errors import BadRequestError, LockedNodeError
from dvidctl.geometry import INT32_MAX, Box
from dvidctl.imageio import decode_image

# --------------------------------------------------------------------- config


def test_config_defaults_and_dvid_keys() -> None:
    parse = registry.get("uint8blk").parse_config
    cfg = parse({})
    assert cfg["block_size"] == [32, 32, 32] and cfg["voxel_size"] == [8.0, 8.0, 8.0]
    assert cfg["voxel_units"] == ["nanometers"] * 3 and cfg["max_downres"] == 0
    assert cfg["codec"] == {"name": "zstd", "level": 3, "tile": 32} and cfg["background"] == 0
    cfg = parse({"BLOCKSIZE": "64,32,16", "voxelSize": [4, 4, 40], "MaxDownresLevel": "3",
                 "VoxelUnits": "nm", "Background": 255, "Compression": "jpeg:90"})  # fmt: skip
    assert cfg["block_size"] == [64, 32, 16] and cfg["voxel_size"] == [4.0, 4.0, 40.0]
    assert cfg["max_downres"] == 3 and cfg["voxel_units"] == ["nm"] * 3
    assert cfg["background"] == 255 and cfg["codec"] == {"name": "jpeg", "quality": 90}


@pytest.mark.parametrize(
    "raw",
    [
        {"BlockSize": "0,32,32"},
        {"BlockSize": "2048,32,32"},
        {"BlockSize": "32,32"},
        {"MaxDownresLevel": "256"},
        {"Background": "256"},
        {"Compression": "brotli"},
        {"Colour": "red"},
        {"VoxelUnits": "a,b"},
    ],
)
def test_config_errors(raw: dict[str, str]) -> None:
    with pytest.raises(BadRequestError):
        registry.get("uint8blk").parse_config(raw)


# ---------------------------------------------------------------- round trips


def _gray(repo: Repository, name: str = "g", **cfg: str):  # type: ignore[no-untyped-def]
    repo.new_instance("uint8blk", name, {"BlockSize": "8,8,8", **cfg})
    return repo.head.instance(name)


@settings(max_examples=20)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.integers(-12, 12), st.integers(-12, 12), st.integers(-12, 12)),
            st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20)),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_overlapping_writes_at_every_scale_match_numpy(writes: list) -> None:  # type: ignore[type-arg]
    """Writes straight to scales 0..2 read back like a numpy model per scale.

    Each scale has its own instance whose top level is that scale, so no write
    propagates to a level above it (that is tested in test_multiscale.py).
    """
    repo = Repository.memory()
    insts = {s: _gray(repo, f"top{s}", MaxDownresLevel=str(s), Background="9") for s in range(3)}
    models = {s: np.full((48, 48, 48), 9, np.uint8) for s in range(3)}  # covers [-16, 32)^3
    rng = np.random.default_rng(len(writes))
    for start, shape, scale in writes:
        data = rng.integers(0, 256, shape, dtype=np.uint8)
        insts[scale].put_subvolume(data, start, scale=scale)
        models[scale][
            tuple(slice(s + 16, s + 16 + n) for s, n in zip(start, shape, strict=True))
        ] = data
    for scale, model in models.items():
        g = insts[scale]
        box = Box((-16, -16, -16), (32, 32, 32))
        assert np.array_equal(g.get_subvolume(box, scale), model)
        sub = Box((-5, 3, -13), (20, 9, 17))
        assert np.array_equal(g.get_subvolume(sub, scale), model[11:36, 19:25, 3:33])


def test_round_trip_on_rocksdb_and_reopen(tmp_path: Path) -> None:
    data = np.random.default_rng(3).integers(0, 256, (37, 41, 29), dtype=np.uint8)
    with Repository.init(tmp_path) as repo:
        repo.new_instance("uint8blk", "g", {"BlockSize": "16,16,16"})
        repo.head.instance("g").put_subvolume(data, (-7, 5, 100))  # type: ignore[attr-defined]
    with Repository.open(tmp_path) as repo:
        g = repo.head.instance("g")
        assert np.array_equal(g.get_subvolume(Box.from_shape(data.shape, (-7, 5, 100))), data)  # type: ignore[attr-defined]


def test_unwritten_space_is_background(mem_repo: Repository) -> None:
    g = _gray(mem_repo, Background="17")
    assert (g.get_subvolume(Box((0, 0, 0), (5, 20, 30))) == 17).all()


# ------------------------------------------------------------ slices and arb


@pytest.fixture
def filled(mem_repo: Repository):  # type: ignore[no-untyped-def]
    g = _gray(mem_repo, VoxelSize="4,4,8")
    vol = np.random.default_rng(5).integers(0, 256, (30, 40, 50), dtype=np.uint8)
    g.put_subvolume(vol, (0, 0, 0))
    return g, vol


def test_slices_match_numpy(filled) -> None:  # type: ignore[no-untyped-def]
    g, vol = filled
    assert np.array_equal(g.get_slice("xy", (3, 5, 7), (20, 10)), vol[7, 5:15, 3:23])
    assert np.array_equal(g.get_slice("xz", (3, 5, 7), (20, 10)), vol[7:17, 5, 3:23])
    assert np.array_equal(g.get_slice("yz", (3, 5, 7), (20, 10)), vol[7:17, 5:25, 3])
    assert np.array_equal(g.get_slice("0_1", (0, 0, 29), (50, 40)), vol[29])
    edge = g.get_slice("xy", (45, 35, 0), (10, 10))
    assert np.array_equal(edge[:5, :5], vol[0, 35:40, 45:50]) and (edge[5:] == 0).all()


@pytest.mark.parametrize(
    "tl,tr,bl,res",
    [
        ((8, 12, 40), (180, 12, 40), (8, 140, 40), 4.0),  # axis-aligned xy
        ((10, 20, 30), (150, 90, 120), (40, 150, 60), 3.0),  # oblique, crosses arb tiles
        ((0.5, 1.7, 0.2), (60.3, 1.7, 200.1), (0.5, 100.9, 0.2), 2.5),  # non-integer voxels
    ],
)
def test_arb_matches_dense_reference(filled, tl, tr, bl, res) -> None:  # type: ignore[no-untyped-def]
    g, vol = filled
    plan = sampling.arb_plan(tl, tr, bl, res, (4, 4, 8))
    ref = sampling.sample_arb(plan, vol, Box.from_shape(vol.shape), interpolate=True)
    got = g.get_arb(tl, tr, bl, res)
    assert got.shape == ref.shape and np.array_equal(got, ref)


def test_arb_at_scale_and_errors(filled) -> None:  # type: ignore[no-untyped-def]
    g, _ = filled
    with pytest.raises(BadRequestError):
        g.get_arb((0, 0, 0), (1e12, 0, 0), (0, 1e12, 0), 1.0)
    with pytest.raises(BadRequestError):
        g.get_arb((0, 0, 0), (10, 0, 0), (0, 10, 0), 0.0)
    with pytest.raises(BadRequestError):
        g.get_arb((0, 0, 0), (10, 0, 0), (0, 10, 0), 1.0, scale=1)


def test_tiles_match_slices(filled) -> None:  # type: ignore[no-untyped-def]
    g, vol = filled
    tile = decode_image(g.get_tile("xy", 0, (1, 0, 4), tile_size=16))
    assert np.array_equal(tile, g.get_slice("xy", (16, 0, 4), (16, 16)))
    tile = decode_image(g.get_tile("xz", 0, (0, 7, 1), tile_size=16))
    assert np.array_equal(tile[:14], vol[16:30, 7, 0:16]) and (tile[14:] == 0).all()
    jpg = g.get_tile("yz", 0, (3, 0, 0), fmt="jpg", tile_size=16)
    assert jpg[:2] == b"\xff\xd8"


# --------------------------------------------------------------- info, extents


def test_info_reports_extents_and_dvid_fields(mem_repo: Repository) -> None:
    g = _gray(mem_repo, VoxelSize="4,4,40", MaxDownresLevel="1")
    info = g.info()
    assert info["Base"]["TypeName"] == "uint8blk"
    assert info["Base"]["TypeURL"] == "github.com/janelia-flyem/dvid/datatype/imageblk/uint8.go"
    assert info["Extended"]["MinPoint"] is None and info["Extents"]["MaxPoint"] is None
    g.put_subvolume(np.ones((4, 5, 6), np.uint8), (10, 20, 30))  # ZYX offset
    g.put_subvolume(np.ones((1, 1, 1), np.uint8), (-1, 2, 3))
    ext = g.info()["Extended"]
    assert ext["MinPoint"] == [3, 2, -1] and ext["MaxPoint"] == [35, 24, 13]
    assert ext["MinIndex"] == [0, 0, -1] and ext["MaxIndex"] == [4, 3, 1]
    assert ext["BlockSize"] == [8, 8, 8] and ext["VoxelSize"] == [4.0, 4.0, 40.0]
    assert (
        ext["Values"] == [{"DataType": "uint8", "Label": "uint8"}] and ext["Interpolable"] is True
    )
    assert ext["MaxDownresLevel"] == 1 and ext["Background"] == 0
    assert g.info()["Base"]["Compression"] == "zstd compression, level 3"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "array,offset,scale",
    [
        (np.zeros((4, 4, 4), np.uint16), (0, 0, 0), 0),
        (np.zeros((4, 4), np.uint8), (0, 0, 0), 0),
        (np.zeros((0, 4, 4), np.uint8), (0, 0, 0), 0),
        ([[[1]]], (0, 0, 0), 0),
        (np.zeros((4, 4, 4), np.uint8), (0, 0, 0), 1),
        (np.zeros((4, 4, 4), np.uint8), (0, 0, 0), -1),
        (np.zeros((4, 4, 4), np.uint8), (0, 0, INT32_MAX - 2), 0),
    ],
)
def test_bad_writes_write_nothing(mem_repo: Repository, array, offset, scale) -> None:  # type: ignore[no-untyped-def]
    g = _gray(mem_repo)
    with pytest.raises(BadRequestError):
        g.put_subvolume(array, offset, scale=scale)
    assert not mem_repo.head.has_changes


def test_absurd_read_refused_before_allocating(mem_repo: Repository) -> None:
    g = _gray(mem_repo)
    with pytest.raises(BadRequestError, match="exceeds"):
        g.get_subvolume(Box((0, 0, 0), (100000, 100000, 100000)))
    with pytest.raises(BadRequestError):
        g.get_subvolume(Box((0, 0, 0), (4, 4, 4)), scale=3)


def test_locked_node_refuses_writes(mem_repo: Repository) -> None:
    _gray(mem_repo)
    locked, _ = mem_repo.commit("c")
    with pytest.raises(LockedNodeError):
        locked.instance("g").put_subvolume(np.ones((2, 2, 2), np.uint8))  # type: ignore[attr-defined]
    with pytest.raises(LockedNodeError):
        locked.instance("g").downres()  # type: ignore[attr-defined]


# ------------------------------------------------------------------- versions


def test_versions_isolate_writes(mem_repo: Repository) -> None:
    g = _gray(mem_repo, Background="1")
    box = Box((0, 0, 0), (16, 16, 16))
    base = np.full((16, 16, 16), 10, np.uint8)
    g.put_subvolume(base)
    root, _ = mem_repo.commit("base")
    mem_repo.branch("dev")
    master = mem_repo.head.instance("g")
    master.put_subvolume(np.full((4, 4, 4), 20, np.uint8), (2, 2, 2))  # type: ignore[attr-defined]
    m1, _ = mem_repo.commit("master 1")
    mem_repo.checkout("dev")
    mem_repo.head.instance("g").put_subvolume(np.full((4, 4, 4), 30, np.uint8), (6, 6, 6))  # type: ignore[attr-defined]
    want_master = base.copy()
    want_master[2:6, 2:6, 2:6] = 20
    want_dev = base.copy()
    want_dev[6:10, 6:10, 6:10] = 30
    assert np.array_equal(root.instance("g").get_subvolume(box), base)  # type: ignore[attr-defined]
    assert np.array_equal(m1.instance("g").get_subvolume(box), want_master)  # type: ignore[attr-defined]
    assert np.array_equal(mem_repo.node("master").instance("g").get_subvolume(box), want_master)  # type: ignore[attr-defined]
    assert np.array_equal(mem_repo.node("dev").instance("g").get_subvolume(box), want_dev)  # type: ignore[attr-defined]
    assert mem_repo.node("dev").instance("g").extents() == box  # type: ignore[attr-defined]


def test_merge_unions_extents(mem_repo: Repository) -> None:
    g = _gray(mem_repo)
    g.put_subvolume(np.ones((8, 8, 8), np.uint8))
    mem_repo.commit("base")
    mem_repo.branch("dev")
    mem_repo.head.instance("g").put_subvolume(np.ones((8, 8, 8), np.uint8), (0, 0, 16))  # type: ignore[attr-defined]
    mem_repo.commit("master")
    mem_repo.checkout("dev")
    mem_repo.head.instance("g").put_subvolume(np.ones((8, 8, 8), np.uint8), (-8, 0, 0))  # type: ignore[attr-defined]
    mem_repo.commit("dev")
    mem_repo.checkout("master")
    mem_repo.merge(["dev"], "merge")
    merged = mem_repo.head.instance("g")
    assert merged.extents() == Box((-8, 0, 0), (8, 8, 24))  # type: ignore[attr-defined]
    assert merged.get_subvolume(Box((-8, 0, 0), (8, 8, 24))).sum() == 3 * 512  # type: ignore[attr-defined]


@pytest.mark.parametrize("interpolable", [True, False])
def test_arb_far_apart_pixels_read_only_their_blocks(
    mem_repo: Repository, interpolable: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pixels further apart than a block: each tile gathers just the blocks it samples."""
    g = _gray(mem_repo, VoxelSize="1,1,1")
    vol = np.random.default_rng(9).integers(0, 256, (160, 200, 240), dtype=np.uint8)
    g.put_subvolume(vol, (0, 0, 0))  # type: ignore[attr-defined]
    monkeypatch.setattr(type(g), "interpolable", interpolable)
    tl, tr, bl, res = (2.5, 3.0, 7.0), (230.0, 60.0, 50.0), (9.0, 195.0, 150.0), 37.0
    plan = sampling.arb_plan(tl, tr, bl, res, (1, 1, 1))
    assert not any(t.dense for t in g._arb_tiles(plan))  # type: ignore[attr-defined]
    ref = sampling.sample_arb(plan, vol, Box.from_shape(vol.shape), interpolate=interpolable)
    assert np.array_equal(g.get_arb(tl, tr, bl, res), ref)  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
def test_arb_whose_work_exceeds_the_budget_is_refused_before_reading(filled) -> None:  # type: ignore[no-untyped-def]
    """Issue #8 item 8: corners across the 32-bit range ran for minutes; now refused at once."""
    g, _ = filled
    big = 2**31 - 1
    with pytest.raises(BadRequestError, match="would decode") as info:
        g.get_arb((0, 0, 0), (big * 2.0, 0, 0), (0, big * 2.0, big * 4.0), big / 512)
    assert info.value.hint and "resolution" in info.value.hint
