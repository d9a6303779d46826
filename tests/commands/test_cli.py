"""CLI tests: typer's runner for most, real subprocesses for exit codes and the lock message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dvidctl.api.repository import Repository
from dvidctl.commands.main import app

DVIDCTL = [sys.executable, "-m", "dvidctl"]


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Invoke the CLI in-process inside an initialised repository; returns (invoke, path)."""
    runner = CliRunner()
    repo_dir = tmp_path / "r"

    def invoke(*args: str, input: bytes | str | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(
            app,
            ["--help"] if not args else list(args),
            input=input,
            env={"DVIDCTL_REPO": str(repo_dir)},
        )
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    invoke("init", str(repo_dir), "--alias", "t")
    return invoke, repo_dir


def snapshot(path: Path) -> tuple:  # type: ignore[type-arg]
    """Everything observable in a repository: metadata and all raw data/delta keys."""
    with Repository.open(path) as r:
        eng = r.engine
        return tuple(tuple(eng.scan(cf, b"")) for cf in ("meta", "data", "delta"))


def test_version_workflow_and_json(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    invoke("new", "keyvalue", "kv")
    invoke("put", "key", "kv", "a", input=b"one")
    assert invoke("get", "key", "kv", "a").stdout_bytes == b"one"
    out = json.loads(invoke("commit", "-m", "c1", "--json").stdout)
    assert out["committed"]["locked"] is True and out["head"]["locked"] is False
    invoke("put", "key", "kv", "a", input=b"two")
    invoke("commit", "-m", "c2")
    invoke("branch", "side", "--from", "HEAD~2", "--checkout")
    st = json.loads(invoke("status", "--json").stdout)
    assert st["head"] == "side" and st["node"]["branch"] == "side" and st["changes"] == {}
    invoke("put", "key", "kv", "a", input=b"side")
    invoke("put", "key", "kv", "b", input=b"new")
    st = json.loads(invoke("status", "--json").stdout)
    assert st["changes"] == {"kv": 2}
    invoke("commit", "-m", "s1")
    invoke("checkout", "master")
    d = json.loads(invoke("diff", "master~1", "side~1", "--json").stdout)
    assert d == {"kv": {"added": ["b"], "changed": ["a"], "deleted": []}}
    before = snapshot(path)
    r = invoke("merge", "side", "--json", ok=False)
    assert r.exit_code == 5
    body = json.loads(r.stdout)
    assert body["merged"] is False and body["details"][0]["key"] == "a"
    assert snapshot(path) == before, "a failed merge must change nothing"
    m = json.loads(invoke("merge", "side", "-s", "ours", "--json").stdout)
    assert m["merged"] and len(m["parents"]) == 2
    assert invoke("get", "key", "kv", "a").stdout_bytes == b"two"
    assert invoke("get", "key", "kv", "b").stdout_bytes == b"new"
    assert invoke("get", "key", "kv", "a", "--node", "side").stdout_bytes == b"side"
    keys = json.loads(invoke("keys", "kv", "--json").stdout)
    assert keys == ["a", "b"]
    log = json.loads(invoke("log", "--all", "--json").stdout)
    assert len(log) == 5 and log[0]["parents"] and len(log[0]["parents"]) == 2
    graph = invoke("log", "--graph", "--all").stdout
    assert "*" in graph and "\\" in graph
    invoke("commit", "-m", "merged")
    invoke("tag", "v1", "HEAD~1")  # the merge node, committed
    assert invoke("get", "key", "kv", "a", "--node", "v1").stdout_bytes == b"two"
    assert invoke("tag", "v1", "HEAD~2", ok=False).exit_code == 5
    branches = json.loads(invoke("branch", "--json").stdout)
    assert {b["name"] for b in branches} == {"master", "side"}


def test_bad_input_is_one_line_and_changes_nothing(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    invoke("new", "keyvalue", "kv")
    invoke("put", "key", "kv", "a", input=b"x")
    invoke("commit", "-m", "c")
    before = snapshot(path)
    cases = [
        (("get", "key", "kv", "missing"), 3, "not found"),
        (("get", "key", "nokv", "a"), 3, "no data instance"),
        (("put", "key", "kv", "a/b"), 2, "'/'"),
        (("new", "keyvalue", "kv"), 5, "already exists"),
        (("new", "nosuchtype", "x"), 3, "unknown datatype"),
        (("new", "keyvalue", "log"), 2, "not allowed"),
        (("put", "key", "kv", "z", "--node", "HEAD~1"), 4, "committed"),
        (("checkout", "zzzz"), 3, "could not find"),
        (("branch", "master"), 5, "already exists"),
        (("branch", "bad name"), 2, "not allowed"),
        (("merge", "master", "-s", "bogus"), 2, "strategy"),
        (("get", "key", "kv", "a", "--node", "master~9"), 3, "past the root"),
        (("tag", "t", "HEAD"), 2, "open"),
    ]
    for args, code, text in cases:
        r = invoke(*args, input=b"v", ok=False)
        assert r.exit_code == code, (args, r.exit_code, r.output)
        assert text in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("error: "), r.stderr
        assert "Traceback" not in r.output
    assert snapshot(path) == before


def test_merge_refuses_uncommitted_changes(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    invoke("new", "keyvalue", "kv")
    invoke("commit", "-m", "c")
    invoke("branch", "side")
    invoke("put", "key", "kv", "k", input=b"1")
    r = invoke("merge", "side", ok=False)
    assert r.exit_code == 2 and "uncommitted" in r.stderr


def _run(args: list[str], cwd: Path, **kw):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}
    return subprocess.run(DVIDCTL + args, cwd=cwd, capture_output=True, env=env, **kw)


def test_subprocess_roundtrip_and_exit_codes(tmp_path: Path) -> None:
    assert _run(["init"], tmp_path).returncode == 0
    assert _run(["new", "keyvalue", "kv"], tmp_path).returncode == 0
    payload = bytes(range(256)) * 10
    assert _run(["put", "key", "kv", "bin"], tmp_path, input=payload).returncode == 0
    sub = tmp_path / "deeper" / "dir"
    sub.mkdir(parents=True)
    got = _run(["get", "key", "kv", "bin"], sub)  # found by walking up
    assert got.returncode == 0 and got.stdout == payload
    nothere = _run(["status"], tmp_path.parent / "..")
    assert nothere.returncode == 8 and nothere.stderr.startswith(b"error: no dvidctl repository")
    usage = _run(["frobnicate"], tmp_path)
    assert usage.returncode == 2 and usage.stderr.startswith(b"error: ")


def test_repository_busy_is_one_clear_line(tmp_path: Path) -> None:
    Repository.init(tmp_path).close()
    holder = Repository.open(tmp_path)  # this process holds the RocksDB lock
    try:
        r = _run(["new", "keyvalue", "kv"], tmp_path)
        assert r.returncode == 7, r.stderr
        lines = r.stderr.decode().strip().splitlines()
        assert lines[0].startswith("error: the repository database") and "in use" in lines[0]
        assert "Traceback" not in r.stderr.decode()
        # reads still work next to the writer (read-only open)
        assert _run(["status"], tmp_path).returncode == 0
    finally:
        holder.close()
    assert _run(["new", "keyvalue", "kv"], tmp_path).returncode == 0


def test_help_and_types(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    assert "merge" in invoke("--help").stdout
    assert "keyvalue" in json.loads(invoke("types", "--json").stdout)
