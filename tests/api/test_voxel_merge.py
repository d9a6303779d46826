"""Voxel-level three-way merge of blocks both sides changed, against numpy references.

Random volumes, random edits on two branches: disjoint edits merge to exactly the
combined array; edits overlapping with different values conflict at exactly the
voxels where they differ, and change nothing; the same edit on both sides is no
conflict; ``--strategy`` resolves only the conflicting voxels; the merge node's
pyramid equals a fresh downsample of its scale 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes.imageblk.blockmerge import MAX_WHERE, merge_voxels
from dvidctl.datatypes.imageblk.downsample import downsample_gray, downsample_labels
from dvidctl.errors import MergeConflictError
from dvidctl.geometry import Box

BS = 16
SHAPE = (2 * BS, 2 * BS, 3 * BS)  # ZYX: 12 blocks, two pyramid levels above
LEVELS = 2
TYPES: dict[str, tuple[np.dtype, Callable[[np.ndarray], np.ndarray]]] = {
    "labelmap": (np.dtype(np.uint64), downsample_labels),
    "uint8blk": (np.dtype(np.uint8), downsample_gray),
}
BOX = Box((0, 0, 0), SHAPE)


def _repo(typename: str, base: np.ndarray | None) -> Repository:
    """A repository with a committed base volume and a branch ``side`` from it."""
    repo = Repository.memory()
    repo.new_instance(
        typename, "vol", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": str(LEVELS)}
    )
    if base is not None:
        _put(repo, base)
    repo.commit("base")
    repo.branch("side")
    return repo


def _put(repo: Repository, vol: np.ndarray, offset: tuple[int, int, int] = (0, 0, 0)) -> None:
    repo.head.instance("vol").put_subvolume(vol, offset)  # type: ignore[attr-defined]


def _read(repo: Repository, scale: int = 0, ref: str | None = None) -> np.ndarray:
    box = BOX if scale == 0 else BOX.scaled_down(scale)
    return repo.node(ref).instance("vol").get_subvolume(box, scale)  # type: ignore[attr-defined]


def _edit(
    rng: np.random.Generator, vol: np.ndarray, frac: float, where: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``vol`` with a random ``frac`` of voxels (within ``where``) set to new values."""
    mask = rng.random(vol.shape) < frac
    if where is not None:
        mask &= where
    out = vol.copy()
    out[mask] = rng.integers(1, 6, int(mask.sum())).astype(vol.dtype)
    return out, out != vol


def _two_sides(repo: Repository, ours: np.ndarray, theirs: np.ndarray) -> None:
    repo.checkout("side")
    _put(repo, theirs)
    repo.commit("theirs")
    repo.checkout("master")
    _put(repo, ours)
    repo.commit("ours")


def _assert_pyramid_fresh(repo: Repository, typename: str) -> None:
    down = TYPES[typename][1]
    below = _read(repo, 0)
    for level in range(1, LEVELS + 1):
        got = _read(repo, level)
        np.testing.assert_array_equal(got, down(below), err_msg=f"level {level}")
        below = got


