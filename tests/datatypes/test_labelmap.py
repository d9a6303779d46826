"""labelmap: real DVID samples round-trip, labels at points, counters, aliases, versions."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.imageblk import sampling
from dvidctl.datatypes.imageblk.blockstream import iter_block_stream
from dvidctl.datatypes.imageblk.labelblock import decode_label_block, gunzip_label_block
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box

SAMPLES = {
    "fib19-64x64x64-sample1.dat.gz": (
        "112f124dbf2c5256389d1481e41e6d436e201c0a7fcff0ea3e0880f809373304"
    ),
    "fib19-64x64x64-sample2.dat.gz": (
        "26d17789e8cc53bb0015ccc8551a919d0d04137e50ac22af886d615e714fe117"
    ),
    "cx-64x64x64-sample1.dat.gz": (
        "f04efb84708f80141d7abd307d2b08a6a8a64613b99f1249e3c078d95841651a"
    ),
    "cx-64x64x64-sample2.dat.gz": (
        "cdb7170f5a993cfe25d33fbdc1dcf3853cd9dfba178411b232ee4abfb8b2e75a"
    ),
}


def _load(testdata: Path, name: str) -> np.ndarray:
    return np.frombuffer(gzip.decompress((testdata / name).read_bytes()), "<u8").reshape(64, 64, 64)


def _seg(repo: Repository, name: str = "seg", typename: str = "labelmap", **cfg: str):  # type: ignore[no-untyped-def]
    repo.new_instance(typename, name, cfg)
    return repo.head.instance(name)


@pytest.mark.parametrize("compression", ["zstd", "labelblock", "none"])
def test_real_samples_round_trip_bit_exact(
    tmp_path: Path, testdata_dir: Path, compression: str
) -> None:
    offsets = [(0, 0, 0), (13, -40, 70), (64, 64, -64), (-100, 5, 1)]
    with Repository.init(tmp_path) as repo:
        seg = _seg(repo, Compression=compression)
        for (name, digest), off in zip(SAMPLES.items(), offsets, strict=True):
            vol = _load(testdata_dir, name)
            assert hashlib.sha256(vol.tobytes()).hexdigest() == digest
            seg.put_subvolume(vol, off)
    with Repository.open(tmp_path) as repo:
        seg = repo.head.instance("seg")
        for (name, digest), off in zip(SAMPLES.items(), offsets, strict=True):
            got = seg.get_subvolume(Box.from_shape((64, 64, 64), off))  # type: ignore[attr-defined]
            assert hashlib.sha256(got.astype("<u8").tobytes()).hexdigest() == digest, name


def test_dvid_block_files_round_trip(mem_repo: Repository, testdata_dir: Path) -> None:
    seg = _seg(mem_repo)
    block = gzip.decompress((testdata_dir / "fib19-64x64x64-sample1-block.dat.gz").read_bytes())
    vol = decode_label_block(block)
    assert np.array_equal(vol, _load(testdata_dir, "fib19-64x64x64-sample1.dat.gz"))
    ((coord, payload),) = list(iter_block_stream((testdata_dir / "stream_1block.dat").read_bytes()))
    worst = gunzip_label_block(payload)  # 10 random labels per 8^3 sub-block
    seg.put_subvolume(vol, (0, 0, 0))
    seg.put_subvolume(worst, (32, 32, 32))
    got = seg.get_subvolume(Box((32, 32, 32), (96, 96, 96)))
    want = "7846ee6c650b1d2f9491c74de0fa8e037fbd4e984d55f8d21eef2271b43c9841"
    assert hashlib.sha256(got.astype("<u8").tobytes()).hexdigest() == want
    head = seg.get_subvolume(Box((0, 0, 0), (32, 64, 64)))
    assert np.array_equal(head, vol[:32])


def test_labels_at_points(mem_repo: Repository, testdata_dir: Path) -> None:
    seg = _seg(mem_repo, BlockSize="32,32,32")
    vol = _load(testdata_dir, "cx-64x64x64-sample1.dat.gz")
    seg.put_subvolume(vol, (10, 20, 30))  # ZYX
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 64, (200, 3))  # ZYX inside the sample
    xyz = (pts + [10, 20, 30])[:, ::-1]
    assert np.array_equal(seg.labels_at(xyz), vol[pts[:, 0], pts[:, 1], pts[:, 2]])
    assert seg.label_at((30, 20, 10)) == int(vol[0, 0, 0])
    assert seg.label_at((0, 0, 0)) == 0
    assert seg.labels_at(np.zeros((0, 3), np.int64)).shape == (0,)
    with pytest.raises(BadRequestError):
        seg.labels_at([[1.5, 2, 3]])
    with pytest.raises(BadRequestError):
        seg.labels_at([1, 2, 3])


def test_arb_is_nearest_neighbour(mem_repo: Repository, testdata_dir: Path) -> None:
    seg = _seg(mem_repo, BlockSize="16,16,16", VoxelSize="8,8,8")
    vol = _load(testdata_dir, "fib19-64x64x64-sample2.dat.gz")
    seg.put_subvolume(vol)
    tl, tr, bl = (4.0, 8.0, 12.0), (500.0, 100.0, 300.0), (40.0, 480.0, 20.0)
    plan = sampling.arb_plan(tl, tr, bl, 3.0, (8, 8, 8))
    ref = sampling.sample_arb(plan, vol, Box.from_shape(vol.shape), interpolate=False)
    got = seg.get_arb(tl, tr, bl, 3.0)
    assert np.array_equal(got, ref)
    assert set(np.unique(got)) <= set(np.unique(vol)) | {0}


def test_max_label_is_versioned_and_merges_by_max(mem_repo: Repository) -> None:
    seg = _seg(mem_repo)
    assert seg.max_label() == 0 and seg.next_label() == 1
    seg.put_subvolume(np.full((4, 4, 4), 50, np.uint64))
    seg.put_subvolume(np.full((4, 4, 4), 7, np.uint64), (64, 0, 0))
    assert seg.max_label() == 50
    mem_repo.commit("base")
    mem_repo.branch("dev")
    mem_repo.head.instance("seg").put_subvolume(np.full((2, 2, 2), 900, np.uint64))  # type: ignore[attr-defined]
    mem_repo.commit("m")
    mem_repo.checkout("dev")
    dev = mem_repo.head.instance("seg")
    assert dev.max_label() == 50  # type: ignore[attr-defined]
    dev.put_subvolume(np.full((2, 2, 2), 300, np.uint64), (0, 0, 100))  # type: ignore[attr-defined]
    assert dev.max_label() == 300 and dev.max_repo_label() == 900  # type: ignore[attr-defined]
    assert dev.next_label() == 901  # type: ignore[attr-defined]
    mem_repo.commit("d")
    mem_repo.checkout("master")
    mem_repo.merge(["dev"], "merge")
    merged = mem_repo.head.instance("seg")
    assert merged.max_label() == 900  # type: ignore[attr-defined]
    ext = merged.info()["Extended"]
    assert ext["MaxRepoLabel"] == 900 and sorted(ext["MaxLabel"].values()) == [
        50,
        300,
        900,
        900,
    ]  # merge node too


def test_reserve_labels(tmp_path: Path) -> None:
    with Repository.init(tmp_path) as repo:
        seg = _seg(repo)
        seg.put_subvolume(np.full((2, 2, 2), 41, np.uint64))
        assert seg.reserve_labels(10) == (42, 51)
        assert seg.reserve_labels(1) == (52, 52)
        with pytest.raises(BadRequestError):
            seg.reserve_labels(0)
    with Repository.open(tmp_path) as repo:
        seg = repo.head.instance("seg")
        ext = seg.info()["Extended"]  # type: ignore[attr-defined]
        # DVID: NextLabel stays 0 (unset) until set-nextlabel; reservations raise MaxRepoLabel
        assert seg.next_label() == 53 and ext["NextLabel"] == 0 and ext["MaxRepoLabel"] == 52  # type: ignore[attr-defined]


@pytest.mark.parametrize("alias", ["labelblk", "labelarray"])
def test_aliases_create_labelmap_and_are_recorded(mem_repo: Repository, alias: str) -> None:
    seg = _seg(mem_repo, "old", typename=alias)
    assert seg.record.typename == "labelmap" and seg.config["alias"] == alias
    # Served under the name the client created it with (DVID clients check TypeName).
    assert seg.info()["Base"]["TypeName"] == alias
    assert seg.info()["Base"]["TypeURL"].endswith("/" + alias)


def test_config() -> None:
    parse = registry.get("labelmap").parse_config
    cfg = parse({})
    assert cfg["block_size"] == [64, 64, 64] and cfg["indexed_labels"] is True
    assert cfg["codec"] == {"name": "zstd", "level": 3, "tile": 32}
    assert parse({"Compression": "gzip"})["codec"]["name"] == "zstd"
    assert parse({"Compression": "labelblock", "IndexedLabels": "false"})["indexed_labels"] is False
    with pytest.raises(BadRequestError, match="multiples of 16"):
        parse({"BlockSize": "24,64,64"})
    with pytest.raises(BadRequestError):
        parse({"Compression": "jpeg"})


def test_info_and_bad_dtype(mem_repo: Repository) -> None:
    seg = _seg(mem_repo)
    ext = seg.info()["Extended"]
    assert ext["Values"] == [{"DataType": "uint64", "Label": "labelmap"}]
    assert ext["Interpolable"] is False and ext["BlockSize"] == [64, 64, 64]
    for bad in (
        np.zeros((2, 2, 2), np.int64),
        np.zeros((2, 2, 2), np.uint32),
        np.zeros((2, 2, 2), np.float64),
    ):
        with pytest.raises(BadRequestError):
            seg.put_subvolume(bad)
    big_endian = np.full((2, 2, 2), 5, ">u8")
    seg.put_subvolume(big_endian)
    assert seg.label_at((1, 1, 1)) == 5
