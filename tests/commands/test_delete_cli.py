"""branch -d/-D/-m, tag -d and delete instance from the CLI (issue #8, part 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commands.cli_helpers import assert_fails, invoker
from tests.commands.test_cli import snapshot


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``invoke(*args, ok=True)`` in a repository with kv (a=1) committed on master."""
    repo_dir = tmp_path / "r"
    invoke = invoker(repo_dir)
    invoke("init", str(repo_dir))
    invoke("new", "keyvalue", "kv")
    invoke("put", "key", "kv", "a", input=b"1")
    invoke("commit", "-m", "c0")
    return invoke, repo_dir


def _branches(invoke) -> list[str]:  # type: ignore[no-untyped-def]
    return [b["name"] for b in json.loads(invoke("branch", "--json").stdout)]


def test_delete_a_mistyped_branch(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    invoke("branch", "Master")
    r = invoke("branch", "-d", "Master")  # main: "No such option: -d"
    assert r.stdout.startswith("Deleted branch Master (was ")
    assert "stay" in r.stderr
    assert _branches(invoke) == ["master"]


def test_delete_rules_and_force(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    invoke("branch", "dev", "--checkout")
    invoke("put", "key", "kv", "a", input=b"dev")
    invoke("commit", "-m", "d1")
    before = snapshot(path)
    assert_fails(invoke("branch", "-d", "dev", ok=False), 2, "checked out")
    invoke("checkout", "master")
    r = invoke("branch", "-d", "dev", ok=False)
    assert_fails(r, 2, "no other branch or tag reaches")
    assert "hint: " in r.stderr and "branch -D dev" in r.stderr
    assert_fails(invoke("branch", "-d", "master", ok=False), 2, "default branch")
    assert_fails(invoke("branch", "-d", "nosuch", ok=False), 3, "no branch 'nosuch'")
    assert_fails(invoke("branch", "-d", "dev", "--from", "HEAD", ok=False), 2, "new branch only")
    assert snapshot(path) == before
    out = json.loads(invoke("branch", "-D", "dev", "--json").stdout)
    assert out["deleted"] == "dev" and out["node"]["branch"] == "dev"
    assert _branches(invoke) == ["master"]
    d1 = json.loads(invoke("log", "--all", "--json").stdout)
    d1_uuid = next(n["uuid"] for n in d1 if n["note"] == "d1")
    assert invoke("get", "key", "kv", "a", "--node", d1_uuid[:12]).stdout == "dev"


def test_rename(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    invoke("branch", "dev", "--checkout")
    invoke("branch", "-m", "feature")  # the current branch; HEAD follows
    assert json.loads(invoke("status", "--json").stdout)["head"] == "feature"
    out = json.loads(invoke("branch", "-m", "feature", "topic", "--json").stdout)
    assert out["renamed"] == "feature" and out["to"] == "topic"
    assert _branches(invoke) == ["master", "topic"]
    before = snapshot(path)
    assert_fails(invoke("branch", "-m", "topic", "master", ok=False), 5, "already exists")
    assert_fails(invoke("branch", "-m", "topic", "7f3c", ok=False), 2, "UUID prefix")
    assert_fails(invoke("branch", "-m", "-d", "topic", ok=False), 2, "-m takes")
    assert_fails(invoke("branch", "x1", "x2", ok=False), 2, "unexpected argument")
    assert snapshot(path) == before


def test_tag_delete(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    invoke("tag", "v1", "HEAD~1")
    assert invoke("tag", "-d", "v1").stdout.startswith("Deleted tag v1 (was ")
    assert_fails(invoke("tag", "-d", "v1", ok=False), 3, "no tag 'v1'")
    assert_fails(invoke("tag", "-d", "v1", "HEAD", ok=False), 2, "only the tag name")
    invoke("tag", "v1", "HEAD~1")  # the name is free again


def test_delete_instance(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    before = snapshot(path)
    r = invoke("delete", "instance", "kv", ok=False)
    assert_fails(r, 2, "removes it from every version")
    assert "--yes" in r.stderr
    assert snapshot(path) == before
    out = json.loads(invoke("delete", "instance", "kv", "--yes", "--json").stdout)
    assert out["deleted"] == "kv" and out["type"] == "keyvalue"
    assert json.loads(invoke("instances", "--json").stdout) == []
    assert_fails(invoke("delete", "instance", "kv", "--yes", ok=False), 3, "no data instance")
    invoke("new", "keyvalue", "kv")  # same name, new instance id: it starts empty
    assert_fails(invoke("get", "key", "kv", "a", "--node", "HEAD~1", ok=False), 3, "not found")
    assert json.loads(invoke("keys", "kv", "--json").stdout) == []


def test_help_says_what_deletion_keeps(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    assert "DVID never deletes nodes" in invoke("branch", "--help").stdout
    assert "until gc" in invoke("delete", "instance", "--help").stdout
