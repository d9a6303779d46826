"""Bulk writes through SST ingestion (store/bulk.py) on the RocksDB engine."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dvidctl import Repository
from dvidctl.errors import CorruptDataError, DvidError, ReopenRequiredError
from dvidctl.store import bulk, bulkmarker, metadata, rocks
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, KVEngine, WriteBatch, batch_from
from dvidctl.store.rocks import RocksEngine
from tests.store.test_engine_contract import EngineContract, assert_one_generation, kill_writer

BIG = 218 * 1024  # one compressed 64^3 grayscale block, roughly
#: The threshold of every engine opened here (unless a test sets another): small
#: enough that _big_batch() (24 x 218 KB = 5.4 MB) goes through an SST file.
THRESHOLD = 1 << 20
REAL_DEFAULT = rocks.BULK_THRESHOLD_DEFAULT


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rocks, "BULK_THRESHOLD_DEFAULT", THRESHOLD)


def _pending(engine: KVEngine) -> list[bytes]:
    return [k for k, _ in engine.scan_prefix(CF_META, bulk.MARKER_PREFIX)]


def _assert_clean(engine: RocksEngine) -> None:
    """No marker pending and no file waiting beside the database."""
    assert _pending(engine) == []
    folder = bulk.ingest_dir(engine.path)
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.fixture
def ingests(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files bulk.py ingests, recorded (the ingestion still happens)."""
    seen: list[Path] = []
    real = bulk._ingest

    def spy(cf: Any, path: Path) -> None:
        seen.append(path)
        real(cf, path)

    monkeypatch.setattr(bulk, "_ingest", spy)
    return seen


def _big_batch(n: int = 24, seed: int = 1, gen: bytes = b"") -> WriteBatch:
    """``n`` large data values plus their delta entries and a meta record."""
    rng = random.Random(seed)
    wb = WriteBatch()
    for i in range(n):
        key = b"blk%06d" % i
        wb.put(CF_DATA, key, gen + rng.randbytes(BIG))
        wb.put(CF_DELTA, key, gen + b"digest%d" % i)
    wb.put(CF_META, b"counter/test", gen + b"n=%d" % n)
    return wb


def _assert_has(engine: KVEngine, wb: WriteBatch) -> None:
    want: dict[tuple[str, bytes], bytes | None] = {}
    for cf, key, value in wb.ops:
        want[(cf, key)] = value
    for (cf, key), value in want.items():
        assert engine.get(cf, key) == value, (cf, key)


# --------------------------------------------------- the contract, all through SST
class TestRocksEngineBulkContract(EngineContract):
    """Every contract test with ``bulk_threshold = 0``: each batch with a data op is an SST."""

    @pytest.fixture
    def engine(self, tmp_path: Path, ingests: list[Path]) -> Iterator[KVEngine]:
        e = RocksEngine(tmp_path / "db", create=True)
        e.bulk_threshold = 0
        yield e
        if not e._closed:
            _assert_clean(e)
        e.close()
        assert not bulk.ingest_dir(e.path).exists()


def test_threshold_zero_uses_ingestion(tmp_path: Path, ingests: list[Path]) -> None:
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.bulk_threshold = 0
        e.write(batch_from([(CF_DATA, b"k", b"v")]))
        e.write(batch_from([(CF_DATA, b"k", None)]))  # deletes only: still an SST
        e.write(batch_from([(CF_META, b"m", b"v")]))  # no data op: normal path
        assert len(ingests) == 2
        assert e.get(CF_DATA, b"k") is None and e.get(CF_META, b"m") == b"v"


