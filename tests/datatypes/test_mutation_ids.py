"""Mutation ids of two clones of one repository do not collide, and merged histories
keep the records of both sides (see the notes of dvidctl.datatypes.labelmap.mutlog)."""

from __future__ import annotations

import numpy as np

from dvidctl import Repository
from dvidctl.datatypes.labelmap.mutlog import mutation_seq, node_tag
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch_from


def _volume() -> np.ndarray:
    vol = np.zeros((32, 32, 32), np.uint64)
    for i, label in enumerate((1, 2, 3, 4)):
        vol[:, :, 8 * i : 8 * i + 8] = label
    return vol


def test_two_clones_mutating_at_once_keep_distinct_ids_through_a_merge() -> None:
    with Repository.memory() as a:
        a.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
        a.head.instance("seg").put_subvolume(_volume())
        a.commit("base")
        with Repository.memory(root_uuid=a.root_uuid, incoming_root=True) as b:
            fetch_from(b, "origin", LocalEndpoint(a))
            b.branch("theirs", "origin/master~1")
            b.checkout("theirs")
            theirs = b.head.instance("seg").merge(3, [4])
            b.commit("they merge 4 into 3")
            ours = a.head.instance("seg").merge(1, [2])  # the same moment, in the other clone
            a.commit("we merge 2 into 1")
            # both are the first mutation of their clone, at different nodes
            assert mutation_seq(ours) == mutation_seq(theirs) == 1
            assert ours != theirs
            assert ours & 0xFFFFF == node_tag(a.node("master~1").uuid)
            fetch_from(a, "b", LocalEndpoint(b))
        a.merge(["b/theirs"], "both merges")
        seg = a.head.instance("seg")
        assert seg.sizes([1, 3]) == [2 * 8 * 32 * 32, 2 * 8 * 32 * 32]
        seen = sorted(r["MutationID"] for r in seg.history(1) + seg.history(3))
        assert seen == sorted([ours, theirs])
        # the next mutation continues above both sides
        nxt = seg.merge(1, [3])
        assert mutation_seq(nxt) == 2 and nxt > max(ours, theirs)
        assert seg.last_mod(1)["mutation id"] == nxt
