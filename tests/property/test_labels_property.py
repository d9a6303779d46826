"""Label indexes, sparse volumes and mutations against numpy references.

Random blocky segmentations and the real DVID samples are written (overlapping
writes included); after every step and at every version:

* the sparse volume of each label equals the runs of ``np.argwhere(vol == label)``;
* sizes equal ``np.unique`` counts, and a full reindex would change nothing;
* merges, cleaves and splits equal the relabelled reference, at every scale
  (scale s = the supervoxel pyramid of the reference, mapped to bodies).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk.downsample import downsample_labels
from dvidctl.datatypes.labelmap.indexing import reindex
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import KeyNotFoundError
from dvidctl.geometry import Box
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch_from

BS = 16
LEVELS = 2


def _blocky(
    rng: np.random.Generator, shape: tuple[int, int, int], n: int, cell: int = 4
) -> np.ndarray:
    small = [max(1, -(-s // cell)) for s in shape]
    coarse = rng.integers(1, n + 1, small).astype(np.uint64)
    coarse[rng.random(small) < 0.1] = 0
    vol = coarse.repeat(cell, 0).repeat(cell, 1).repeat(cell, 2)
    return np.ascontiguousarray(vol[: shape[0], : shape[1], : shape[2]])


class Ref:
    """The reference: the supervoxel volume over ``box`` and the sv -> body mapping."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.sv = np.zeros(box.shape, np.uint64)
        self.body: dict[int, int] = {}

    def put(self, arr: np.ndarray, offset: tuple[int, int, int]) -> None:
        sl = Box.from_shape(arr.shape, offset).slices_in(self.box)
        self.sv[sl] = arr

    def bodies(self, sv: np.ndarray | None = None) -> np.ndarray:
        vol = (self.sv if sv is None else sv).copy()
        u = np.unique(vol)
        mapped = np.array([self.body.get(int(v), int(v)) for v in u], np.uint64)
        return mapped[np.searchsorted(u, vol)]

    def copy(self) -> Ref:
        other = Ref(self.box)
        other.sv, other.body = self.sv.copy(), dict(self.body)
        return other


def _check(seg, ref: Ref) -> None:  # type: ignore[no-untyped-def]
    """Reads, sizes, sparse volumes and indexes at every scale against the reference."""
    bodies = ref.bodies()
    got = seg.get_subvolume(ref.box)
    np.testing.assert_array_equal(got, bodies)
    np.testing.assert_array_equal(seg.supervoxel_view().get_subvolume(ref.box), ref.sv)
    labels, counts = np.unique(bodies[bodies != 0], return_counts=True)
    assert seg.sizes(labels.tolist()) == counts.tolist()
    listed, sizes = seg.list_labels()
    assert listed.tolist() == labels.tolist() and sizes.tolist() == counts.tolist()
    off = np.asarray(ref.box.start)
    for label in labels.tolist():
        runs = seg.sparsevol(label)
        want = np.argwhere(bodies == label) + off
        np.testing.assert_array_equal(runs.voxels_zyx(), want)
        svs = np.unique(ref.sv[bodies == label])
        assert seg.supervoxels(label).tolist() == svs.tolist()
    # pyramid levels: the supervoxel pyramid of the reference, mapped to bodies
    box, sv = ref.box, ref.sv
    for level in range(1, seg.max_downres + 1):
        assert all(s % 2 == 0 for s in box.start + box.stop)
        box, sv = box.scaled_down(1), downsample_labels(sv)
        lvl = seg.get_subvolume(box, level)
        np.testing.assert_array_equal(lvl, ref.bodies(sv), err_msg=f"scale {level}")
        some = [int(v) for v in np.unique(lvl) if v][:3]
        for label in some:
            runs = seg.sparsevol(label, scale=level)
            want = np.argwhere(lvl == label) + np.asarray(box.start)
            np.testing.assert_array_equal(runs.voxels_zyx(), want)
    # a full reindex, queued into a batch that is never written, would change nothing
    assert reindex(seg, seg._batch()) == 0, "the label indexes are not exact"


