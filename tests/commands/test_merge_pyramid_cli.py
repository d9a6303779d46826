"""Issue #8 item 2 as a user types it: merging edits to different places of a labelmap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvidctl", *args], cwd=cwd, capture_output=True, text=True
    )


def test_merge_of_edits_to_different_blocks_keeps_both_at_scale_1(tmp_path: Path) -> None:
    np.save(tmp_path / "la.npy", np.full((64, 64, 64), 7, np.uint64))
    np.save(tmp_path / "lb.npy", np.full((64, 64, 64), 9, np.uint64))
    repo = tmp_path / "r"
    steps = [
        ("init", str(repo)),
        ("new", "labelmap", "seg", "--max-downres", "1"),
        ("commit", "-m", "base"),
        ("branch", "A", "-c"),
        ("put", "subvolume", "seg", str(tmp_path / "la.npy"), "--offset", "0,0,0"),
        ("commit", "-m", "A1"),
        ("checkout", "master"),
        ("put", "subvolume", "seg", str(tmp_path / "lb.npy"), "--offset", "64,0,0"),
        ("commit", "-m", "M1"),
        ("merge", "A"),
        ("get", "subvolume", "seg", "--offset", "0,0,0", "--size", "64,32,32", "--scale", "1",
         "-o", str(tmp_path / "s1.npy")),
    ]  # fmt: skip
    for step in steps:
        proc = _run(repo if step[0] != "init" else tmp_path, *step)
        assert proc.returncode == 0, (step, proc.stderr)
    s1 = np.load(tmp_path / "s1.npy")
    assert (s1[:, :, :32] == 7).all() and (s1[:, :, 32:] == 9).all()
