"""A fetch's many ingested files wait for one compaction (KVEngine.bulk_load, store/space.py).

Each batch below is a bulk write (an ingested table file) whose keys overlap the
ones before it, as a clone's nodes do: RocksDB would merge level 0 into the bottom
level from 4 such files on, while the transfer still runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dvidctl.store import keys
from dvidctl.store.engine import CF_DATA, WriteBatch
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.rocks import RocksEngine

FILES = 8


def _overlapping_file(engine: RocksEngine, vid: int) -> None:
    """One ingested file holding every 10th key of the range, at version ``vid``."""
    ops = [(CF_DATA, keys.data_key(1, i.to_bytes(4, "big"), vid), bytes(2048)) for i in range(40)]
    engine.write(WriteBatch(ops))  # bulk_threshold 0: every batch is ingested


def _level0_files(engine: RocksEngine) -> int:
    return int(engine._cfs[CF_DATA].property_value("rocksdb.num-files-at-level0") or 0)


def _auto_compactions_off(engine: RocksEngine) -> bool:
    """What the newest OPTIONS file (RocksDB rewrites it on each change) says for ``data``."""
    newest = max(engine.path.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    section = newest.read_text().split('[CFOptions "data"]')[1].split("[TableOptions")[0]
    return "disable_auto_compactions=true" in section


@pytest.fixture
def engine(tmp_path: Path) -> RocksEngine:
    e = RocksEngine(tmp_path / "db", create=True)
    e.bulk_threshold = 0
    e.compact_on_close = False
    yield e
    e.close()


def _options_files(engine: RocksEngine) -> set[str]:
    return {p.name for p in engine.path.glob("OPTIONS-*")}


def test_files_stay_in_level_0_until_the_load_ends(engine: RocksEngine) -> None:
    with engine.bulk_load():
        assert not _auto_compactions_off(engine)  # nothing ingested yet
        for vid in range(1, FILES + 1):
            _overlapping_file(engine, vid)
            assert _auto_compactions_off(engine)
        time.sleep(0.5)  # time enough for RocksDB to have started merging them
        assert _level0_files(engine) == FILES - 1  # the first went to the bottom level
    assert not _auto_compactions_off(engine)
    deadline = time.monotonic() + 10
    while _level0_files(engine) >= 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # compactions are back on: RocksDB merges them now
    assert _level0_files(engine) < 4


def test_a_load_without_table_files_leaves_the_options_alone(engine: RocksEngine) -> None:
    """A no-op or small fetch (values through the log) does not rewrite the OPTIONS file."""
    before = _options_files(engine)
    engine.bulk_threshold = None
    with engine.bulk_load():
        engine.write(WriteBatch([(CF_DATA, keys.data_key(1, b"k", 1), b"v")]))
    assert _options_files(engine) == before and not engine.compaction_hold.off


def test_nested_loads_turn_compactions_back_on_once_the_outer_one_ends(
    engine: RocksEngine,
) -> None:
    with engine.bulk_load():
        with engine.bulk_load():
            _overlapping_file(engine, 1)
            assert _auto_compactions_off(engine)
        assert _auto_compactions_off(engine)
        assert engine.compaction_hold.loads == 1
    assert not _auto_compactions_off(engine)
    assert engine.compaction_hold.loads == 0 and not engine.compaction_hold.off


def test_a_load_that_outlives_its_engine_ends_quietly(tmp_path: Path) -> None:
    e = RocksEngine(tmp_path / "db", create=True)
    e.bulk_threshold = 0
    with e.bulk_load():
        _overlapping_file(e, 1)
        e.close()  # an owner closing on an error first
    assert e.closed and e.compaction_hold.loads == 0


def test_an_engine_without_compactions_has_a_load_that_changes_nothing() -> None:
    e = MemoryEngine()
    with e.bulk_load():
        e.write(WriteBatch([(CF_DATA, b"k", b"v")]))
    assert e.get(CF_DATA, b"k") == b"v"