def test_threshold_default_and_none(
    tmp_path: Path, ingests: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert 1 << 20 <= REAL_DEFAULT <= 64 << 20
    monkeypatch.setattr(rocks, "BULK_THRESHOLD_DEFAULT", REAL_DEFAULT)
    with RocksEngine(tmp_path / "db", create=True) as e:
        assert e.bulk_threshold == REAL_DEFAULT
        e.write(batch_from([(CF_DATA, b"small", bytes(REAL_DEFAULT - 1))]))
        assert ingests == []
        e.write(batch_from([(CF_DATA, b"big", bytes(REAL_DEFAULT))]))
        assert len(ingests) == 1
        e.bulk_threshold = None
        e.write(_big_batch(seed=2))
        assert len(ingests) == 1
        _assert_has(e, _big_batch(seed=2))


# ------------------------------------------------------------------ round trips
def test_big_batch_round_trip_and_reopen(tmp_path: Path, ingests: list[Path]) -> None:
    wb = _big_batch(64)
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.write(wb)
        assert len(ingests) == 1
        _assert_has(e, wb)
        assert [k for k, _ in e.scan(CF_DATA, b"")] == [b"blk%06d" % i for i in range(64)]
        _assert_clean(e)
    assert not bulk.ingest_dir(tmp_path / "db").exists()
    with RocksEngine(tmp_path / "db", create=True) as e:
        _assert_has(e, wb)


def test_deletes_and_duplicates_later_wins(tmp_path: Path, ingests: list[Path]) -> None:
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.bulk_threshold = 0
        wb = WriteBatch()
        wb.put(CF_DATA, b"b", b"first")
        wb.put(CF_DATA, b"a", b"one")
        wb.put(CF_DATA, b"b", b"second")
        wb.put(CF_DATA, b"c", b"gone")
        wb.delete(CF_DATA, b"c")
        wb.delete(CF_DATA, b"d")
        wb.put(CF_DATA, b"d", b"back")
        wb.put(CF_META, b"m", b"1")
        wb.delete(CF_META, b"m")
        wb.put(CF_DELTA, b"x", b"1")
        wb.put(CF_DELTA, b"x", b"2")
        e.write(wb)
        assert list(e.scan(CF_DATA, b"")) == [(b"a", b"one"), (b"b", b"second"), (b"d", b"back")]
        assert e.get(CF_META, b"m") is None and e.get(CF_DELTA, b"x") == b"2"
        assert len(ingests) == 1


def test_delete_of_keys_in_older_sst_and_memtable(tmp_path: Path, ingests: list[Path]) -> None:
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.write(_big_batch(24))  # an SST of its own
        e.bulk_threshold = None
        e.write(batch_from([(CF_DATA, b"mem1", b"x"), (CF_DATA, b"mem2", b"y")]))  # memtable
        e.bulk_threshold = 0
        e.write(
            batch_from(
                [(CF_DATA, b"blk000003", None), (CF_DATA, b"mem1", None), (CF_DATA, b"z", b"z")]
            )
        )
        assert len(ingests) == 2
        keys = [k for k, _ in e.scan(CF_DATA, b"")]
        assert b"blk000003" not in keys and b"mem1" not in keys
        assert {b"blk000002", b"mem2", b"z"} <= set(keys) and len(keys) == 23 + 1 + 1
    with RocksEngine(tmp_path / "db", create=True) as e:
        assert e.get(CF_DATA, b"blk000003") is None and e.get(CF_DATA, b"mem1") is None
        assert e.get(CF_DATA, b"mem2") == b"y"


def test_all_column_families_together_and_old_iterators_blind(tmp_path: Path) -> None:
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.write(batch_from([(CF_DATA, b"blk000000", b"old"), (CF_DELTA, b"blk000000", b"old")]))
        before = {cf: e.scan(cf, b"") for cf in (CF_DATA, CF_DELTA, CF_META)}
        wb = _big_batch(24)
        e.write(wb)
        _assert_has(e, wb)
        assert list(before[CF_DATA]) == [(b"blk000000", b"old")]
        assert list(before[CF_DELTA]) == [(b"blk000000", b"old")]
        assert list(before[CF_META]) == []


def test_repository_metadata_ignores_markers(tmp_path: Path) -> None:
    prefixes = [
        metadata.REPO_KEY,
        metadata.NODE_PREFIX,
        metadata.BRANCH_PREFIX,
        metadata.TAG_PREFIX,
        metadata.INSTANCE_PREFIX,
        metadata.COUNTER_PREFIX,
    ]
    for p in prefixes:
        assert not bulk.MARKER_PREFIX.startswith(p) and not p.startswith(bulk.MARKER_PREFIX)
    repo = Repository.init(tmp_path)
    engine = repo.engine
    assert isinstance(engine, RocksEngine)
    want = metadata.load(engine)
    # A marker left pending (as a crash leaves it) does not disturb the metadata.
    name = "0000000000000001-1-0.sst"
    engine.write(
        batch_from([(CF_META, bulk.MARKER_PREFIX + name.encode(), bulk.encode_marker(name, []))])
    )
    got = metadata.load(engine)
    assert want is not None and got is not None
    assert (got.repo, got.branches, got.tags, got.instances, got.counters) == (
        want.repo,
        want.branches,
        want.tags,
        want.instances,
        want.counters,
    )
    assert [got.dag.node(v) for v in got.dag.topological()] == [
        want.dag.node(v) for v in want.dag.topological()
    ]
    repo.close()


def test_marker_format_round_trip_and_checksum() -> None:
    ops = [
        (CF_META, b"counter/x", b"\x00" * 8),
        (CF_DELTA, b"\xff\x00k", None),
        (CF_META, b"", b""),
        (CF_DELTA, b"k", bytes(range(256)) * 10),
    ]
    name = "0123456789abcdef-42-7.sst"
    raw = bulk.encode_marker(name, ops)
    assert bulk.decode_marker(raw) == (name, ops)
    assert bulk.decode_marker(bulk.encode_marker(name, [])) == (name, [])
    for bad in (raw[:-1], raw[:10], b"", raw[:20] + b"\x01" + raw[21:], b"XXXX" + raw[4:]):
        with pytest.raises(CorruptDataError):
            bulk.decode_marker(bad)
    with pytest.raises(CorruptDataError):  # a name that could leave the directory
        bulk.decode_marker(bulk.encode_marker("../../etc/passwd", []))


def test_a_format_1_marker_left_by_an_older_version_still_decodes() -> None:
    ops = [(CF_META, b"counter/x", b"\x00" * 8), (CF_DELTA, b"\xff\x00k", None)]
    name = "0123456789abcdef-42-7.sst"
    old = bulkmarker.encode_marker_v1(name, ops)
    assert old[:4] == b"DVB1" and bulk.encode_marker(name, ops)[:4] == b"DVB2"
    assert bulk.decode_marker(old) == (name, ops)
    for bad in (old[:-1], old[:12] + b"\x07" + old[13:]):
        with pytest.raises(CorruptDataError):
            bulk.decode_marker(bad)


def test_a_format_2_marker_with_lengths_past_its_end_is_corrupt() -> None:
    name = "0123456789abcdef-42-7.sst"
    raw = bulk.encode_marker(name, [(CF_DELTA, b"k", b"v")])
    body = bytearray(raw[:-4])
    at = 4 + 4 + len(name) + 4 + 1  # the first key length
    for length in (1000, 2**31):
        body[at : at + 4] = struct.pack(">I", length)
        bad = bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))
        with pytest.raises(CorruptDataError):
            bulk.decode_marker(bad)


