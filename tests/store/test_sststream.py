"""Streamed bulk writes on RocksDB (store/sststream.py, bulk.write_stream): atomic, crash-safe."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from dvidctl.errors import DvidError, ReopenRequiredError
from dvidctl.store import bulk, sststream
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, WriteBatch, batch_from
from dvidctl.store.rocks import RocksEngine
from dvidctl.store.sststream import SstStream
from tests.store.test_bulk import (
    BIG,
    _assert_clean,
    _Crash,
    _crash_at,
    _pending,
)

THRESHOLD = 1 << 20  # 5 values of BIG spill


def _engine(path: Path) -> RocksEngine:
    e = RocksEngine(path, create=True)
    e.bulk_threshold = THRESHOLD
    return e


def _files(path: Path) -> list[Path]:
    folder = bulk.ingest_dir(path)
    return sorted(folder.iterdir()) if folder.exists() else []


def _stream(e: RocksEngine, n: int = 24, gen: bytes = b"new", seed: int = 1) -> SstStream:
    stream = e.data_stream()
    assert isinstance(stream, SstStream)
    rng = random.Random(seed)
    for i in range(n):
        stream.put(b"blk%06d" % i, gen + rng.randbytes(BIG))
    return stream


def _rest(n: int = 24, gen: bytes = b"new") -> WriteBatch:
    """What travels with a stream: delta entries, a counter, a data value out of order."""
    wb = WriteBatch()
    for i in range(n):
        wb.put(CF_DELTA, b"blk%06d" % i, gen)
    wb.put(CF_META, b"counter/test", gen)
    wb.put(CF_DATA, b"aaa-extents", gen)
    return wb


def _assert_generation(e: RocksEngine, gen: bytes, n: int = 24) -> None:
    data = [(k, v) for k, v in e.scan(CF_DATA, b"") if k.startswith(b"blk")]
    assert len(data) == n and all(v[:3] == gen and len(v) == 3 + BIG for _, v in data)
    assert [v for _, v in e.scan(CF_DELTA, b"")] == [gen] * n
    assert e.get(CF_META, b"counter/test") == gen
    assert e.get(CF_DATA, b"aaa-extents") == gen


@pytest.fixture
def ingests(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = bulk._ingest

    def spy(cf: Any, path: Path) -> None:
        seen.append(path)
        real(cf, path)

    monkeypatch.setattr(bulk, "_ingest", spy)
    return seen


def test_small_stream_stays_in_memory_and_takes_the_wal(
    tmp_path: Path, ingests: list[Path]
) -> None:
    with _engine(tmp_path / "db") as e:
        stream = _stream(e, n=3)
        assert not stream.spilled and len(stream.items) == 3 and _files(e.path) == []
        e.write(_rest(3), stream)
        assert ingests == []
        _assert_generation(e, b"new", 3)


def test_large_stream_leaves_memory_and_is_ingested_once(
    tmp_path: Path, ingests: list[Path]
) -> None:
    with _engine(tmp_path / "db") as e:
        stream = _stream(e)
        # Past the threshold every value went to the file: none is held.
        assert stream.spilled and stream.items == [] and len(_files(e.path)) == 1
        e.write(_rest(), stream)
        assert len(ingests) == 1
        _assert_generation(e, b"new")
        _assert_clean(e)
    with RocksEngine(tmp_path / "db") as e:
        _assert_generation(e, b"new")


def test_discarded_or_dropped_stream_removes_its_file(tmp_path: Path) -> None:
    with _engine(tmp_path / "db") as e:
        stream = _stream(e)
        assert len(_files(e.path)) == 1
        stream.discard()
        assert _files(e.path) == []
        stream = _stream(e)
        assert len(_files(e.path)) == 1
        del stream
        gc.collect()
        assert _files(e.path) == []
        assert list(e.scan(CF_DATA, b"")) == []


def test_failure_while_spilling_is_a_write_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def open(self, path: str) -> None:
            Path(path).write_bytes(b"half")

        def __setitem__(self, key: bytes, value: bytes) -> None:
            raise RuntimeError("IO error: No space left on device")

    monkeypatch.setattr(sststream.rocksdict, "SstFileWriter", FullDisk)
    with _engine(tmp_path / "db") as e:
        with pytest.raises(DvidError, match="No space left") as info:
            _stream(e)
        assert info.value.hint and "nothing was written" in info.value.hint
        assert _files(e.path) == []


@pytest.mark.parametrize("step", ["sst", "marker", "ingest", "commit"])
def test_crash_at_each_step_keeps_the_write_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "db"
    with _engine(path) as e:
        e.write(_rest(gen=b"old"), _stream(e, gen=b"old"))
        with monkeypatch.context() as m:
            _crash_at(m, step)
            with pytest.raises(_Crash):
                e.write(_rest(), _stream(e, seed=2))
        if step in ("marker", "ingest"):
            assert len(_pending(e)) == 1
            with pytest.raises(ReopenRequiredError):
                e.write(batch_from([(CF_META, b"x", b"y")]))
        else:
            _assert_generation(e, b"old" if step == "sst" else b"new")
            _assert_clean(e)
    with RocksEngine(path) as e:  # a read-write open finishes what the marker names
        _assert_generation(e, b"old" if step == "sst" else b"new")
        _assert_clean(e)
    assert not bulk.ingest_dir(path).exists()


def test_ingest_failure_writes_nothing_and_keeps_the_engine_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(cf: Any, p: Path) -> None:
        raise RuntimeError("ingest failed")

    with _engine(tmp_path / "db") as e:
        e.write(_rest(gen=b"old"), _stream(e, gen=b"old"))
        with monkeypatch.context() as m:
            m.setattr(bulk, "_ingest", fail)
            with pytest.raises(DvidError, match="ingest failed") as info:
                e.write(_rest(), _stream(e, seed=2))
            assert info.value.hint and "nothing was written" in info.value.hint
        _assert_generation(e, b"old")
        _assert_clean(e)
        e.write(_rest(), _stream(e, seed=2))  # not broken
        _assert_generation(e, b"new")


def test_ingest_failure_with_the_marker_stuck_finishes_on_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    commits: list[int] = []
    real_commit = bulk._commit

    def fail_ingest(cf: Any, p: Path) -> None:
        raise RuntimeError("ingest failed")

    def commit(engine: Any, ops: Any, sync: bool = False) -> None:
        commits.append(1)
        if len(commits) == 2:  # 1: the marker; 2: its removal
            raise RuntimeError("write failed")
        real_commit(engine, ops, sync)

    with _engine(path) as e:
        with monkeypatch.context() as m:
            m.setattr(bulk, "_ingest", fail_ingest)
            m.setattr(bulk, "_commit", commit)
            with pytest.raises(DvidError):
                e.write(_rest(), _stream(e))
        with pytest.raises(ReopenRequiredError):
            e.write(batch_from([(CF_META, b"x", b"y")]))
        assert len(_pending(e)) == 1 and len(_files(path)) == 1  # the file waits for recovery
    with RocksEngine(path) as e:
        _assert_generation(e, b"new")
        _assert_clean(e)


_CHILD = textwrap.dedent(
    """
    import sys
    from dvidctl.store.engine import WriteBatch
    from dvidctl.store.rocks import RocksEngine
    e = RocksEngine(sys.argv[1], create=True)
    e.bulk_threshold = 1 << 16
    gen = 0
    while True:
        gen += 1
        g = gen.to_bytes(8, "big")
        stream = e.data_stream()
        wb = WriteBatch()
        for i in range(200):
            stream.put(b"k%04d" % i, g + bytes(2000))
            wb.put("delta", b"k%04d" % i, g)
        wb.put("meta", b"gen", g)
        e.write(wb, stream)
        if gen == 3:
            print("ready", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_streamed_writes_atomic_under_sigkill(tmp_path: Path) -> None:
    """SIGKILL at any point of a run of streamed writes: a reopen shows whole writes only."""
    path = tmp_path / "db"
    for delay in (0.0, 0.01, 0.03, 0.05, 0.08, 0.13):
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with RocksEngine(path) as e:
            _assert_clean(e)
            gens = {v[:8] for _, v in e.scan(CF_DATA, b"")}
            gens |= {v for _, v in e.scan(CF_DELTA, b"")}
            gens.add(e.get(CF_META, b"gen") or b"")
            assert len(gens) == 1, f"a torn write is visible: {sorted(gens)}"
            assert sum(1 for _ in e.scan(CF_DATA, b"")) == 200
