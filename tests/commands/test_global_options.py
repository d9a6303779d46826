"""Global options every CLI user expects (issue #8, part 10): --version and git's -C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dvidctl

DVIDCTL = [sys.executable, "-m", "dvidctl"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}
    return subprocess.run(DVIDCTL + list(args), cwd=cwd, capture_output=True, text=True, env=env)


def test_version(tmp_path: Path) -> None:
    r = _run("--version", cwd=tmp_path)  # main: "No such option: --version", exit 2
    assert r.returncode == 0 and r.stdout == f"dvidctl {dvidctl.__version__}\n" and not r.stderr


def test_dash_c_runs_in_another_directory(tmp_path: Path) -> None:
    assert _run("init", "r", cwd=tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _run("status", cwd=elsewhere).returncode == 8  # no repository here
    r = _run("-C", str(tmp_path / "r"), "status", cwd=elsewhere)
    assert r.returncode == 0 and "On branch master" in r.stdout, r.stderr
    r = _run("-C", "..", "-C", "r", "commit", "-m", "c0", cwd=elsewhere)  # relative to the last
    assert r.returncode == 0, r.stderr
    r = _run("-C", "..", "log", "--repo", "r", cwd=elsewhere)  # --repo is relative to DIR, as git
    assert r.returncode == 0 and " c0 " in r.stdout, r.stderr


def test_dash_c_to_a_missing_directory_is_one_error_line(tmp_path: Path) -> None:
    r = _run("-C", "nosuch", "status", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["error: cannot change to 'nosuch': No such file or directory"]
