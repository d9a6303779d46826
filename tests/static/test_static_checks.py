"""Lint, format and type checks run with the tests, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", "dvidctl", "tests", "bench", "scripts"],
        ["ruff", "format", "--check", "dvidctl", "tests", "bench", "scripts"],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_check_passes(cmd: list[str]) -> None:
    tool = BIN / cmd[0]
    assert tool.exists(), f"{cmd[0]} is not installed in {BIN} (it is in the 'test' extra)"
    proc = subprocess.run(
        [str(tool), *cmd[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