# -------------------------------------------------------------- crash recovery
class _Crash(BaseException):
    """Stands for the process dying at a step (not an Exception: no fallback runs)."""


def _crash_at(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    def after(name: str) -> None:
        if name == step:
            raise _Crash(step)

    monkeypatch.setattr(bulk, "_after", after)


@pytest.mark.parametrize("step", ["marker", "ingest"])
def test_crash_mid_write_recovers_on_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "db"
    old = _big_batch(24, seed=1, gen=b"old")
    new = _big_batch(24, seed=2, gen=b"new")
    with RocksEngine(path, create=True) as e:
        e.write(old)
        with monkeypatch.context() as m:
            _crash_at(m, step)
            with pytest.raises(_Crash):
                e.write(new)
        assert len(_pending(e)) == 1
        files = list(bulk.ingest_dir(path).iterdir())
        assert len(files) == (1 if step == "marker" else 0)  # ingestion moves the file
        # Until reopened, every write is refused (recovery must not put old over new).
        with pytest.raises(ReopenRequiredError) as info:
            e.write(batch_from([(CF_META, b"x", b"y")]))
        assert info.value.hint and "reopen" in info.value.hint
        with pytest.raises(ReopenRequiredError):
            e.write(_big_batch(24, seed=3))
        assert list(bulk.ingest_dir(path).iterdir()) == files  # the refused one is gone
    # A read-only open does not recover: the marker stays.
    with RocksEngine(path, read_only=True) as ro:
        assert len(_pending(ro)) == 1
        assert ro.get(CF_META, b"counter/test") == old.ops[-1][2]
    with RocksEngine(path) as e:
        _assert_has(e, new)
        _assert_clean(e)
        e.write(batch_from([(CF_META, b"x", b"y")]))
    assert not bulk.ingest_dir(path).exists()


@pytest.mark.parametrize("step", ["sst", "commit"])
def test_crash_outside_the_window_needs_no_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    old = _big_batch(24, seed=1, gen=b"old")
    new = _big_batch(24, seed=2, gen=b"new")
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.write(old)
        with monkeypatch.context() as m:
            _crash_at(m, step)
            with pytest.raises(_Crash):
                e.write(new)
        _assert_has(e, old if step == "sst" else new)
        _assert_clean(e)
        e.write(batch_from([(CF_META, b"x", b"y")]))  # not broken


def test_stray_files_are_removed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "db"
    RocksEngine(path, create=True).close()
    folder = bulk.ingest_dir(path)
    folder.mkdir()
    (folder / "0000000000000001-1-0.sst").write_bytes(b"half a file")
    (folder / "junk").write_bytes(b"")
    with RocksEngine(path, read_only=True):
        assert len(list(folder.iterdir())) == 2  # read-only opens leave them
    with RocksEngine(path, create=True) as e:
        _assert_clean(e)
    assert not folder.exists()


def test_failed_recovery_is_a_clear_error_and_retried_on_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    new = _big_batch(24, seed=2, gen=b"new")
    with RocksEngine(path, create=True) as e:
        with monkeypatch.context() as m:
            _crash_at(m, "marker")
            with pytest.raises(_Crash):
                e.write(new)

    def fail(cf: Any, p: Path) -> None:
        raise RuntimeError("IO error: No space left on device")

    with monkeypatch.context() as m:
        m.setattr(bulk, "_ingest", fail)
        with pytest.raises(ReopenRequiredError, match="No space left") as info:
            RocksEngine(path)
        assert info.value.hint and "again" in info.value.hint
    with RocksEngine(path) as e:  # the lock was released, and the next open finishes it
        _assert_has(e, new)
        _assert_clean(e)


def test_corrupt_marker_refuses_open(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with RocksEngine(path, create=True) as e:
        e.write(batch_from([(CF_META, bulk.MARKER_PREFIX + b"x", b"garbage")]))
    with pytest.raises(CorruptDataError):
        RocksEngine(path)
    with RocksEngine(path, read_only=True):  # the lock was released
        pass


_CHILD = textwrap.dedent(
    """
    import random, sys
    from dvidctl.store.engine import WriteBatch
    from dvidctl.store.rocks import RocksEngine
    e = RocksEngine(sys.argv[1])
    e.bulk_threshold = 1 << 20
    rng = random.Random(int(sys.argv[2]))
    wb = WriteBatch()
    for i in range(24):
        wb.put("data", b"blk%06d" % i, b"new" + rng.randbytes(218 * 1024))
        wb.put("delta", b"blk%06d" % i, b"new")
    wb.put("meta", b"counter/test", b"new")
    e.write(wb)
    print("not reached", flush=True)
    """
)


@pytest.mark.parametrize("step", ["marker", "ingest"])
def test_process_exit_mid_write_recovers(tmp_path: Path, step: str) -> None:
    """A child ends with os._exit(1) right after ``step`` (bulk.CRASH_ENV); we recover."""
    path = tmp_path / "db"
    with RocksEngine(path, create=True) as e:
        e.write(batch_from([(CF_DATA, b"blk000000", b"old"), (CF_META, b"counter/test", b"old")]))
    env = {**os.environ, bulk.CRASH_ENV: step}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), "5"], capture_output=True, env=env, timeout=120
    )
    assert proc.returncode == 1 and b"not reached" not in proc.stdout, proc.stderr.decode()
    with RocksEngine(path, read_only=True) as ro:
        assert len(_pending(ro)) == 1
        assert ro.get(CF_META, b"counter/test") == b"old"
        # After step 3 the data is in (the documented window); after step 2 it is not.
        assert ro.get(CF_DATA, b"blk000000")[:3] == (b"new" if step == "ingest" else b"old")
    with RocksEngine(path) as e:
        _assert_clean(e)
        assert e.get(CF_META, b"counter/test") == b"new"
        data = list(e.scan(CF_DATA, b""))
        assert len(data) == 24 and all(v[:3] == b"new" and len(v) == 3 + BIG for _, v in data)
        assert [v for _, v in e.scan(CF_DELTA, b"")] == [b"new"] * 24
    assert not bulk.ingest_dir(path).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_bulk_batch_atomic_under_sigkill(tmp_path: Path) -> None:
    """SIGKILL at any point of a stream of bulk writes: reopening shows whole batches."""
    path = tmp_path / "db"
    for delay in (0.0, 0.01, 0.03, 0.05, 0.08, 0.13):
        kill_writer(path, delay, bulk_threshold=0)  # every batch through an SST
        with RocksEngine(path) as e:
            _assert_clean(e)
            assert_one_generation(e)


