"""``dvidctl diff REF1 REF2 --labels NAME`` as a user runs it (real subprocess, RocksDB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dvidctl import Repository


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvidctl", *args], cwd=cwd, capture_output=True, text=True
    )


def _ok(cwd: Path, *args: str) -> str:
    proc = _run(cwd, *args)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def test_diff_labels_names_merges_splits_creations_and_deletions(tmp_path: Path) -> None:
    a = np.zeros((64, 64, 128), np.uint64)
    a[:, :, :40], a[:, :, 40:80], a[:, :, 80:] = 5, 7, 9
    b = a.copy()
    b[b == 7] = 5
    b[:32, :, 80:] = 12
    repo = tmp_path / "r"
    with Repository.init(repo) as r:  # set up in-process; the diff runs as the CLI
        r.new_instance("labelmap", "seg")
        r.new_instance("keyvalue", "notes")
        r.head.instance("seg").put_subvolume(a)  # type: ignore[attr-defined]
        r.commit("a")
        r.head.instance("seg").put_subvolume(b)  # type: ignore[attr-defined]
        r.commit("b")

    out = json.loads(_ok(repo, "diff", "master~2", "master~1", "--labels", "seg", "--json"))
    assert out["instance"] == "seg" and isinstance(out["exact"], bool)
    assert out["voxels_changed"] == int((a != b).sum())
    assert out["merged"] == [{"body": 5, "from": [5, 7], "voxels": int((a == 7).sum())}]
    assert out["split"] == [{"body": 9, "into": [9, 12], "voxels": int((b == 12).sum())}]
    assert out["created"] == [{"body": 12, "voxels": int((b == 12).sum())}]
    assert out["deleted"] == [{"body": 7, "voxels": int((a == 7).sum())}]
    assert [7, 5, int((a == 7).sum())] in out["flows"]
    assert {d["body"] for d in out["bodies"]} == {5, 7, 9, 12}

    proc = _run(repo, "diff", "master~2", "master~1", "--labels", "seg")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"seg: {out['blocks_compared']} changed block(s), ")
    assert "  merged   5 <- 5, 7" in lines and "  split    9 -> 9, 12" in lines
    assert any(line.startswith("  created  12 (") for line in lines)
    assert any(line.startswith("  deleted  7 (") for line in lines)

    proc = _run(repo, "diff", "master~2", "master~1", "--labels", "notes")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --labels needs a labelmap instance; 'notes' is a")
    proc = _run(repo, "diff", "master~2", "master~1", "--labels", "nope")
    assert proc.returncode == 3 and proc.stderr.startswith("error: ")
