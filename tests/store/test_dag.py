"""The in-memory commit DAG: ancestry, merge bases, first parent (dvidctl/store/dag.py)."""

from __future__ import annotations

import networkx as nx
import pytest

from dvidctl.store.dag import Dag, NodeRecord, branch_key, branch_label
from tests.factories import build_dag

# 1 - 2 - 4 - 6          (master)
#  \   \ /   /
#   3 - 5 --             (b: 3, 5; 4 merges 2+3; 6 merges 4+5)
SPEC = [[1], [2, 1], [3, 1], [4, 2, 3], [5, 3, 2], [6, 4, 5]]
BRANCHES = {1: "", 2: "", 3: "b", 4: "", 5: "b", 6: ""}


@pytest.fixture
def dag() -> Dag:
    return build_dag(SPEC, branches=BRANCHES)


def test_ancestors(dag: Dag) -> None:
    assert dag.ancestors(1) == {1}
    assert dag.ancestors(4) == {1, 2, 3, 4}
    assert dag.ancestors(6) == {1, 2, 3, 4, 5, 6}
    assert dag.is_ancestor(2, 5) and not dag.is_ancestor(4, 5) and dag.is_ancestor(5, 5)


def test_ancestors_match_networkx(dag: Dag) -> None:
    g = dag.graph()
    for v in dag.nodes:
        assert dag.ancestors(v) == nx.ancestors(g, v) | {v}


def test_ancestors_of_deep_chain_without_recursion() -> None:
    dag = build_dag([[1]] + [[i, i - 1] for i in range(2, 5002)])
    assert len(dag.ancestors(5001)) == 5001
    assert dag.ancestors(2500) == frozenset(range(1, 2501))


def test_merge_bases(dag: Dag) -> None:
    assert dag.merge_bases([2, 3]) == [1]
    assert dag.merge_bases([4, 3]) == [3]
    # criss-cross: 4 and 5 both merge 2 and 3, so both are merge bases
    assert dag.merge_bases([4, 5]) == [2, 3]
    assert dag.merge_bases([6, 5]) == [5]
    assert dag.merge_bases([2, 3, 6]) == [1]
    assert dag.common_ancestors([4, 5]) == {1, 2, 3}


def test_first_parent_prefers_same_branch(dag: Dag) -> None:
    assert dag.first_parent(1) is None
    assert dag.first_parent(2) == 1
    assert dag.first_parent(3) == 1  # no parent on branch b: the last one
    assert dag.first_parent(4) == 2
    assert dag.first_parent(5) == 3
    assert dag.first_parent(6) == 4


def test_first_parent_falls_back_to_last_parent() -> None:
    dag = build_dag([[1], [2, 1], [3, 1], [4, 2, 3]], branches={2: "x", 3: "y", 4: "z"})
    assert dag.first_parent(4) == 3


def test_topological_root_branches(dag: Dag) -> None:
    assert dag.topological() == [1, 2, 3, 4, 5, 6]
    assert dag.topological([5, 2, 4]) == [2, 4, 5]
    assert dag.root.vid == 1
    assert dag.branches() == {"", "b"}
    assert len(dag) == 6 and 6 in dag and 7 not in dag


def test_remove_leaf_updates_children_and_cache(dag: Dag) -> None:
    assert 6 in dag.ancestors(6)
    dag.remove(6)
    assert 6 not in dag and dag.node(4).children == [] and dag.node(5).children == []
    assert "0" * 31 + "6" not in dag.by_uuid


def test_node_record_round_trip() -> None:
    n = NodeRecord(
        vid=3, uuid="a" * 32, parents=[1, 2], branch="b", locked=True, note="n", log=["x"]
    )
    assert NodeRecord.from_dict(n.to_dict()) == n


def test_branch_names() -> None:
    assert branch_key("master") == "" and branch_key("") == "" and branch_key("dev") == "dev"
    assert branch_label("") == "master" and branch_label("dev") == "dev"
