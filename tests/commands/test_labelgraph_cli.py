"""``dvidctl graph ...`` on a RocksDB repository: the verbs through typer's runner (in
process, ~0.5 s of start-up less per command), the real process for what only it shows
(binary stdout, exit codes and the one-line error of the installed entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands.cli_helpers import assert_fails, invoker

DVIDCTL = [sys.executable, "-m", "dvidctl"]


def process(repo: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """``dvidctl ARGS`` as a user runs it, in a real process on ``repo``."""
    env = {**os.environ, "DVIDCTL_REPO": str(repo)}
    return subprocess.run(DVIDCTL + list(args), input=input, capture_output=True, env=env)


def run(repo: Path, *args: str, input: bytes | None = None, code: int = 0) -> str:
    """stdout of ``dvidctl ARGS`` (in process); with ``code``, its one-line error."""
    result = invoker(repo)(*args, input=input, ok=not code)
    if code:
        assert_fails(result, code, "")
        return result.stderr
    return result.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "r"
    run(path, "init", str(path))
    run(path, "new", "labelgraph", "g")
    return path


GRAPH = {
    "Vertices": [{"Id": 1, "Weight": 2}, {"Id": 2, "Weight": 0.5}, {"Id": 3}, {"Id": 4}],
    "Edges": [{"Id1": 1, "Id2": 2, "Weight": 1.5}, {"Id1": 3, "Id2": 4}],
}


def test_graph_verbs(repo: Path, tmp_path: Path) -> None:
    f = tmp_path / "g.json"
    f.write_text(json.dumps(GRAPH))
    run(repo, "graph", "put", "g", str(f))
    run(repo, "graph", "add-vertex", "g", "5", "--weight", "7")
    run(repo, "graph", "add-edge", "g", "4", "6", "-w", "2", "--create")
    doc = json.loads(run(repo, "graph", "get", "g", "--json"))
    assert [v["Id"] for v in doc["Vertices"]] == [1, 2, 3, 4, 5, 6]
    assert {(e["Id1"], e["Id2"]): e["Weight"] for e in doc["Edges"]} == {
        (1, 2): 1.5, (3, 4): 0.0, (4, 6): 2.0,
    }  # fmt: skip
    assert run(repo, "graph", "neighbors", "g", "4").splitlines() == [
        "vertex 4\tweight 0", "vertex 3\tweight 0", "vertex 6\tweight 0",
        "edge 3-4\tweight 0", "edge 4-6\tweight 2",
    ]  # fmt: skip
    sub = json.loads(run(repo, "graph", "subgraph", "g", "1", "--json"))
    assert sub["Edges"] == [{"Id1": 1, "Id2": 2, "Weight": 1.5}]
    assert json.loads(run(repo, "graph", "components", "g", "--json")) == [[1, 2], [3, 4, 6], [5]]
    run(repo, "commit", "-m", "graph")
    # merge 1 into 3: the last vertex is kept
    assert "into 3" in run(repo, "graph", "merge", "g", "1", "3")
    assert run(repo, "graph", "components", "g").splitlines() == ["2 3 4 6", "5"]
    # the committed version still reads as it was
    assert json.loads(run(repo, "graph", "components", "g", "--json", "--node", "HEAD~1")) == [
        [1, 2], [3, 4, 6], [5],
    ]  # fmt: skip
    run(repo, "graph", "set-property", "g", "3", "name", input=b"\x00three")
    run(repo, "graph", "set-property", "g", "4,3", "syn", input=b"e")
    out = process(repo, "graph", "get-property", "g", "3", "name")  # binary on a real stdout
    assert out.returncode == 0 and out.stdout == b"\x00three", out.stderr
    run(repo, "graph", "get-property", "g", "3,4", "syn", "-o", str(tmp_path / "p"))
    assert (tmp_path / "p").read_bytes() == b"e"
    run(repo, "graph", "delete-property", "g", "3", "name")
    got = json.loads(run(repo, "graph", "delete", "g", "-v", "3", "-e", "4,6", "--json"))
    assert got == {"vertices": 1, "edges": 3}
    assert "deleted 4 vertices and 0 edges" in run(repo, "graph", "delete", "g", "--all")


def test_graph_errors(repo: Path, tmp_path: Path) -> None:
    run(repo, "graph", "add-vertex", "g", "1")
    assert "vertex 9 of edge 1-9 not found" in run(repo, "graph", "add-edge", "g", "1", "9", code=3)
    out = process(repo, "graph", "neighbors", "g", "9")  # the installed entry point's error
    err = out.stderr.decode()
    assert out.returncode == 3 and err == "error: vertex 9 not found\n", err
    assert "at least two" in run(repo, "graph", "merge", "g", "1", code=2)
    assert "two different" in run(repo, "graph", "add-edge", "g", "1", "1", code=2)
    assert "property 'x'" in run(repo, "graph", "get-property", "g", "1", "x", code=3)
    assert "not set" in run(repo, "graph", "delete-property", "g", "1", "x", code=3)
    assert "--all" in run(repo, "graph", "delete", "g", code=2)
    bad = tmp_path / "bad.json"
    bad.write_text('{"Vertices": [{"Id": 2}]}')
    assert "Edges is required" in run(repo, "graph", "put", "g", str(bad), code=2)
    assert "not valid JSON" in run(repo, "graph", "put", "g", "-", input=b"{", code=2)
    run(repo, "new", "keyvalue", "kv")
    assert "not a labelgraph" in run(repo, "graph", "get", "kv", code=2)
    doc = json.loads(run(repo, "graph", "get", "g", "--json"))
    assert doc["Vertices"] == [{"Id": 1, "Weight": 0.0}] and doc["Edges"] == []
