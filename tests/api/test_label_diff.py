"""Label-aware diff against numpy references on random volumes and random edits.

The reference is computed from the whole arrays at both versions, by plain set
logic over each body's voxels (the definitions in ``dvidctl.api.labeldiff``).
With exact body sizes (what a label index gives) the diff equals the reference
over the whole volume; without them it equals the same reference over the
changed blocks. Its cost is counted in blocks decoded: twice the changed blocks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.api.labeldiff import (
    IndexedLabelMap,
    LabelDiff,
    changed_blocks,
    classify,
    involved_labels,
    label_diff,
    to_bodies,
    voxels_outside,
)
from dvidctl.datatypes.imageblk import labeloverlap
from dvidctl.datatypes.imageblk.labeloverlap import (
    OverlapTable,
    block_overlap_table,
    compare_labels,
)
from dvidctl.errors import BadRequestError

BS = 16
SHAPE = (48, 48, 64)  # ZYX, 3 x 3 x 4 blocks


def _random_bodies(rng: np.random.Generator, n: int = 8) -> np.ndarray:
    vol = np.zeros(SHAPE, np.uint64)
    for label in range(1, n + 1):
        lo = [int(rng.integers(0, s - 8)) for s in SHAPE]
        hi = [int(rng.integers(a + 4, min(s, a + 30) + 1)) for a, s in zip(lo, SHAPE, strict=True)]
        vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = label
    return vol


def _random_edits(rng: np.random.Generator, vol: np.ndarray, n: int) -> np.ndarray:
    """Merges, splits, paints and erases, as a proofreader makes them."""
    out = vol.copy()
    next_label = int(vol.max()) + 1
    for _ in range(n):
        present = [int(v) for v in np.unique(out) if v]
        op = rng.choice(["merge", "split", "paint", "erase"])
        if op == "merge" and len(present) >= 2:
            p, q = rng.choice(present, 2, replace=False)
            out[out == p] = q
        elif op == "split" and present:
            p = int(rng.choice(present))
            z = np.argwhere(out == p)[:, 0]
            cut = int(np.median(z))
            sel = (out == p) & (np.arange(SHAPE[0])[:, None, None] >= cut)
            out[sel] = next_label
            next_label += 1
        else:
            lo = [int(rng.integers(0, s - 4)) for s in SHAPE]
            hi = [a + int(rng.integers(1, 6)) for a in lo]
            value = int(rng.choice(present)) if op == "paint" and present else 0
            out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = value
    return out


def _reference(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """The classification by definition, over every voxel of ``a`` and ``b`` (1-D or any)."""
    changed = a != b
    flows = Counter(zip(a[changed].tolist(), b[changed].tolist(), strict=True))
    involved = sorted({v for pair in flows for v in pair} - {0})
    in_a = set(np.unique(a).tolist())
    in_b = set(np.unique(b).tolist())
    merged, split, created, deleted = {}, {}, [], []
    for body in involved:
        src = sorted(set(np.unique(a[b == body]).tolist()) - {0})
        tgt = sorted(set(np.unique(b[a == body]).tolist()) - {0})
        if len(src) >= 2:
            merged[body] = src
        if len(tgt) >= 2:
            split[body] = tgt
        if body in in_b and body not in in_a:
            created.append((body, int(np.count_nonzero(b == body))))
        if body in in_a and body not in in_b:
            deleted.append((body, int(np.count_nonzero(a == body))))
    return {
        "flows": sorted([p, q, n] for (p, q), n in flows.items()),
        "merged": merged,
        "split": split,
        "created": created,
        "deleted": deleted,
        "voxels": int(changed.sum()),
    }


def _got(d: LabelDiff) -> dict[str, Any]:
    return {
        "flows": d.flows,
        "merged": {m["body"]: m["from"] for m in d.merged},
        "split": {s["body"]: s["into"] for s in d.split},
        "created": [(c["body"], c["voxels"]) for c in d.created],
        "deleted": [(c["body"], c["voxels"]) for c in d.deleted],
        "voxels": d.voxels_changed,
    }


def _repo_with(a: np.ndarray, b: np.ndarray) -> Repository:
    repo = Repository.memory()
    repo.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}"})
    repo.head.instance("seg").put_subvolume(a)  # type: ignore[attr-defined]
    repo.commit("a")
    repo.branch("edits")
    repo.checkout("edits")
    repo.head.instance("seg").put_subvolume(b)  # type: ignore[attr-defined]
    repo.commit("b")
    return repo


def _changed_region(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The voxels of every block in which ``a`` and ``b`` differ."""
    nz, ny, nx = (s // BS for s in SHAPE)
    blocks = (a != b).reshape(nz, BS, ny, BS, nx, BS).any(axis=(1, 3, 5))
    return np.repeat(np.repeat(np.repeat(blocks, BS, 0), BS, 1), BS, 2)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 4))
