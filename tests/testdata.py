"""Where the real DVID test data lives: ``tests/data/dvid`` in this repository.

The files are DVID's own samples (see ``tests/data/dvid/README.md`` for where each
came from and DVID's licence), kept here so a clone runs every golden test with
nothing beside it. A missing file is a failure, never a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data" / "dvid"


def find_testdata() -> Path:
    """Return the test data directory; fail the test if its files are missing."""
    if not (DATA / "stream_1block.dat").is_file():
        pytest.fail(f"DVID test data missing from {DATA} (it is part of the repository)")
    return DATA
