"""The merge planner's three-way hook (store/mergeplan.py), on a real labelmap's keys."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.imageblk.blockkeys import block_tkey
from dvidctl.store.mergeplan import KeyMerge, plan_merge
from dvidctl.store.versioned import VALUE_PREFIX

BS = 16


@pytest.fixture
def repo() -> Repository:
    """Block (0,0,0) written on both sides; block (0,0,2) on 'side' only."""
    r = Repository.memory()
    r.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": "1"})
    r.commit("base")
    r.branch("side")
    r.checkout("side")
    seg = r.head.instance("seg")
    seg.put_subvolume(np.full((BS, BS, BS), 5, np.uint64))  # type: ignore[attr-defined]
    seg.put_subvolume(np.full((BS, BS, BS), 3, np.uint64), (0, 0, 2 * BS))  # type: ignore[attr-defined]
    r.commit("side")
    r.checkout("master")
    r.head.instance("seg").put_subvolume(np.full((BS, BS, BS), 7, np.uint64))  # type: ignore[attr-defined]
    r.commit("master")
    return r


@pytest.mark.parametrize(("strategy", "conflicts"), [("ours", 3), ("ours", 0), ("fail", 0)])
def test_derived_keys_one_side_changed_are_rebuilt_when_parts_were_overruled(
    repo: Repository, strategy: str, conflicts: int
) -> None:
    seen = []

    def three_way(iid, tkey, base, values, sides, strat):  # type: ignore[no-untyped-def]
        seen.append((tkey, base, sides, strat))
        return KeyMerge(VALUE_PREFIX + b"merged", conflicts, [[0, 0, 0]] * conflicts)

    parents = [repo.resolve("master~1"), repo.resolve("side~1")]
    iid = repo.instance_record("seg").iid
    plan = plan_merge(
        repo.store,
        parents,
        strategy=strategy,
        rule=registry.get("labelmap").merge_rule,  # extents and max label: by rule
        derived=lambda _: registry.get("labelmap").derived_key,
        three_way=three_way,
    )
    block = block_tkey(186, 0, 0, 0, 0)
    assert [(t, b, s, st) for t, b, s, st in seen] == [(block, None, [0, 1], strategy)]
    assert plan.resolutions[(iid, block)] == VALUE_PREFIX + b"merged"
    assert (plan.merged_parts, plan.resolved_parts) == (1, conflicts)
    contested = set(plan.contested[iid])
    assert block_tkey(186, 1, 0, 0, 0) in contested  # both sides changed it
    # Scale-1 block (0,0,1) sits above 'side's block (0,0,2) only.
    assert (block_tkey(186, 1, 0, 0, 1) in contested) == (conflicts > 0)


def test_fail_with_conflicting_parts_is_a_conflict_carrying_them(repo: Repository) -> None:
    def three_way(iid, tkey, base, values, sides, strat):  # type: ignore[no-untyped-def]
        return KeyMerge(None, 2, [[1, 2, 3], [4, 5, 6]])

    parents = [repo.resolve("master~1"), repo.resolve("side~1")]
    spec = registry.get("labelmap")
    plan = plan_merge(
        repo.store,
        parents,
        rule=spec.merge_rule,
        derived=lambda _: spec.derived_key,
        three_way=three_way,
    )
    (c,) = plan.conflicts
    assert c.partial is not None and c.partial.where == [[1, 2, 3], [4, 5, 6]]
    assert not plan.resolutions or all(k[1] != c.tkey for k in plan.resolutions)