def _runs_of(mask: np.ndarray, off: np.ndarray) -> Runs:
    pts = np.argwhere(mask) + off
    return Runs(pts, np.ones(len(pts), np.int64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_writes_and_mutations_match_numpy_at_every_scale_and_version(seed: int) -> None:
    rng = np.random.default_rng(seed)
    box = Box((0, -16, 16), (64, 48, 80))
    ref = Ref(box)
    snapshots: list[tuple[str, Ref]] = []
    with Repository.memory() as repo:
        repo.new_instance(
            "labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": str(LEVELS)}
        )
        seg = repo.head.instance("seg")
        for _ in range(3):  # overlapping, unaligned writes: partial blocks read-modify-written
            shape = tuple(int(v) for v in rng.integers(8, 40, 3))
            off = tuple(
                int(box.start[i] + rng.integers(0, box.shape[i] - shape[i])) for i in range(3)
            )
            arr = _blocky(rng, shape, 12)
            seg.put_subvolume(arr, off)
            ref.put(arr, off)
        _check(seg, ref)
        for step in range(6):
            snapshots.append((repo.head.uuid, ref.copy()))
            repo.commit(f"step {step}")
            seg = repo.head.instance("seg")
            bodies = ref.bodies()
            labels, counts = np.unique(bodies[bodies != 0], return_counts=True)
            order = labels[np.argsort(-counts)].tolist()
            kind = ["merge", "cleave", "split", "split-supervoxel", "merge", "renumber"][step]
            if kind == "merge":
                target, others = order[0], order[1:3]
                seg.merge(target, others)
                for sv, _b in list(ref.body.items()) + [(v, v) for v in np.unique(ref.sv).tolist()]:
                    if ref.body.get(sv, sv) in others:
                        ref.body[sv] = target
            elif kind == "cleave":
                target = next(b for b in order if len(seg.supervoxels(b)) > 1)
                svs = seg.supervoxels(target).tolist()[:1]
                new, _ = seg.cleave(target, svs)
                ref.body[svs[0]] = new
            elif kind == "split":
                target = order[0]
                mask = bodies == target
                zs = np.argwhere(mask)[:, 0]
                mask[: int(np.median(zs)) + (zs.min() == np.median(zs))] = False  # a part
                assert 0 < mask.sum() < (bodies == target).sum()
                new, mutid = seg.split(target, _runs_of(mask, np.asarray(box.start)))
                # DVID: both parts of every supervoxel the split touches get new ids,
                # the new body's label first, then (split, remain) per supervoxel
                touched = np.unique(ref.sv[mask]).tolist()
                want = {
                    str(sv): {"Split": new + 1 + 2 * i, "Remain": new + 2 + 2 * i}
                    for i, sv in enumerate(touched)
                }
                (rec,) = [m for m in seg.mutations() if m["MutationID"] == mutid]
                assert rec["Action"] == "split-complete" and rec["SVSplits"] == want
                assert rec["Target"] == target and rec["NewLabel"] == new
                for sv in touched:
                    parts, mine = want[str(sv)], ref.sv == sv
                    ref.sv[mine & mask] = parts["Split"]
                    ref.sv[mine & ~mask] = parts["Remain"]
                    ref.body[parts["Split"]], ref.body[parts["Remain"]] = new, target
                    ref.body[sv] = 0
                assert not np.isin(seg.supervoxel_view().get_subvolume(box), touched).any()
            elif kind == "split-supervoxel":
                sv = int(np.unique(ref.sv[ref.sv != 0])[0])
                mask = ref.sv == sv
                half = mask.copy()
                half[:, :, : half.shape[2] // 2] = False
                if not half.any() or half.sum() == mask.sum():
                    half = mask.copy()
                    half[: int(np.argwhere(mask)[:, 0].mean()) + 1] = False
                body = ref.body.get(sv, sv)
                a, b, _ = seg.split_supervoxel(sv, _runs_of(half, np.asarray(box.start)))
                ref.sv[half] = a
                ref.sv[mask & ~half] = b
                ref.body[a] = ref.body[b] = body
                ref.body[sv] = 0
            else:
                old, new = order[-1], int(seg.next_label()) + 100
                seg.renumber([new, old])
                for sv in np.unique(ref.sv).tolist():
                    if ref.body.get(sv, sv) == old:
                        ref.body[sv] = new
            _check(seg, ref)
        for uuid, snap in snapshots:  # every version still reads as it was
            _check(repo.node(uuid).instance("seg"), snap)


def test_dvid_samples_indexes_and_sparsevols(testdata_dir: Path) -> None:
    names = ["fib19-64x64x64-sample1.dat.gz", "cx-64x64x64-sample2.dat.gz"]
    box = Box((0, 0, 0), (64, 64, 128))
    ref = Ref(box)
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "32,32,32", "MaxDownresLevel": "2"})
        seg = repo.head.instance("seg")
        for i, name in enumerate(names):
            raw = gzip.decompress((testdata_dir / name).read_bytes())
            vol = np.frombuffer(raw, "<u8").reshape(64, 64, 64).copy()
            seg.put_subvolume(vol, (0, 0, 64 * i))
            ref.put(vol, (0, 0, 64 * i))
        # LEVELS is 2 here too
        _check(seg, ref)


