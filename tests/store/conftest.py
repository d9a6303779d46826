"""Fixtures shared by the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvidctl.store.engine import KVEngine
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.rocks import RocksEngine


@pytest.fixture(params=["memory", "rocks"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> KVEngine:
    """Each engine in turn: the in-memory one and RocksDB (closed after the test)."""
    if request.param == "memory":
        return MemoryEngine()
    eng = RocksEngine(tmp_path / "db", create=True)
    request.addfinalizer(eng.close)
    return eng
