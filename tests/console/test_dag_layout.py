"""The DAG layout (static/dag.js layoutDag) on generated DAGs, run in Chromium.

Whatever the DAG: every node has a row of its own (so no two overlap), each branch stays
in one lane, and no edge's vertical stretch runs through a node it does not join.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from tests.console.conftest import Served

pytestmark = pytest.mark.browser

ROW = 26  # static/dag.js


def random_dag(n: int, branches: int, merge_rate: float, seed: int) -> list[dict[str, Any]]:
    """A DAG as DVID makes them: branches are chains forked from older nodes, merges join two."""
    rng = random.Random(seed)
    nodes = [{"vid": 1, "uuid": "u1", "branch": "", "parents": []}]
    leaf = {"": 1}
    of_branch: dict[str, list[int]] = {"": [1]}
    for vid in range(2, n + 1):
        grow = len(leaf) < branches and rng.random() < 0.15
        if grow:
            name = f"branch-{len(leaf)}"
            parents = [rng.choice(range(1, vid))]
        else:
            name = rng.choice(sorted(leaf))
            parents = [leaf[name]]
            others = [b for b in leaf if b != name]
            if others and rng.random() < merge_rate:
                parents.append(rng.choice(of_branch[rng.choice(others)]))
        nodes.append({"vid": vid, "uuid": f"u{vid}", "branch": name, "parents": parents})
        leaf[name] = vid
        of_branch.setdefault(name, []).append(vid)
    return nodes


def layout(page: Any, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return page.evaluate(
        """async (nodes) => {
            const {layoutDag} = await import('/console/dag.js');
            const lay = layoutDag(nodes);
            return {pos: Object.fromEntries([...lay.pos].map(([v, p]) => [v, p])),
                    edges: lay.edges, lanes: lay.lanes};
        }""",
        nodes,
    )


def check(nodes: list[dict[str, Any]], lay: dict[str, Any]) -> None:
    pos = {int(k): v for k, v in lay["pos"].items()}
    assert len(pos) == len(nodes)
    ys = sorted(p["y"] for p in pos.values())
    assert all(b - a >= ROW for a, b in itertools.pairwise(ys))  # a row each: no overlaps
    lane_of: dict[str, int] = {}
    for n in nodes:
        assert lane_of.setdefault(n["branch"], pos[n["vid"]]["lane"]) == pos[n["vid"]]["lane"]
    for e in lay["edges"]:
        run = e["run"]
        for vid, p in pos.items():
            if vid in (e["from"], e["to"]):
                continue
            assert not (p["x"] == run["x"] and run["top"] <= p["y"] <= run["bottom"]), (e, vid)
    parents = sum(len(n["parents"]) for n in nodes)
    assert len(lay["edges"]) == parents


def test_layout_of_generated_dags(page: Any, served: Served) -> None:
    page.goto(served.url + "/")
    for n, branches, merges, seed in [
        (200, 10, 0.05, 1),
        (200, 10, 0.3, 2),
        (300, 16, 0.1, 3),
        (50, 3, 0.5, 4),
        (1, 1, 0.0, 5),
    ]:
        nodes = random_dag(n, branches, merges, seed)
        lay = layout(page, nodes)
        check(nodes, lay)
        assert lay["lanes"] <= len({x["branch"] for x in nodes}) + sum(
            len(x["parents"]) > 1 for x in nodes
        )