def test_a_merge_of_branches_that_both_changed_one_body_rebuilds_its_index() -> None:
    """One side writes voxels of supervoxel 5, the other merges body 5 into 3: the merge
    node's indexes must be exact (a contested index triggers the rebuild)."""
    with Repository.memory() as repo:
        repo.new_instance(
            "labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": "2"}
        )
        seg = repo.head.instance("seg")
        base = np.zeros((32, 32, 32), np.uint64)
        base[:, :, :16], base[:, :, 16:] = 3, 5
        seg.put_subvolume(base)
        repo.commit("base")
        repo.branch("side")
        repo.checkout("side")
        more = np.full((16, 16, 16), 5, np.uint64)
        repo.head.instance("seg").put_subvolume(more, (32, 0, 0))
        repo.commit("side writes sv 5")
        repo.checkout("master")
        repo.head.instance("seg").merge(3, [5])
        repo.commit("master merges 5 into 3")
        repo.merge(["side"], "merge")
        seg = repo.head.instance("seg")
        assert seg.size(3) == 32**3 + 16**3
        with pytest.raises(KeyNotFoundError):
            seg.size(5)
        ref = Ref(Box((0, 0, 0), (48, 32, 32)))
        ref.put(base, (0, 0, 0))
        ref.put(more, (32, 0, 0))
        ref.body[5] = 3
        _check(seg, ref)


def test_mapping_and_indexes_travel_with_sync() -> None:
    """A fetch moves mapping, indexes and the mutation log like any key: the copy reads
    the same bodies, sizes and sparse volumes at every version."""
    rng = np.random.default_rng(7)
    with Repository.memory() as a:
        a.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": "2"})
        vol = _blocky(rng, (32, 32, 32), 6)
        a.head.instance("seg").put_subvolume(vol)
        a.commit("data")
        seg = a.head.instance("seg")
        labels = np.unique(vol[vol != 0]).tolist()
        seg.merge(labels[0], labels[1:3])
        a.commit("merged")
        ref = Ref(Box((0, 0, 0), (32, 32, 32)))
        ref.put(vol, (0, 0, 0))
        for sv in labels[1:3]:
            ref.body[sv] = labels[0]
        with Repository.memory(root_uuid=a.root_uuid, incoming_root=True) as b:
            fetch_from(b, "origin", LocalEndpoint(a))
            got = b.node("origin/master").instance("seg")
            _check(got, ref)
            assert got.mutations() == [] and len(got.history(labels[0])) == 1


def test_put_blocks_keeps_indexes_exact_with_repeats_and_unchanged_blocks() -> None:
    """Whole-block writes (POST blocks, ingest): a block given twice counts as its last
    version; a block rewritten with the same voxels changes nothing."""
    bs = (BS, BS, BS)
    a = np.full(bs, 4, np.uint64)
    b = np.full(bs, 6, np.uint64)
    b[:4] = 4
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}"})
        seg = repo.head.instance("seg")
        seg.put_blocks([((0, 0, 0), a), ((0, 0, 1), a)])
        seg.put_blocks([((0, 0, 0), b), ((0, 0, 0), a), ((0, 0, 1), b)])
        ref = Ref(Box((0, 0, 0), (BS, BS, 2 * BS)))
        ref.put(a, (0, 0, 0))
        ref.put(b, (0, 0, BS))
        _check(seg, ref)
        seg.put_blocks([((0, 0, 0), a)])  # unchanged
        _check(seg, ref)


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
def test_a_resolved_block_conflict_leaves_exact_indexes(strategy: str) -> None:
    """Both sides write one empty block with different supervoxels (no index key is
    touched by both): the strategy's pick must still leave exact indexes."""
    with Repository.memory() as repo:
        repo.new_instance(
            "labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": "1"}
        )
        seg = repo.head.instance("seg")
        seg.put_subvolume(np.full((BS, BS, BS), 2, np.uint64))
        repo.commit("base")
        repo.branch("side")
        repo.checkout("side")
        repo.head.instance("seg").put_subvolume(np.full((BS, BS, BS), 5, np.uint64), (0, 0, BS))
        repo.commit("side: 5")
        repo.checkout("master")
        repo.head.instance("seg").put_subvolume(np.full((BS, BS, BS), 6, np.uint64), (0, 0, BS))
        repo.commit("master: 6")
        repo.merge(["side"], strategy=strategy)
        seg = repo.head.instance("seg")
        ref = Ref(Box((0, 0, 0), (BS, BS, 2 * BS)))
        ref.put(np.full((BS, BS, BS), 2, np.uint64), (0, 0, 0))
        winner = 6 if strategy == "ours" else 5
        ref.put(np.full((BS, BS, BS), winner, np.uint64), (0, 0, BS))
        _check(seg, ref)
        assert seg.sizes([5, 6]) == ([0, BS**3] if winner == 6 else [BS**3, 0])
