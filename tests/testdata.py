"""Where the real DVID test data lives (``../shared/testdata/dvid`` beside the repository).

Tests that need it call :func:`find_testdata` (or use the ``testdata_dir`` fixture). A
missing directory skips those tests on a developer machine, but fails them under
``CI=true``, where shared/ is always laid beside the clone: a skip there would hide
the golden tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "dvid"


def find_testdata() -> Path:
    """Return the test data directory (``DVIDCTL_TESTDATA`` overrides)."""
    env = os.environ.get("DVIDCTL_TESTDATA")
    path = Path(env) if env else DEFAULT
    if (path / "stream_1block.dat").is_file():
        return path
    message = f"DVID test data not found at {path} (set DVIDCTL_TESTDATA)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
