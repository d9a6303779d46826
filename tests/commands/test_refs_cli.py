"""CLI naming rules and damaged refs (issue #8, part 4): one clear error line, nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands.cli_helpers import assert_fails, invoker
from tests.commands.test_cli import snapshot

DVIDCTL = [sys.executable, "-m", "dvidctl"]


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``invoke(*args, ok=True)`` in a repository with two commits on master."""
    repo_dir = tmp_path / "r"
    invoke = invoker(repo_dir)
    invoke("init", str(repo_dir))
    invoke("commit", "-m", "c0")
    invoke("commit", "-m", "c1")
    return invoke, repo_dir


def test_tag_then_branch_of_the_same_name_refused(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    invoke("tag", "t1", "HEAD~1")
    before = snapshot(path)
    assert_fails(invoke("branch", "t1", ok=False), 5, "tag 't1' already exists")
    assert_fails(invoke("tag", "master", "HEAD~1", ok=False), 5, "branch 'master' already exists")
    assert snapshot(path) == before
    assert "tag: t1" in invoke("log", "t1").stdout.splitlines()[0]  # the tag is still named


@pytest.mark.parametrize("args", [("branch", "7f3c"), ("tag", "0bf5", "HEAD~1")])
def test_hex_only_names_refused(cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    invoke, path = cli
    before = snapshot(path)
    r = invoke(*args, ok=False)
    assert_fails(r, 2, "reads as a UUID prefix")
    assert "hint: " in r.stderr
    assert snapshot(path) == before


def test_empty_ref_is_bad_request(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    # main showed HEAD's log for log '' and checked out master for checkout ''
    assert_fails(invoke("log", "", ok=False), 2, "empty version reference")
    assert_fails(invoke("checkout", "", ok=False), 2, "empty version reference")
    assert_fails(invoke("diff", "", "HEAD", ok=False), 2, "empty version reference")


def test_garbage_head_is_corrupt_data_and_checkout_repairs_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            DVIDCTL + list(args), cwd=tmp_path, capture_output=True, text=True, env=env
        )

    assert run("init").returncode == 0
    (tmp_path / ".dvid" / "HEAD").write_text("garbage\n")
    for args in (("status",), ("log",), ("commit", "-m", "x")):
        r = run(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)  # main: 'On branch master'
        lines = r.stderr.splitlines()
        assert lines[0].startswith("error: ") and "HEAD" in lines[0], r.stderr
        assert lines[1].startswith("hint: ") and "dvidctl checkout master" in lines[1]
        assert "Traceback" not in r.stderr
    assert run("checkout", "master").returncode == 0
    assert "On branch master" in run("status").stdout