def test_diff_equals_the_reference(seed: int, edits: int) -> None:
    rng = np.random.default_rng(seed)
    a = _random_bodies(rng)
    b = _random_edits(rng, a, edits)
    repo = _repo_with(a, b)
    try:
        d = label_diff(repo, "master", "edits", "seg")
        region = _changed_region(a, b)
        if isinstance(repo.head.instance("seg"), IndexedLabelMap):
            assert d.exact and _got(d) == _reference(a, b)
        else:  # without a label index: the reference over the changed blocks
            assert not d.exact and _got(d) == _reference(a[region], b[region])
        assert d.blocks == int(region.sum()) // BS**3
        # With exact body sizes (what a label index answers): the whole-volume reference.
        inst_a = repo.node("master").instance("seg")
        inst_b = repo.node("edits").instance("seg")
        table = block_overlap_table(
            inst_a,  # type: ignore[arg-type]
            inst_b,  # type: ignore[arg-type]
            changed_blocks(repo, repo.resolve("master"), repo.resolve("edits"), inst_a),  # type: ignore[arg-type]
        )
        labels = involved_labels(table)
        exact = LabelDiff("seg", "a", "b", table.blocks, table.voxels_changed)
        classify(
            exact,
            table,
            np.array([np.count_nonzero(a == v) for v in labels]),
            np.array([np.count_nonzero(b == v) for v in labels]),
        )
        assert exact.exact
        assert _got(exact) == _reference(a, b)
    finally:
        repo.close()


def test_a_merge_and_a_split_are_named() -> None:
    a = np.zeros(SHAPE, np.uint64)
    a[:, :, :20], a[:, :, 20:40], a[:, :, 40:] = 5, 7, 9
    b = a.copy()
    b[b == 7] = 5  # 7 merged into 5
    b[:16, :, 40:] = 12  # 9 split: part of it becomes 12
    repo = _repo_with(a, b)
    try:
        d = label_diff(repo, "master", "edits", "seg").to_dict()
    finally:
        repo.close()
    assert d["merged"] == [{"body": 5, "from": [5, 7], "voxels": int((a == 7).sum())}]
    assert d["split"] == [{"body": 9, "into": [9, 12], "voxels": 16 * 48 * 24}]
    assert d["created"] == [{"body": 12, "voxels": 16 * 48 * 24}]
    assert d["deleted"] == [{"body": 7, "voxels": int((a == 7).sum())}]
    assert d["voxels_changed"] == int((a != b).sum())
    assert sorted(d) == sorted(
        [
            "instance", "from", "to", "blocks_compared", "voxels_changed", "exact",
            "merged", "split", "created", "deleted", "bodies", "flows",
        ]
    )  # fmt: skip


@pytest.mark.parametrize("side", [4, 8])
def test_cost_grows_with_the_change_not_the_volume(
    monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    """Blocks decoded = 2 x changed blocks, for a 4^3- or 8^3-block volume alike."""
    decoded = []
    real = labeloverlap.decode_into

    def counting(payload: Any, out: np.ndarray) -> np.ndarray:
        decoded.append(1)
        return real(payload, out)

    monkeypatch.setattr(labeloverlap, "decode_into", counting)
    repo = Repository.memory()
    try:
        repo.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}"})
        seg = repo.head.instance("seg")
        n = side * BS
        seg.put_subvolume(np.full((n, n, n), 3, np.uint64))  # type: ignore[attr-defined]
        repo.commit("full volume")
        counts = {}
        for k in (1, 3):
            for i in range(k):
                repo.head.instance("seg").put_subvolume(  # type: ignore[attr-defined]
                    np.full((2, 2, 2), 100 + k, np.uint64), (0, 0, i * BS)
                )
            repo.commit(f"{k} block(s)")
            decoded.clear()
            d = label_diff(repo, "master~2", "master~1", "seg")
            counts[k] = len(decoded)
            assert d.blocks == k and d.voxels_changed == 8 * k
        assert counts == {1: 2, 3: 6}
    finally:
        repo.close()


