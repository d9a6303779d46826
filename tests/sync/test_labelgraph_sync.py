"""A labelgraph travels with clone, pull and push through a real ``dvidctl serve``.

The sync engine moves versioned keys whatever their type; this checks that a
labelgraph's keys (vertices, edges, adjacency, properties, over a branch and a
merge) arrive key for key, and that the copies read the same graph at every node.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelgraph.ops import LabelGraph
from tests.sync.helpers import assert_same_nodes

DVIDCTL = [sys.executable, "-m", "dvidctl"]


def run(cwd: Path, *args: str) -> str:
    p = subprocess.run(
        DVIDCTL + list(args), cwd=cwd, capture_output=True, env={**os.environ, "DVIDCTL_REPO": ""}
    )
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout.decode()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """``serve(path)`` starts ``dvidctl serve --repo path`` and returns its URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(path: Path) -> str:
        proc = subprocess.Popen(
            [*DVIDCTL, "serve", "--repo", str(path), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        procs.append(proc)
        assert proc.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline().decode())
        assert found
        url = found.group(0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/server/info", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("dvidctl serve did not answer")

    def stop() -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    stop()


def graph(node: object) -> LabelGraph:
    inst = node.instance("g")  # type: ignore[attr-defined]
    assert isinstance(inst, LabelGraph)
    return inst


def build(path: Path) -> str:
    """A graph over master, a branch and a merge; returns the root UUID."""
    with Repository.init(path) as repo:
        repo.new_instance("labelgraph", "g")
        g = graph(repo.head)
        g.put_subgraph(
            {
                "Vertices": [{"Id": v, "Weight": v} for v in range(1, 30)],
                "Edges": [{"Id1": v, "Id2": v + 1, "Weight": 0.5} for v in range(1, 29)],
            }
        )
        g.put_property(1, "name", b"first")
        g.put_property(2, "syn", b"\x00\x01", 1)
        repo.commit("base")
        side = graph(repo.branch("side"))
        side.merge({"Vertices": [{"Id": 3}, {"Id": 4}], "Edges": []})
        side.put_subgraph({"Vertices": [{"Id": 40}], "Edges": [{"Id1": 40, "Id2": 1}]})
        repo.commit("side", ref="side")
        master = graph(repo.head)
        master.delete_subgraph({"Vertices": [{"Id": 20}], "Edges": []})
        master.add_weights({"Vertices": [], "Edges": [{"Id1": 1, "Id2": 2, "Weight": 2}]})
        repo.commit("master")
        repo.merge(["side"], "merge side")
        repo.commit("merged")
        return repo.root_uuid


def assert_same_graphs(a: Path, b: Path) -> int:
    with Repository.open(a) as ra, Repository.open(b) as rb:
        common = [
            n.uuid
            for n in ra.dag.nodes.values()
            if n.locked and n.uuid in rb.dag.by_uuid and rb.dag.node(rb.dag.by_uuid[n.uuid]).locked
        ]
        keys = assert_same_nodes(ra, rb, common)
        for uuid in common:
            ga, gb = graph(ra.node(uuid)), graph(rb.node(uuid))
            assert ga.get_subgraph() == gb.get_subgraph(), uuid
            assert ga.property_names(1) == gb.property_names(1)
        return len(common) if keys else 0


def test_clone_pull_and_push_move_the_graph(tmp_path: Path, serve: object) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    root = build(src)
    with Repository.open(src) as r:
        head = r.head.uuid
    url = serve(src)  # type: ignore[operator]
    run(tmp_path, "clone", f"{url}/{root}", str(dst))
    # the server's master moves on: a write and a commit over DVID's HTTP API
    c = httpx.Client(base_url=f"{url}/api/node/{head}", timeout=30)
    c.post("/g/subgraph", content=b'{"Vertices":[{"Id":50}],"Edges":[{"Id1":50,"Id2":40}]}')
    c.post("/g/property/50/name", content=b"fifty").raise_for_status()
    c.post("/commit", json={"note": "over http"}).raise_for_status()
    c.post("/newversion", json={}).raise_for_status()
    run(dst, "pull")
    with Repository.open(dst) as d:
        g = graph(d.head)
        assert g.neighbor_ids(40) == [1, 50] and g.get_property(50, "name") == b"fifty"
        g.merge({"Vertices": [{"Id": 50}, {"Id": 40}], "Edges": []})
        d.commit("in the clone")
    run(dst, "push")
    # the CLI reads the served graph with --remote as it reads the local copy
    with Repository.open(dst) as d:
        pushed = d.node("HEAD~1").uuid
    remote = run(tmp_path, "graph", "get", "g", "--json", "--remote", url, "--node", pushed)
    local = run(dst, "graph", "get", "g", "--json", "--node", pushed)
    assert remote == local and '"Id": 40' in local
    serve.stop()  # type: ignore[attr-defined]
    assert assert_same_graphs(src, dst) >= 6
    with Repository.open(src) as s:
        (pushed,) = [n for n in s.dag.nodes.values() if n.note == "in the clone"]
        g = graph(s.node(pushed.uuid))
        assert not g.has_vertex(50) and g.neighbor_ids(40) == [1]
        assert g.connected_components()[0][:4] == [1, 2, 4, 5]  # 3 was merged into 4