# ------------------------------------------------------------- live failures
def test_ingest_failure_falls_back_to_the_normal_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(cf: Any, path: Path) -> None:
        raise RuntimeError("ingest failed")

    monkeypatch.setattr(bulk, "_ingest", fail)
    wb = _big_batch(24)
    with RocksEngine(tmp_path / "db", create=True) as e:
        e.write(wb)
        _assert_has(e, wb)
        _assert_clean(e)
        e.write(_big_batch(24, seed=9))  # not broken
        _assert_has(e, _big_batch(24, seed=9))


def test_ingest_and_fallback_failing_needs_a_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    commits: list[int] = []
    real_commit = bulk._commit

    def fail_ingest(cf: Any, p: Path) -> None:
        raise RuntimeError("ingest failed")

    def commit(engine: Any, ops: Any, sync: bool = False) -> None:
        commits.append(1)
        if len(commits) == 2:  # 1: the marker; 2: the fallback batch
            raise RuntimeError("write failed")
        real_commit(engine, ops, sync)

    wb = _big_batch(24)
    with RocksEngine(path, create=True) as e:
        with monkeypatch.context() as m:
            m.setattr(bulk, "_ingest", fail_ingest)
            m.setattr(bulk, "_commit", commit)
            with pytest.raises(DvidError, match="write failed"):
                e.write(wb)
        for later in (batch_from([(CF_META, b"x", b"y")]), _big_batch(24, seed=4)):
            with pytest.raises(ReopenRequiredError):
                e.write(later)
        assert e.get(CF_META, b"x") is None
        assert len(_pending(e)) == 1 and len(list(bulk.ingest_dir(path).iterdir())) == 1
    with RocksEngine(path) as e:
        _assert_has(e, wb)
        _assert_clean(e)


def test_failure_before_the_marker_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    with RocksEngine(tmp_path / "db", create=True) as e:
        for step in ("_write_sst", "_commit"):
            with monkeypatch.context() as m:
                m.setattr(bulk, step, fail)
                with pytest.raises(DvidError, match="disk full") as info:
                    e.write(_big_batch(24))
                assert info.value.hint and "nothing was written" in info.value.hint
            assert e.get(CF_DATA, b"blk000000") is None
            _assert_clean(e)
        e.write(_big_batch(24))  # not broken
