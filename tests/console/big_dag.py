"""A repository of 200 nodes on 10 branches, with merges: the DAG view must stay readable."""

from __future__ import annotations

from pathlib import Path

from dvidctl import Repository
from dvidctl.store.dag import branch_key

NODES = 200
BRANCHES = 10


def build_big_dag(path: Path, nodes: int = NODES, branches: int = BRANCHES) -> str:
    """Commit round-robin on ``branches`` branches (merging some into master); returns the root."""
    with Repository.init(path, alias="big-dag", description=f"{nodes} nodes") as r:
        r.commit("base")
        names = ["master"] + [f"feature-{i}" for i in range(1, branches)]
        i = 0
        while len(r.dag.nodes) < nodes:
            name = names[i % branches]
            i += 1
            if branch_key(name) not in r.state.branches:
                r.checkout("master")
                r.branch(name)
            r.checkout(name)
            r.commit(f"{name} step {i}")
            if i % 23 == 0 and name != "master":
                r.checkout("master")
                r.merge([name], f"merge {name}")
                r.commit("merged")
        return r.root_uuid
