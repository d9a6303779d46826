"""``dvidctl merge`` of label blocks both branches edited, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dvidctl import Repository
from dvidctl.geometry import Box


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvidctl", *args], cwd=cwd, capture_output=True, text=True
    )


def _ok(cwd: Path, *args: str) -> str:
    proc = _run(cwd, *args)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def _setup(tmp_path: Path, conflict: bool) -> Path:
    """One 64^3 block: master edits x < 32, side edits x >= 32 (and (1,2,3) too if conflict)."""
    base = np.full((64, 64, 64), 1, np.uint64)
    ours, theirs = base.copy(), base.copy()
    ours[:, :, :32] = 7
    theirs[:, :, 32:] = 9
    if conflict:
        theirs[3, 2, 1] = 9  # z=3 y=2 x=1: ours made it 7
        theirs[3, 2, 2] = 7  # the same value as ours: not a conflict
    repo = tmp_path / "r"
    # Set up through the Python API (on disk, closed before the CLI runs): only the
    # commands under test run as subprocesses.
    with Repository.init(repo) as r:
        r.new_instance("labelmap", "seg", {"MaxDownresLevel": "1"})
        r.head.instance("seg").put_subvolume(base)  # type: ignore[attr-defined]
        r.commit("base")
        r.branch("side")
        r.checkout("side")
        r.head.instance("seg").put_subvolume(theirs)  # type: ignore[attr-defined]
        r.commit("theirs")
        r.checkout("master")
        r.head.instance("seg").put_subvolume(ours)  # type: ignore[attr-defined]
        r.commit("ours")
    return repo


def _read(repo: Path) -> np.ndarray:
    with Repository.open(repo) as r:
        return r.head.instance("seg").get_subvolume(Box((0, 0, 0), (64, 64, 64)))  # type: ignore[attr-defined, no-any-return]


def test_edits_to_different_voxels_of_one_block_merge(tmp_path: Path) -> None:
    repo = _setup(tmp_path, conflict=False)
    out = json.loads(_ok(repo, "merge", "side", "--json"))
    assert out["merged"] is True and out["merged_blocks"] == 1 and out["resolved_voxels"] == 0
    got = _read(repo)
    assert (got[:, :, :32] == 7).all() and (got[:, :, 32:] == 9).all()


def test_conflicting_voxels_are_listed_with_coordinates_and_nothing_changes(
    tmp_path: Path,
) -> None:
    repo = _setup(tmp_path, conflict=True)
    head = json.loads(_ok(repo, "status", "--json"))
    proc = _run(repo, "merge", "side")
    assert proc.returncode == 5
    assert proc.stderr.startswith("error: merge has 1 conflicting key(s) (1 voxel(s)")
    assert "seg: block s0 (x,y,z)=(0,0,0)" in proc.stderr
    assert "1 voxel(s) differ, at x,y,z 1,2,3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(_ok(repo, "status", "--json")) == head

    proc = _run(repo, "merge", "side", "--json")
    assert proc.returncode == 5
    out = json.loads(proc.stdout)
    assert out["merged"] is False and out["error"] == "conflict"
    (d,) = out["details"]
    assert d["instance"] == "seg" and d["voxels"] == 1 and d["where"] == [[1, 2, 3]]
    assert len(d["sides"]) == 2

    text = _ok(repo, "merge", "side", "--strategy", "theirs")
    assert "1 block(s) changed on several sides merged voxel by voxel" in text
    assert "1 conflicting voxel(s) resolved (theirs)" in text
    got = _read(repo)
    assert got[3, 2, 1] == 9 and got[3, 2, 2] == 7 and got[3, 2, 0] == 7
    assert (got[:, :, 32:] == 9).all()
