"""Merges never compare derived data: pyramid levels are rebuilt from the merged scale 0.

Issue #8 item 2: two branches that write different places used to conflict on the
shared scale-1 block, and ``--strategy theirs`` then left a scale 1 that lost one
side's labels. Every check here reads each level of the merge node and compares it
with the level below, downsampled (the definition of the pyramid), so it fails for
any stale or half-merged block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api.merge import merge_nodes
from dvidctl.datatypes.imageblk.downsample import downsample_gray, downsample_labels
from dvidctl.errors import ConflictError
from dvidctl.geometry import Box

BS = 32
TYPES: dict[str, tuple[str, np.dtype, Callable[[np.ndarray], np.ndarray]]] = {
    "labelmap": ("labelmap", np.dtype(np.uint64), downsample_labels),
    "uint8blk": ("uint8blk", np.dtype(np.uint8), downsample_gray),
}


def _setup(repo: Repository, typename: str, levels: int = 2) -> None:
    repo.new_instance(
        typename, "vol", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": str(levels)}
    )
    repo.commit("base")


def _put(repo: Repository, value: int, offset_x: int, typename: str, size: int = BS) -> None:
    dtype = TYPES[typename][1]
    arr = np.full((size, size, size), value, dtype)
    repo.head.instance("vol").put_subvolume(arr, (0, 0, offset_x))  # type: ignore[attr-defined]


def _assert_pyramid_consistent(repo: Repository, ref: str | None, typename: str) -> None:
    """Every stored level equals the level below, downsampled, over the whole extent."""
    inst = repo.node(ref).instance("vol")
    down = TYPES[typename][2]
    ext = inst.extents()  # type: ignore[attr-defined]
    assert ext is not None
    box = ext.aligned_to((BS * 4, BS * 4, BS * 4))
    below = inst.get_subvolume(box, 0)  # type: ignore[attr-defined]
    for level in range(1, inst.max_downres + 1):  # type: ignore[attr-defined]
        box = box.scaled_down(1)
        got = inst.get_subvolume(box, level)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got, down(below), err_msg=f"level {level}")
        below = got


@pytest.mark.parametrize("typename", sorted(TYPES))
def test_edits_to_different_places_merge_and_the_pyramid_holds_both(
    mem_repo: Repository, typename: str
) -> None:
    repo = mem_repo
    _setup(repo, typename)
    repo.branch("side", note="a")
    repo.checkout("side")
    _put(repo, 7, 0, typename)
    repo.commit("a1")
    repo.checkout("master")
    _put(repo, 9, BS, typename)  # the neighbouring block: same scale-1 and scale-2 parents
    repo.commit("m1")
    result = repo.merge(["side"], "merge a")  # used to conflict on the scale-1 block
    assert result.node is not None
    _assert_pyramid_consistent(repo, None, typename)
    inst = repo.head.instance("vol")
    s1 = inst.get_subvolume(Box((0, 0, 0), (BS // 2, BS // 2, BS)), 1)  # type: ignore[attr-defined]
    assert set(np.unique(s1)) == {7, 9}
    assert inst.extents() == Box((0, 0, 0), (BS, BS, 2 * BS))  # type: ignore[attr-defined]
    if typename == "labelmap":
        assert inst.max_label() == 9  # type: ignore[attr-defined]


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
@pytest.mark.parametrize("typename", sorted(TYPES))
def test_a_resolved_conflict_rebuilds_the_levels_above_it(
    mem_repo: Repository, typename: str, strategy: str
) -> None:
    repo = mem_repo
    _setup(repo, typename)
    repo.branch("side")
    repo.checkout("side")
    _put(repo, 7, 0, typename)
    _put(repo, 5, 2 * BS, typename)  # only a: must survive at every level
    repo.commit("a1")
    repo.checkout("master")
    _put(repo, 9, 0, typename)  # the same block: a real conflict
    repo.commit("m1")
    with pytest.raises(ConflictError) as info:
        repo.merge(["side"])
    keys = [d["key"] for d in info.value.details]
    assert keys == ["block s0 (x,y,z)=(0,0,0)"]  # only level 0 conflicts
    repo.merge(["side"], strategy=strategy)
    _assert_pyramid_consistent(repo, None, typename)
    inst = repo.head.instance("vol")
    winner = 9 if strategy == "ours" else 7
    vol = inst.get_subvolume(Box((0, 0, 0), (BS, BS, 3 * BS)), 0)  # type: ignore[attr-defined]
    assert (vol[:, :, :BS] == winner).all() and (vol[:, :, 2 * BS :] == 5).all()


@pytest.mark.parametrize("typename", sorted(TYPES))
def test_pyramid_blocks_both_sides_wrote_directly_are_rebuilt_from_scale_0(
    mem_repo: Repository, typename: str
) -> None:
    """Writes at scale 1 on both sides, nothing beneath: the merge node reads one answer."""
    repo = mem_repo
    _setup(repo, typename)
    _put(repo, 3, 0, typename)
    repo.commit("scale 0 data")
    repo.branch("side")
    repo.checkout("side")
    dtype = TYPES[typename][1]
    inst = repo.head.instance("vol")
    inst.put_subvolume(np.full((BS,) * 3, 4, dtype), (0, 0, 0), 1)  # type: ignore[attr-defined]
    inst.put_subvolume(np.full((BS,) * 3, 6, dtype), (BS, 0, 0), 1)  # type: ignore[attr-defined]
    repo.commit("a1")
    repo.checkout("master")
    inst = repo.head.instance("vol")
    inst.put_subvolume(np.full((BS,) * 3, 8, dtype), (0, 0, 0), 1)  # type: ignore[attr-defined]
    inst.put_subvolume(np.full((BS,) * 3, 2, dtype), (BS, 0, 0), 1)  # type: ignore[attr-defined]
    repo.commit("m1")
    repo.merge(["side"])  # scale-1 blocks are derived: no conflict
    _assert_pyramid_consistent(repo, None, typename)
    # the scale-1 block over stored scale-0 data is rebuilt from it; the one over
    # nothing (z block 1 at scale 1 covers z 64..128 at scale 0) reads as background
    inst = repo.head.instance("vol")
    top = inst.get_subvolume(Box((0, 0, 0), (2 * BS, BS, BS)), 1)  # type: ignore[attr-defined]
    assert (top[: BS // 2, : BS // 2, : BS // 2] == 3).all()
    assert (top[BS:] == 0).all()


def _diverge_next_door(repo: Repository) -> None:
    """A labelmap; branch a writes label 7 in block x=0, master label 9 in block x=1."""
    _setup(repo, "labelmap")
    repo.branch("side")
    repo.checkout("side")
    _put(repo, 7, 0, "labelmap")
    repo.commit("a1")
    repo.checkout("master")
    _put(repo, 9, BS, "labelmap")
    repo.commit("m1")


def test_merge_nodes_rebuilds_the_pyramid_too(mem_repo: Repository) -> None:
    """DVID's POST /repo/{uuid}/merge takes the same path (api.merge.merge_nodes)."""
    repo = mem_repo
    _diverge_next_door(repo)
    result = merge_nodes(repo, [repo.resolve("master~1"), repo.resolve("side~1")], "m")
    assert result.node is not None
    _assert_pyramid_consistent(repo, result.node.uuid, "labelmap")


def test_a_failed_merge_write_leaves_no_node_behind(
    disk_repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge node joins the DAG only while its batch is built; a failed write undoes it."""
    repo = disk_repo
    _diverge_next_door(repo)
    nodes_before = set(repo.dag.nodes)
    head_before = repo.head.uuid

    def broken_write(batch: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(repo.engine, "write", broken_write)
    with pytest.raises(OSError):
        repo.merge(["side"])
    monkeypatch.undo()
    assert set(repo.dag.nodes) == nodes_before
    assert repo.head.uuid == head_before
    repo.merge(["side"])  # and it works once the disk is back
    _assert_pyramid_consistent(repo, None, "labelmap")
