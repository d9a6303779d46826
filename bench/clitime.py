"""Shared by the bench scripts that time real CLI processes (run as ``python bench/X.py``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def dvidctl(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run one CLI command; return its wall-clock seconds (exit on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dvidctl", *args], cwd=cwd, env=env, capture_output=True
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dvidctl {' '.join(args)} failed: {proc.stderr.decode()}")
    return seconds
