"""roi_from_body against numpy: the ROI blocks holding a label, on DVID's samples and random
volumes, for several labelmap/ROI block sizes, at several versions and scales."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api.roibody import roi_from_body, runs
from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError
from dvidctl.geometry import Box


def reference(vol: np.ndarray, offset_zyx: tuple[int, ...], label: int, roi_zyx: tuple) -> set:  # type: ignore[type-arg]
    """The ROI blocks holding ``label``: every voxel of it, divided by the block size."""
    pts = np.argwhere(vol == label) + np.asarray(offset_zyx)
    return {tuple(b) for b in np.unique(pts // np.asarray(roi_zyx), axis=0).tolist()}


def roi_blocks(repo: Repository, name: str = "r", ref: str | None = None) -> set:  # type: ignore[type-arg]
    return {tuple(b) for b in repo.node(ref).instance(name).blocks().tolist()}


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    r = Repository.init(tmp_path / "r")
    yield r
    r.close()


def _sample(testdata_dir: Path) -> np.ndarray:
    raw = gzip.decompress((testdata_dir / "fib19-64x64x64-sample1.dat.gz").read_bytes())
    return np.frombuffer(raw, "<u8").reshape(64, 64, 64).copy()


@pytest.mark.parametrize(
    ("seg_bs", "roi_bs"),
    [(64, 32), (32, 64), (16, 48), (32, 32)],
    ids=["roi-finer", "roi-coarser", "unaligned-sizes", "same"],
)
def test_dvid_sample_bodies_match_numpy(
    repo: Repository, testdata_dir: Path, seg_bs: int, roi_bs: int
) -> None:
    vol = _sample(testdata_dir)
    repo.new_instance("labelmap", "seg", {"BlockSize": f"{seg_bs},{seg_bs},{seg_bs}"})
    repo.new_instance("roi", "r", {"BlockSize": f"{roi_bs},{roi_bs},{roi_bs}"})
    offset = (-37, 21, 70)  # ZYX, aligned to nothing
    repo.head.instance("seg").put_subvolume(vol, offset)
    calls: list[tuple[int, int]] = []
    seg = repo.head.instance("seg")
    first = int(vol[0, 0, 0])
    roi_from_body(repo.head, "seg", first, "r", progress=lambda n, t: calls.append((n, t)))
    # only the blocks the body's label index names are read
    own = len(seg.index(first).block_coords())
    assert sum(n for n, _ in calls) == own and {t for _, t in calls} == {own}
    stored = len(seg.blocks.block_coords(0))
    labels, counts = np.unique(vol, return_counts=True)
    # the largest body, a small one, and one in between
    for label in (labels[np.argmax(counts)], labels[np.argmin(counts)], labels[len(labels) // 2]):
        res = roi_from_body(repo.head, "seg", int(label), "r")
        want = reference(vol, offset, int(label), (roi_bs,) * 3)
        assert roi_blocks(repo) == want, int(label)
        assert res.blocks == len(want) and res.label == int(label)
        held = np.unique(np.argwhere(vol == label) + offset, axis=0) // seg_bs
        assert res.scanned == res.body_blocks == len(np.unique(held, axis=0)) <= stored
    small = roi_from_body(repo.head, "seg", int(labels[np.argmin(counts)]), "r")
    assert small.scanned < stored


def test_without_label_indexes_every_block_is_scanned(repo: Repository) -> None:
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "IndexedLabels": "false"})
    repo.new_instance("roi", "r", {"BlockSize": "16,16,16"})
    vol = np.zeros((32, 32, 64), np.uint64)
    vol[:16, :16, :16] = 5
    vol[16:, 16:, 16:] = 6
    repo.head.instance("seg").put_subvolume(vol)
    res = roi_from_body(repo.head, "seg", 5, "r")
    assert res.scanned == 16 and res.body_blocks == 1 and roi_blocks(repo) == {(0, 0, 0)}


def test_random_volume_at_several_versions(repo: Repository) -> None:
    rng = np.random.default_rng(7)
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
    repo.new_instance("roi", "r", {"BlockSize": "8,8,8"})
    v1 = rng.integers(1, 40, (40, 50, 60), dtype=np.uint64)
    v1[v1 == 9] = 3  # label 9 only where placed below
    v1[5, 6, 7] = v1[33, 44, 55] = 9
    repo.head.instance("seg").put_subvolume(v1, (0, 0, 0))
    roi_from_body(repo.head, "seg", 9, "r")
    first = repo.head.uuid
    assert roi_blocks(repo) == {(0, 0, 0), (4, 5, 6)} == reference(v1, (0, 0, 0), 9, (8, 8, 8))
    repo.commit("v1")

    v2 = v1.copy()
    v2[5, 6, 7] = 1
    v2[20:30, 0:3, 10:12] = 9
    repo.head.instance("seg").put_subvolume(v2, (0, 0, 0))
    assert roi_blocks(repo) == reference(v1, (0, 0, 0), 9, (8, 8, 8))  # inherited until rebuilt
    roi_from_body(repo.head, "seg", 9, "r")
    assert roi_blocks(repo) == reference(v2, (0, 0, 0), 9, (8, 8, 8))
    assert roi_blocks(repo, ref=first) == reference(v1, (0, 0, 0), 9, (8, 8, 8))
    with pytest.raises(LockedNodeError):
        roi_from_body(repo.node(first), "seg", 9, "r")
    # body 9 gone: nothing written, the ROI stays
    repo.head.instance("seg").put_subvolume(np.ones_like(v2), (0, 0, 0))
    with pytest.raises(NotFoundError, match="label 9 has no voxels"):
        roi_from_body(repo.head, "seg", 9, "r")
    assert roi_blocks(repo) == reference(v2, (0, 0, 0), 9, (8, 8, 8))


def test_a_coarser_scale_reads_the_pyramid(repo: Repository) -> None:
    rng = np.random.default_rng(3)
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "2"})
    repo.new_instance("roi", "r", {"BlockSize": "32,32,32"})
    vol = np.where(rng.random((64, 96, 80)) < 0.4, 5, 2).astype(np.uint64)
    vol[:, :, 70:] = 2
    seg = repo.head.instance("seg")
    seg.put_subvolume(vol, (0, 0, 0))
    res = roi_from_body(repo.head, "seg", 5, "r", scale=1)
    half = seg.get_subvolume(Box((0, 0, 0), (32, 48, 40)), scale=1)
    assert res.scale == 1
    assert roi_blocks(repo) == reference(half, (0, 0, 0), 5, (16, 16, 16))
    with pytest.raises(BadRequestError, match="not stored"):
        roi_from_body(repo.head, "seg", 5, "r", scale=3)


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (("seg", 0, "r"), BadRequestError, "a body label is"),
        (("seg", 2**64, "r"), BadRequestError, "a body label is"),
        (("r", 5, "r"), BadRequestError, "not a labelmap"),
        (("seg", 5, "seg"), BadRequestError, "not an roi"),
        (("nope", 5, "r"), NotFoundError, "nope"),
        (("seg", 5, "nope"), NotFoundError, "nope"),
    ],
)
def test_bad_requests_write_nothing(
    repo: Repository, args: tuple[str, int, str], error: type, text: str
) -> None:
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "7"})
    repo.new_instance("roi", "r", {"BlockSize": "64,64,64"})
    repo.head.instance("seg").put_subvolume(np.full((16, 16, 16), 5, np.uint64), (0, 0, 0))
    repo.head.instance("r").put_spans([[1, 1, 1, 1]])
    with pytest.raises(error, match=text):
        roi_from_body(repo.head, *args)
    assert repo.head.instance("r").get_spans() == [[1, 1, 1, 1]]
    with pytest.raises(BadRequestError, match="too coarse"):
        roi_from_body(repo.head, "seg", 5, "r", scale=7)


def test_runs_split_at_gaps_rows_and_length() -> None:
    coords = np.array(
        [[0, 0, 5], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 1, 4], [-1, 0, 0], [0, 0, 4], [0, 0, 7]]
    )
    assert runs(coords, 3) == [
        (-1, 0, 0, 1),
        (0, 0, 1, 4),
        (0, 0, 4, 6),
        (0, 0, 7, 8),
        (0, 1, 4, 5),
    ]
    assert runs(np.empty((0, 3), np.int64), 8) == []
