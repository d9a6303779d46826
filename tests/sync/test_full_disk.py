"""A full disk on the receiver, made real: a 6 MB tmpfs in a private mount namespace.

``fulldisk_scenario.py`` runs under ``unshare -m`` (root, or a user namespace that may
mount tmpfs); where that is not allowed, this test is skipped. It pushes to a server whose
store fills up, then clones into a directory that fills up: each fails with one error
naming the full disk, keeps whole batches only (nothing half-applied, nothing completed,
no branch moved), and once there is room the rerun sends exactly what is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BATCH = 64


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        probe = f"mount -t tmpfs -o size=1m tmpfs {d} && umount {d}"
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", probe]
        return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount(), reason="needs to mount a tmpfs in a mount namespace")
def test_a_full_disk_fails_cleanly_and_a_rerun_completes(tmp_path: Path) -> None:
    cmd = ["unshare", "-m", "--propagation", "private", sys.executable, "-m"]
    proc = subprocess.run(
        [*cmd, "tests.sync.fulldisk_scenario", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    total = got["total"]
    # push: the server's disk fills; one remote error (exit 9) that says so
    err = got["push_error"]
    assert err["kind"] == "remote" and err["exit"] == 9 and "No space left" in err["message"]
    assert 0 < got["push_held"] < total and got["push_held"] % BATCH == 0  # whole batches
    assert got["push_incoming"] and not got["push_branch_moved"]
    assert got["push_rerun_keys"] == total - got["push_held"] and got["push_equal"] == total
    # clone: the local disk fills
    err = got["clone_error"]
    assert err is not None and "No space left" in err["message"]
    assert 0 < got["clone_held"] < total and got["clone_held"] % BATCH == 0
    assert got["clone_resumed"] and got["clone_rerun_keys"] == total - got["clone_held"]
    assert got["clone_equal"] == total