def test_a_labelmap_with_an_index_and_a_mapping_gives_an_exact_diff() -> None:
    """Body 7 merged into 5 through the mapping (no block rewritten), body 9 painted over."""
    a = np.zeros(SHAPE, np.uint64)
    a[:, :, :16], a[:, :, 16:32], a[:, :, 32:] = 5, 7, 9
    b = a.copy()
    b[:16, :16, 48:] = 0  # one block of 9 erased
    repo = _repo_with(a, b)
    try:
        seg = repo.head.instance("seg")
        if not isinstance(seg, IndexedLabelMap):
            # This labelmap keeps no label index: bodies are judged by the changed block.
            d = label_diff(repo, "master", "edits", "seg")
            assert not d.exact and d.deleted == [{"body": 9, "voxels": 16**3}]
            assert d.bodies == [
                {"body": 9, "gained": 0, "lost": 16**3, "before": None, "after": None}
            ]
            return
        seg.merge(5, [7])  # type: ignore[attr-defined]
        repo.commit("merge 7 into 5")
        d = label_diff(repo, "master", "edits~1", "seg")
        assert d.exact and d.blocks == 1
        assert d.merged == [{"body": 5, "from": [5, 7], "voxels": int((a == 7).sum())}]
        assert d.deleted == [{"body": 7, "voxels": int((a == 7).sum())}]
        assert d.split == [] and d.created == []
        assert {x["body"]: (x["before"], x["after"]) for x in d.bodies} == {
            5: (int((a == 5).sum()), int((a == 5).sum() + (a == 7).sum())),
            7: (int((a == 7).sum()), 0),
            9: (int((a == 9).sum()), int((b == 9).sum())),
        }
    finally:
        repo.close()


def test_labels_must_name_a_labelmap() -> None:
    repo = Repository.memory()
    try:
        repo.new_instance("uint8blk", "gray", {})
        repo.commit("a")
        with pytest.raises(BadRequestError, match="needs a labelmap"):
            label_diff(repo, "master~1", "master", "gray")
    finally:
        repo.close()


def test_compare_labels_counts_runs() -> None:
    a = np.array([1, 1, 1, 2, 2, 0, 0, 3], np.uint64)
    b = np.array([1, 4, 1, 2, 4, 0, 2, 3], np.uint64)
    pairs, counts, kept, kept_n = compare_labels(a, b)
    assert pairs.tolist() == [[0, 2], [1, 4], [2, 4]] and counts.tolist() == [1, 1, 1]
    assert kept.tolist() == [0, 1, 2, 3] and kept_n.tolist() == [1, 2, 1, 1]


def test_a_body_merge_through_the_mapping_is_a_merge_of_every_voxel() -> None:
    """Supervoxels 1 and 2; at REF2 the mapping sends 2 to body 1 (no block rewritten).

    In the changed blocks 2 kept 30 voxels and lost 5 to 3; it has 70 more elsewhere.
    """
    table = OverlapTable(
        pairs=np.array([[2, 3]], np.uint64),
        counts=np.array([5]),
        kept_labels=np.array([1, 2], np.uint64),
        kept_counts=np.array([40, 30]),
        blocks=2,
    )
    svs = np.array([2], np.uint64)
    outside = voxels_outside(table, svs, np.array([105]))
    assert outside.tolist() == [70]
    table.kept_labels = np.array([1, 2], np.uint64)
    table.kept_counts = np.array([40, 30 + 70])
    mapped = to_bodies(table, None, lambda s: np.where(s == 2, 1, s).astype(np.uint64))
    assert mapped.pairs.tolist() == [[2, 1], [2, 3]] and mapped.counts.tolist() == [100, 5]
    assert mapped.kept_labels.tolist() == [1] and mapped.kept_counts.tolist() == [40]
    d = LabelDiff("seg", "a", "b")
    classify(d, mapped, np.array([40, 105, 0]), np.array([140, 0, 5]))
    assert d.merged == [{"body": 1, "from": [1, 2], "voxels": 100}]
    assert d.deleted == [{"body": 2, "voxels": 105}]
    assert d.split == [{"body": 2, "into": [1, 3], "voxels": 105}]
    assert d.created == [{"body": 3, "voxels": 5}]