def _random_base(rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    return rng.integers(0, 4, SHAPE).astype(dtype)


@pytest.mark.parametrize("typename", sorted(TYPES))
@settings(max_examples=6)
@given(seed=st.integers(0, 2**32 - 1))
def test_disjoint_edits_merge_exactly_to_the_combined_array(typename: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dtype = TYPES[typename][0]
    base = _random_base(rng, dtype)
    half = rng.random(SHAPE) < 0.5  # ours edits only here, theirs only elsewhere
    ours, m_ours = _edit(rng, base, 0.1, half)
    theirs, m_theirs = _edit(rng, base, 0.1, ~half)
    repo = _repo(typename, base)
    try:
        _two_sides(repo, ours, theirs)
        result = repo.merge(["side"])
        expected = base.copy()
        expected[m_ours] = ours[m_ours]
        expected[m_theirs] = theirs[m_theirs]
        np.testing.assert_array_equal(_read(repo), expected)
        assert result.merged_parts == 12  # every block was edited on both sides
        assert result.resolved_parts == 0
        _assert_pyramid_fresh(repo, typename)
        inst = repo.head.instance("vol")
        assert inst.extents() == BOX  # type: ignore[attr-defined]
        if typename == "labelmap":
            assert inst.max_label() == int(expected.max())  # type: ignore[attr-defined]
    finally:
        repo.close()


@pytest.mark.parametrize("typename", sorted(TYPES))
@settings(max_examples=6)
@given(seed=st.integers(0, 2**32 - 1))
def test_overlapping_different_edits_conflict_at_exactly_those_voxels(
    typename: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    dtype = TYPES[typename][0]
    base = _random_base(rng, dtype)
    ours, m_ours = _edit(rng, base, 0.02)
    theirs, m_theirs = _edit(rng, base, 0.02)
    conflict = m_ours & m_theirs & (ours != theirs)
    if not conflict.any():  # make sure there is at least one
        conflict[3, 4, 5] = m_ours[3, 4, 5] = m_theirs[3, 4, 5] = True
        ours[3, 4, 5], theirs[3, 4, 5] = 200, 201
    repo = _repo(typename, base)
    try:
        _two_sides(repo, ours, theirs)
        head = repo.head.uuid
        with pytest.raises(MergeConflictError) as info:
            repo.merge(["side"])
        assert repo.head.uuid == head and len(repo.dag.node(repo.head_vid).parents) == 1
        details = info.value.details
        assert sum(d["voxels"] for d in details) == int(conflict.sum())
        want = {tuple(int(v) for v in p[::-1]) for p in np.argwhere(conflict)}  # XYZ
        got: set[tuple[int, ...]] = set()
        for d in details:
            where = {tuple(p) for p in d["where"]}
            assert len(where) == min(d["voxels"], MAX_WHERE)
            got |= where
        assert got <= want
        if all(d["voxels"] <= MAX_WHERE for d in details):
            assert got == want
        # Blocks: exactly those holding a conflicting voxel.
        blocks = {tuple(int(v) for v in c) for c in np.argwhere(conflict) // BS}
        assert len(details) == len(blocks)

        result = repo.merge(["side"], strategy="ours")
        assert result.resolved_parts == int(conflict.sum())
        expected = base.copy()
        expected[m_theirs] = theirs[m_theirs]
        expected[m_ours] = ours[m_ours]  # ours wins where both changed
        np.testing.assert_array_equal(_read(repo), expected)
        _assert_pyramid_fresh(repo, typename)
    finally:
        repo.close()


@pytest.mark.parametrize("typename", sorted(TYPES))
def test_theirs_resolves_only_the_conflicting_voxels(typename: str) -> None:
    rng = np.random.default_rng(7)
    dtype = TYPES[typename][0]
    base = _random_base(rng, dtype)
    ours, m_ours = _edit(rng, base, 0.05)
    theirs, m_theirs = _edit(rng, base, 0.05)
    conflict = m_ours & m_theirs & (ours != theirs)
    assert conflict.any()
    repo = _repo(typename, base)
    try:
        _two_sides(repo, ours, theirs)
        result = repo.merge(["side"], strategy="theirs")
        assert result.resolved_parts == int(conflict.sum())
        expected = base.copy()
        expected[m_ours] = ours[m_ours]
        expected[m_theirs] = theirs[m_theirs]  # theirs wins where both changed
        np.testing.assert_array_equal(_read(repo), expected)
        assert (expected[m_ours & ~m_theirs] == ours[m_ours & ~m_theirs]).all()
        _assert_pyramid_fresh(repo, typename)
    finally:
        repo.close()


def test_the_same_edit_on_both_sides_is_not_a_conflict() -> None:
    rng = np.random.default_rng(3)
    base = _random_base(rng, np.dtype(np.uint64))
    shared, m_shared = _edit(rng, base, 0.05)
    ours, m_ours = _edit(rng, shared, 0.05, ~m_shared)
    theirs = shared.copy()
    theirs[~m_shared & ~m_ours & (rng.random(SHAPE) < 0.05)] = 9
    repo = _repo("labelmap", base)
    try:
        _two_sides(repo, ours, theirs)
        result = repo.merge(["side"])
        expected = ours.copy()
        m_theirs = theirs != shared
        expected[m_theirs] = theirs[m_theirs]
        np.testing.assert_array_equal(_read(repo), expected)
        assert result.resolved_parts == 0
    finally:
        repo.close()


def test_a_block_absent_at_the_base_merges_as_zeros() -> None:
    repo = _repo("labelmap", None)
    try:
        a = np.zeros((BS, BS, BS), np.uint64)
        a[: BS // 2] = 5  # lower half of the block on one side
        b = np.zeros((BS, BS, BS), np.uint64)
        b[BS // 2 :] = 6  # upper half on the other
        repo.checkout("side")
        _put(repo, b)
        repo.commit("b")
        repo.checkout("master")
        _put(repo, a)
        repo.commit("a")
        result = repo.merge(["side"])
        assert result.merged_parts == 1
        got = repo.head.instance("vol").get_subvolume(Box((0, 0, 0), (BS,) * 3))  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got, a + b)
        assert repo.head.instance("vol").max_label() == 6  # type: ignore[attr-defined]
    finally:
        repo.close()


def test_a_block_deleted_on_one_side_and_edited_on_the_other_keeps_only_the_edit() -> None:
    """Deleting a block sets all its voxels to the background: a change of every voxel."""
    base = np.full((BS, BS, BS), 4, np.uint64)
    repo = _repo("labelmap", base)
    try:
        repo.checkout("side")
        _put(repo, np.zeros_like(base))
        repo.commit("cleared")
        repo.checkout("master")
        edited = base.copy()
        edited[0, 0, 0] = 8
        _put(repo, edited)
        repo.commit("one voxel")
        with pytest.raises(MergeConflictError) as info:
            repo.merge(["side"])
        assert info.value.details[0]["voxels"] == 1
        assert info.value.details[0]["where"] == [[0, 0, 0]]
        repo.merge(["side"], strategy="theirs")
        got = _read(repo)[:BS, :BS, :BS]
        assert not got.any()
    finally:
        repo.close()


def test_three_parents_merge_voxel_by_voxel() -> None:
    rng = np.random.default_rng(11)
    base = _random_base(rng, np.dtype(np.uint64))
    thirds = rng.integers(0, 3, SHAPE)
    vols = []
    repo = _repo("labelmap", base)
    try:
        repo.branch("other")
        for i, branch in enumerate(("side", "other", "master")):
            vol, _ = _edit(rng, base, 0.1, thirds == i)
            vols.append(vol)
            repo.checkout(branch)
            _put(repo, vol)
            repo.commit(branch)
        repo.merge(["side", "other"])
        expected = base.copy()
        for vol in vols:
            expected[vol != base] = vol[vol != base]
        np.testing.assert_array_equal(_read(repo), expected)
    finally:
        repo.close()


def test_merge_voxels_numpy_rule() -> None:
    base = np.array([0, 1, 2, 3, 4])
    ours = np.array([9, 1, 7, 3, 5])
    theirs = np.array([9, 8, 2, 6, 6])
    merged, conflict = merge_voxels(base, [ours, theirs], [0, 1], "fail")
    assert merged.tolist()[:4] == [9, 8, 7, 6] and conflict.tolist() == [0, 0, 0, 0, 1]
    assert merge_voxels(base, [ours, theirs], [0, 1], "ours")[0].tolist() == [9, 8, 7, 6, 5]
    assert merge_voxels(base, [ours, theirs], [0, 1], "theirs")[0].tolist() == [9, 8, 7, 6, 6]


@pytest.mark.parametrize("strategy", ["fail", "ours", "theirs"])
@pytest.mark.parametrize("sides", [[0, 1], [0, 2], [1, 2], [0, 1, 2]])
def test_merge_voxels_equals_a_voxel_by_voxel_reference(strategy: str, sides: list[int]) -> None:
    rng = np.random.default_rng(len(sides) * 10 + len(strategy))
    base = rng.integers(0, 3, 200)
    values = [np.where(rng.random(200) < 0.4, rng.integers(0, 3, 200), base) for _ in range(3)]
    for i in range(3):
        if i not in sides:
            values[i] = base.copy()
    merged, conflict = merge_voxels(base, values, sides, strategy)
    for v in range(200):
        changes = [(i, int(values[i][v])) for i in sides if values[i][v] != base[v]]
        differ = len({c for _, c in changes}) > 1
        assert conflict[v] == differ
        if not changes:
            assert merged[v] == base[v]
        elif not differ or strategy == "fail":
            assert merged[v] == changes[0][1]
        elif strategy == "ours":
            assert merged[v] == values[0][v]
        else:
            assert merged[v] == [c for i, c in changes if i != 0][-1]


def test_block_coords_through_a_batch_list_the_blocks_it_leaves() -> None:
    """What a rebuild at a merge node lists (a label index rebuilt from every block)."""
    repo = Repository.memory()
    try:
        repo.new_instance("labelmap", "vol", {"BlockSize": f"{BS},{BS},{BS}"})
        _put(repo, np.ones((BS, BS, 2 * BS), np.uint64))
        repo.commit("two blocks")
        inst = repo.head.instance("vol")
        vol = inst.blocks  # type: ignore[attr-defined]
        batch = inst._batch()
        vol.delete_blocks(0, np.array([[0, 0, 0]]), batch)
        vol.write(np.ones((BS,) * 3, np.uint64), Box((0, 0, 2 * BS), (BS, BS, 3 * BS)), 0, batch)
        assert vol.block_coords(0).tolist() == [[0, 0, 0], [0, 0, 1]]
        assert vol.block_coords(0, batch).tolist() == [[0, 0, 1], [0, 0, 2]]
    finally:
        repo.close()


def test_merged_label_blocks_keep_their_tile_label_sets() -> None:
    """A voxel merge stores a labelmap's merged blocks as an indexed write of the same
    voxels stores them (codec 5: tile label sets), so sparse volumes still skip tiles."""
    from dvidctl.datatypes.imageblk.codec import ZstdCodec
    from dvidctl.datatypes.imageblk.tilelabels import ZSTD_TILED_LABELS
    from dvidctl.store.versioned import VALUE_PREFIX

    rng = np.random.default_rng(8)
    small = rng.integers(1, 30, (16, 16, 16)).astype(np.uint64)
    base = np.ascontiguousarray(small.repeat(4, 0).repeat(4, 1).repeat(4, 2))  # one 64^3 block
    ours, theirs = base.copy(), base.copy()
    ours[:20] = np.where(ours[:20] == 3, np.uint64(40), ours[:20])  # different voxels
    theirs[40:] = np.where(theirs[40:] == 5, np.uint64(41), theirs[40:])
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(base)
        repo.commit("base")
        repo.branch("side")
        repo.checkout("side")
        repo.head.instance("seg").put_subvolume(theirs)
        repo.commit("theirs")
        repo.checkout("master")
        repo.head.instance("seg").put_subvolume(ours)
        repo.commit("ours")
        repo.merge(["side"])
        seg = repo.head.instance("seg")
        want = np.where(theirs != base, theirs, ours)
        payload = bytes(seg.blocks.payloads(0, np.zeros((1, 3), np.int64))[(0, 0, 0)])
        assert payload[0] == ZSTD_TILED_LABELS
        assert VALUE_PREFIX + payload == ZstdCodec().encode_labelled(want, VALUE_PREFIX)
        for label in (40, 41, 7):
            got = seg.sparsevol(label, supervoxels=True).voxels_zyx()
            np.testing.assert_array_equal(got, np.argwhere(want == label))
