"""The sync commands: remotes, clone, fetch, pull, push, their summaries and their errors
(one ``error:`` line, the README's exit code, nothing half-applied)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dvidctl import Repository
from dvidctl.commands.main import app
from tests.commands.cli_helpers import assert_fails
from tests.sync.helpers import served, server

FAST = {"DVIDCTL_SYNC_ATTEMPTS": "2", "DVIDCTL_SYNC_BACKOFF": "0.01"}


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    here = os.getcwd()
    try:
        return CliRunner().invoke(
            app, ["-C", str(cwd), *args], env={"DVIDCTL_REPO": "", **FAST, **(env or {})}
        )
    finally:
        os.chdir(here)  # -C changes the directory of this process


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "src"
    with Repository.init(path, alias="demo") as repo:
        repo.new_instance("keyvalue", "kv")
        repo.head.instance("kv").put_many({f"k{i}": b"v" * 100 for i in range(30)})
        repo.commit("one")
        repo.head.instance("kv").put("k1", b"changed")
        repo.commit("two")
    return path


def _root(path: Path) -> str:
    with Repository.open(path, read_only=True) as r:
        return r.root_uuid


def test_remote_add_list_remove(src: Path) -> None:
    url = f"http://127.0.0.1:8000/{_root(src)}"
    assert _run(src, "remote", "add", "origin", url, "--token", "t").exit_code == 0
    assert _run(src, "remote", "add", "lab", url[:-20]).exit_code == 0
    r = _run(src, "remote", "list", "--json")
    assert json.loads(r.stdout) == [
        {"name": "lab", "url": url[:-20], "token": False},
        {"name": "origin", "url": url, "token": True},
    ]
    assert "origin\t" in _run(src, "remote", "list").stdout
    assert_fails(_run(src, "remote", "add", "origin", url), 5, "already exists")
    assert_fails(_run(src, "remote", "add", "x/y", url), 2, "bad remote name")
    assert_fails(_run(src, "remote", "add", "x", "http://host:1/"), 2, "does not name a repository")
    assert_fails(_run(src, "remote", "add", "x", "ftp://host/abc"), 2, "not an http")
    assert _run(src, "remote", "remove", "lab").exit_code == 0
    assert_fails(_run(src, "remote", "remove", "lab"), 3, "no remote named 'lab'")
    assert_fails(_run(src, "fetch", "lab"), 3, "no remote named 'lab'")


def test_push_clone_fetch_pull_through_the_cli(src: Path, tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv:
        url = f"{srv.url}/{_root(src)}"
        _run(src, "remote", "add", "origin", url)
        bad = _run(src, "push", env={"DVIDCTL_SYNC_LABELS": "zip"})
        assert_fails(bad, 2, "DVIDCTL_SYNC_LABELS='zip' is not a label wire encoding")
        bad = _run(src, "push", env={"DVIDCTL_SYNC_STALL": "0"})
        assert_fails(bad, 2, "DVIDCTL_SYNC_STALL=0.0 is not a positive number of seconds")
        r = _run(src, "push", "--json")
        assert r.exit_code == 0, r.output
        got = json.loads(r.stdout)
        assert got["created_repo"] and got["nodes"] == 2 and got["keys"] == 31
        assert {"nodes", "keys", "bytes", "up", "down", "seconds", "requests"} <= set(got)
        r = _run(src, "push")
        assert r.exit_code == 0 and "Everything up to date." in r.stdout
        r = _run(tmp_path, "clone", url[:-24], "copy")
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith("cloned into ") and "2 node(s), 31 key(s)" in r.stdout
        copy = tmp_path / "copy"
        assert _run(copy, "get", "key", "kv", "k1", "--node", "origin/master").stdout == "changed"
        log = json.loads(_run(copy, "log", "origin/master", "--json").stdout)
        assert [n["note"] for n in log] == ["two", "one"]
        diff = json.loads(_run(copy, "diff", "origin/master~1", "origin/master", "--json").stdout)
        assert diff["kv"]["changed"] == ["k1"]
        r = _run(copy, "fetch", "--json")
        assert json.loads(r.stdout)["requests"] == 1
        r = _run(copy, "pull")
        assert r.exit_code == 0 and "Already up to date." in r.stdout
        # A commit in the copy, pushed, then pulled into the source: a fast-forward.
        with Repository.open(copy) as c:
            c.head.instance("kv").put("new", b"1")
            c.commit("three")
        assert _run(copy, "push").exit_code == 0
        r = _run(src, "pull", "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["action"] == "fast-forward"
        assert _run(src, "get", "key", "kv", "new").stdout == "1"
        assert_fails(_run(tmp_path, "clone", url, "copy"), 5, "already holds")


def test_remote_faults_are_one_line_exit_9(src: Path, tmp_path: Path) -> None:
    _run(src, "remote", "add", "dead", f"http://127.0.0.1:9/{_root(src)}")
    assert_fails(_run(src, "fetch", "dead"), 9, "failed after 2 tries")
    assert_fails(_run(tmp_path, "clone", "http://127.0.0.1:9/abcdef"), 9, "failed after 2 tries")
    with Repository.init(tmp_path / "other") as other:
        other.commit("x")
        other_root = other.root_uuid
    with server(tmp_path / "store") as srv:
        _run(tmp_path / "other", "remote", "add", "origin", f"{srv.url}/{other_root}")
        assert _run(tmp_path / "other", "push").exit_code == 0
        _run(src, "remote", "add", "unknown", f"{srv.url}/{'ab' * 16}")
        assert_fails(_run(src, "fetch", "unknown"), 9, "no repository")
        _run(src, "remote", "add", "another", f"{srv.url}/{other_root}")
        assert_fails(_run(src, "fetch", "another"), 9, "holds repository")
        assert_fails(_run(src, "push", "another"), 9, "holds repository")
        assert len(served(srv, other_root).dag) == 1  # nothing of src went there
    with server(tmp_path / "store2", sync_api=False) as srv:
        _run(src, "remote", "add", "plain", f"{srv.url}/{_root(src)}")
        assert_fails(_run(src, "fetch", "plain"), 9, "no repository")  # DVID's endpoints
        got = _run(src, "push", "plain")  # through DVID's endpoints: creates it
        assert got.exit_code == 0 and "through DVID's endpoints" in got.output, got.output
        assert _run(src, "fetch", "plain").exit_code == 0


def test_a_token_is_needed_to_push_and_checked_before_anything_is_written(
    src: Path, tmp_path: Path
) -> None:
    with server(tmp_path / "store", token="s3cret") as srv:
        url = f"{srv.url}/{_root(src)}"
        _run(src, "remote", "add", "origin", url)
        assert_fails(_run(src, "push"), 6, "refused")
        assert_fails(_run(src, "push", env={"DVIDCTL_REMOTE_TOKEN": "wrong"}), 6, "refused")
        assert len(srv.state.repos) == 0  # refused before the repository was created
        r = _run(src, "push", env={"DVIDCTL_REMOTE_TOKEN": "s3cret"})
        assert r.exit_code == 0, r.output
        r = _run(tmp_path, "clone", url, "copy")  # reads need no token
        assert r.exit_code == 0, r.output
        _run(src, "remote", "add", "tok", url, "--token", "s3cret")
        with Repository.open(src) as s:
            s.head.instance("kv").put("more", b"1")
            s.commit("three")
        assert _run(src, "push", "tok").exit_code == 0


def test_refusals_before_any_transfer(src: Path, tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv:
        _run(src, "remote", "add", "origin", f"{srv.url}/{_root(src)}")
        with Repository.init(tmp_path / "fresh") as fresh:
            fresh_root = fresh.root_uuid
        _run(tmp_path / "fresh", "remote", "add", "origin", f"{srv.url}/{fresh_root}")
        assert_fails(_run(tmp_path / "fresh", "push"), 2, "no committed node to push")
        assert_fails(_run(src, "push", "origin", "nope"), 3, "no branch 'nope'")
        assert _run(src, "push").exit_code == 0
        assert_fails(_run(src, "pull", "origin", "nope"), 3, "has no branch 'nope'")
        assert_fails(_run(src, "pull", "-s", "bogus"), 2, "unknown merge strategy")
