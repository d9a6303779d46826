"""The KVEngine contract, run for every engine (STYLE.md rule 20).

``EngineContract`` holds the tests; each engine subclasses it with a ``make``
fixture. A new engine (e.g. an object store) passes when its subclass does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvidctl.errors import (
    CorruptDataError,
    DvidError,
    PermissionDeniedError,
    RepositoryBusyError,
)
from dvidctl.store.engine import (
    CF_DATA,
    CF_DELTA,
    CF_META,
    COLUMN_FAMILIES,
    KVEngine,
    WriteBatch,
    batch_from,
    prefix_end,
)
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.rocks import RocksEngine

# Byte-order traps: 0xFF bytes, empty-suffix prefixes, NUL, high bit.
KEYS = [
    b"\x00",
    b"\x00\x00",
    b"a",
    b"a\x00",
    b"a\xff",
    b"a\xff\xff",
    b"ab",
    b"b",
    b"\x7f",
    b"\x80",
    b"\xfe\xff",
    b"\xff",
    b"\xff\x00",
    b"\xff\xff",
    b"\xff\xff\xff",
]


def _fill(engine: KVEngine, cf: str = CF_DATA, keys: list[bytes] = KEYS) -> None:
    engine.write(batch_from((cf, k, b"v" + k) for k in keys))


class EngineContract:
    """Tests every :class:`KVEngine` must pass. Subclasses provide ``engine``."""

    @pytest.fixture
    def engine(self) -> Iterator[KVEngine]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    # ----------------------------------------------------------- point reads
    def test_get_missing_is_none(self, engine: KVEngine) -> None:
        for cf in COLUMN_FAMILIES:
            assert engine.get(cf, b"nope") is None

    def test_put_get_round_trip(self, engine: KVEngine) -> None:
        _fill(engine)
        for k in KEYS:
            assert engine.get(CF_DATA, k) == b"v" + k
        assert engine.get(CF_DATA, b"a\xff\x00") is None

    def test_empty_value_is_not_missing(self, engine: KVEngine) -> None:
        engine.write(batch_from([(CF_META, b"k", b"")]))
        assert engine.get(CF_META, b"k") == b""

    def test_column_families_are_separate(self, engine: KVEngine) -> None:
        engine.write(
            batch_from([(CF_META, b"k", b"m"), (CF_DATA, b"k", b"d"), (CF_DELTA, b"k", b"x")])
        )
        assert [engine.get(cf, b"k") for cf in (CF_META, CF_DATA, CF_DELTA)] == [b"m", b"d", b"x"]
        engine.write(batch_from([(CF_DATA, b"k", None)]))
        assert [engine.get(cf, b"k") for cf in (CF_META, CF_DATA, CF_DELTA)] == [b"m", None, b"x"]

    def test_multi_get(self, engine: KVEngine) -> None:
        _fill(engine)
        ask = [b"b", b"missing", b"\xff\xff", b"b", b"\x00"]
        assert engine.multi_get(CF_DATA, ask) == [b"vb", None, b"v\xff\xff", b"vb", b"v\x00"]
        assert engine.multi_get(CF_DATA, []) == []
        assert engine.multi_get(CF_META, [b"a"]) == [None]

    # ----------------------------------------------------------------- scans
    def test_scan_all_in_unsigned_byte_order(self, engine: KVEngine) -> None:
        _fill(engine)
        got = [k for k, _ in engine.scan(CF_DATA, b"")]
        assert got == sorted(KEYS)
        assert [v for _, v in engine.scan(CF_DATA, b"")] == [b"v" + k for k in sorted(KEYS)]

    @pytest.mark.parametrize(
        ("start", "stop"),
        [
            (b"a", b"b"),
            (b"a\xff", b"ab"),
            (b"a\xff", None),
            (b"\xff", None),
            (b"\xff", b"\xff\xff"),
            (b"\x00", b"\x00\x00"),
            (b"0", b"1"),  # nothing inside
            (b"b", b"b"),  # empty interval
            (b"c", b"a"),  # inverted interval
            (b"", b"\x80"),
        ],
    )
    def test_scan_bounds_half_open(
        self, engine: KVEngine, start: bytes, stop: bytes | None
    ) -> None:
        _fill(engine)
        want = [k for k in sorted(KEYS) if k >= start and (stop is None or k < stop)]
        assert [k for k, _ in engine.scan(CF_DATA, start, stop)] == want

    @pytest.mark.parametrize("prefix", [b"a", b"a\xff", b"\xff", b"\xff\xff", b"\x00", b"", b"z"])
    def test_scan_prefix(self, engine: KVEngine, prefix: bytes) -> None:
        _fill(engine)
        want = [k for k in sorted(KEYS) if k.startswith(prefix)]
        assert [k for k, _ in engine.scan_prefix(CF_DATA, prefix)] == want

    @pytest.mark.parametrize("size", [1, 2, 5, 100])
    @pytest.mark.parametrize(("start", "stop"), [(b"", None), (b"a", b"b"), (b"c", b"a")])
    def test_scan_chunks_are_the_scan_in_lists(
        self, engine: KVEngine, size: int, start: bytes, stop: bytes | None
    ) -> None:
        _fill(engine)
        _fill(engine, CF_DELTA, [b"a"])
        chunks = list(engine.scan_chunks(CF_DATA, start, stop, size))
        assert all(0 < len(c) <= size for c in chunks)
        assert all(len(c) == size for c in chunks[:-1])
        assert [e for c in chunks for e in c] == list(engine.scan(CF_DATA, start, stop))

    def test_scan_chunks_are_a_view_as_of_the_call(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"a", b"c", b"e"])
        chunks = engine.scan_chunks(CF_DATA, b"", None, 1)
        engine.write(batch_from([(CF_DATA, b"b", b"new"), (CF_DATA, b"c", None)]))
        first = next(chunks)
        engine.write(batch_from([(CF_DATA, b"d", b"new"), (CF_DATA, b"e", None)]))
        assert [first, *chunks] == [[(b"a", b"va")], [(b"c", b"vc")], [(b"e", b"ve")]]

    def test_scan_stays_in_its_column_family(self, engine: KVEngine) -> None:
        _fill(engine, CF_DATA)
        _fill(engine, CF_DELTA, [b"a", b"\xff"])
        assert [k for k, _ in engine.scan(CF_DELTA, b"")] == [b"a", b"\xff"]
        assert list(engine.scan(CF_META, b"")) == []

    def test_scan_is_a_view_as_of_the_call(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"a", b"c"])
        it = engine.scan(CF_DATA, b"")
        engine.write(batch_from([(CF_DATA, b"b", b"new"), (CF_DATA, b"c", None)]))
        assert list(it) == [(b"a", b"va"), (b"c", b"vc")]

    def test_scan_unaffected_by_writes_during_iteration(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"a", b"c", b"e"])
        it = engine.scan(CF_DATA, b"")
        first = next(it)
        engine.write(
            batch_from([(CF_DATA, b"b", b"x"), (CF_DATA, b"d", b"x"), (CF_DATA, b"e", None)])
        )
        assert [first, *it] == [(b"a", b"va"), (b"c", b"vc"), (b"e", b"ve")]
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"a", b"b", b"c", b"d"]

    def test_abandoned_scan_does_not_block(self, engine: KVEngine) -> None:
        _fill(engine)
        it = engine.scan(CF_DATA, b"")
        next(it)
        del it
        engine.write(batch_from([(CF_DATA, b"z", b"z")]))
        assert engine.get(CF_DATA, b"z") == b"z"

    # --------------------------------------------------------------- batches
    def test_batch_later_op_wins(self, engine: KVEngine) -> None:
        wb = WriteBatch()
        wb.put(CF_DATA, b"k1", b"one")
        wb.put(CF_DATA, b"k1", b"two")
        wb.put(CF_DATA, b"k2", b"x")
        wb.delete(CF_DATA, b"k2")
        wb.delete(CF_DATA, b"k3")
        wb.put(CF_DATA, b"k3", b"back")
        wb.put(CF_META, b"k1", b"meta")  # same key, other column family
        engine.write(wb)
        assert engine.get(CF_DATA, b"k1") == b"two"
        assert engine.get(CF_DATA, b"k2") is None
        assert engine.get(CF_DATA, b"k3") == b"back"
        assert engine.get(CF_META, b"k1") == b"meta"
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"k1", b"k3"]

    def test_batch_across_column_families(self, engine: KVEngine) -> None:
        _fill(engine, CF_DATA, [b"old"])
        wb = WriteBatch()
        for cf in COLUMN_FAMILIES:
            wb.put(cf, b"x", cf.encode())
        wb.delete(CF_DATA, b"old")
        assert len(wb) == 4 and wb.nbytes == (1 + 4) + (1 + 4) + (1 + 5) + 3
        engine.write(wb)
        assert [engine.get(cf, b"x") for cf in COLUMN_FAMILIES] == [
            cf.encode() for cf in COLUMN_FAMILIES
        ]
        assert engine.get(CF_DATA, b"old") is None

    def test_delete_missing_key_is_fine(self, engine: KVEngine) -> None:
        engine.write(batch_from([(CF_DATA, b"ghost", None)]))
        assert list(engine.scan(CF_DATA, b"")) == []

    def test_empty_batch(self, engine: KVEngine) -> None:
        engine.write(WriteBatch())
        assert list(engine.scan(CF_DATA, b"")) == []

    def test_failed_batch_applies_nothing(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"keep"])
        wb = batch_from(
            [(CF_DATA, b"new", b"1"), (CF_DATA, b"keep", None), ("no-such-cf", b"k", b"v")]
        )
        with pytest.raises((KeyError, ValueError)):
            engine.write(wb)
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"keep"]

    def test_large_batch(self, engine: KVEngine) -> None:
        n = 5000
        engine.write(batch_from((CF_DATA, i.to_bytes(4, "big"), bytes(100)) for i in range(n)))
        assert sum(1 for _ in engine.scan(CF_DATA, b"")) == n
        assert [
            k for k, _ in engine.scan(CF_DATA, (10).to_bytes(4, "big"), (13).to_bytes(4, "big"))
        ] == [i.to_bytes(4, "big") for i in (10, 11, 12)]

    # --------------------------------------------------------------- streams
    def test_stream_and_batch_are_one_write(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"keep"])
        stream = engine.data_stream()
        keys = [b"s%03d" % i for i in range(50)]
        for k in keys:
            stream.put(k, b"v" * 3000 + k)
        assert engine.get(CF_DATA, keys[0]) is None  # nothing visible before the write
        wb = WriteBatch()
        wb.put(CF_META, b"m", b"1")
        wb.put(CF_DELTA, b"d", b"2")
        wb.put(CF_DATA, b"a", b"batch")
        engine.write(wb, stream)
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"a", b"keep", *keys]
        assert all(engine.get(CF_DATA, k) == b"v" * 3000 + k for k in keys)
        assert engine.get(CF_META, b"m") == b"1" and engine.get(CF_DELTA, b"d") == b"2"
        assert stream.closed and (stream.count, stream.first_key, stream.last_key) == (
            50,
            keys[0],
            keys[-1],
        )

    def test_batch_ops_win_over_the_stream(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"c"])
        stream = engine.data_stream()
        for k in (b"a", b"b", b"c", b"d"):
            stream.put(k, b"streamed")
        wb = WriteBatch()
        wb.put(CF_DATA, b"a", b"batch")
        wb.delete(CF_DATA, b"b")
        wb.delete(CF_DATA, b"c")  # its older value goes too
        engine.write(wb, stream)
        assert list(engine.scan(CF_DATA, b"")) == [(b"a", b"batch"), (b"d", b"streamed")]

    def test_stream_takes_keys_in_increasing_order_only(self, engine: KVEngine) -> None:
        stream = engine.data_stream()
        stream.put(b"b", b"1")
        for k in (b"a", b"b"):
            assert not stream.accepts(k)
            with pytest.raises(ValueError):
                stream.put(k, b"2")
        assert stream.accepts(b"b\x00")
        stream.put(b"b\x00", b"3")
        engine.write(WriteBatch(), stream)
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"b", b"b\x00"]
        with pytest.raises(ValueError):  # written once
            stream.put(b"c", b"4")
        with pytest.raises(ValueError):
            engine.write(WriteBatch(), stream)

    def test_discarded_or_failed_stream_writes_nothing(self, engine: KVEngine) -> None:
        _fill(engine, keys=[b"keep"])
        stream = engine.data_stream()
        stream.put(b"x", bytes(5000))
        stream.discard()
        with pytest.raises(ValueError):
            stream.put(b"y", b"")
        with pytest.raises(ValueError):
            engine.write(WriteBatch(), stream)
        stream = engine.data_stream()
        stream.put(b"x", bytes(5000))
        with pytest.raises((KeyError, ValueError)):
            engine.write(batch_from([("no-such-cf", b"k", b"v")]), stream)
        assert stream.closed
        assert [k for k, _ in engine.scan(CF_DATA, b"")] == [b"keep"]

    # ----------------------------------------------------------------- close
    def test_close_is_idempotent_and_refuses_writes(self, engine: KVEngine) -> None:
        engine.close()
        engine.close()
        with pytest.raises(DvidError):
            engine.write(batch_from([(CF_DATA, b"k", b"v")]))

    def test_capabilities(self, engine: KVEngine) -> None:
        assert engine.supports_writes is True
        assert isinstance(engine.description, str) and engine.description


class TestMemoryEngine(EngineContract):
    """The in-memory engine."""

    @pytest.fixture
    def engine(self) -> Iterator[KVEngine]:
        e = MemoryEngine()
        yield e
        e.close()


class TestRocksEngine(EngineContract):
    """The RocksDB engine under ``tmp_path``."""

    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[KVEngine]:
        e = RocksEngine(tmp_path / "db", create=True)
        yield e
        e.close()

    def test_reopen_sees_data_and_lock_is_released(self, tmp_path: Path) -> None:
        path = tmp_path / "db2"
        with RocksEngine(path, create=True) as e:
            _fill(e)
        with RocksEngine(path) as e:
            assert [k for k, _ in e.scan(CF_DATA, b"")] == sorted(KEYS)

    def test_reads_without_mmap_leave_the_block_cache_empty(self, tmp_path: Path) -> None:
        """A one-shot reader (mmap_reads=False) copies each data block once, caching none."""
        path = tmp_path / "db2"
        with RocksEngine(path, create=True) as e:
            e.bulk_threshold = None
            e.write(batch_from((CF_DATA, b"k%03d" % i, os.urandom(100_000)) for i in range(80)))
        with RocksEngine(path, mmap_reads=False) as e:
            assert e.mmap_reads is False
            assert sum(len(v) for _, v in e.scan(CF_DATA, b"")) == 8_000_000
            cur = e.cursor(CF_DATA)
            cur.seek(b"k040")
            assert len(cur.value()) == 100_000 and e.get(CF_DATA, b"k001") is not None
            del cur
            assert e._cfs[CF_DATA].property_int_value("rocksdb.block-cache-usage") < 1 << 20
        with RocksEngine(path) as e:
            assert e.mmap_reads is RocksEngine.mmap_reads_default is True

    def test_second_open_is_repository_busy(self, tmp_path: Path) -> None:
        path = tmp_path / "db2"
        with RocksEngine(path, create=True):
            with pytest.raises(RepositoryBusyError) as info:
                RocksEngine(path)
        assert info.value.hint and "another process" in str(info.value)
        assert isinstance(info.value, OSError) and info.value.exit_code == 7

    def test_second_open_from_another_process_is_busy(self, tmp_path: Path) -> None:
        path = tmp_path / "db2"
        code = textwrap.dedent(
            f"""
            from dvidctl.store.rocks import RocksEngine
            from dvidctl.errors import RepositoryBusyError
            try:
                RocksEngine({str(path)!r})
            except RepositoryBusyError:
                raise SystemExit(7)
            """
        )
        with RocksEngine(path, create=True):
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        assert proc.returncode == 7, proc.stderr.decode()

    def test_read_only_open_refuses_writes(self, tmp_path: Path) -> None:
        path = tmp_path / "db2"
        with RocksEngine(path, create=True) as e:
            _fill(e)
        with RocksEngine(path, read_only=True) as ro:
            assert ro.supports_writes is False
            assert ro.get(CF_DATA, b"a") == b"va"
            with pytest.raises(PermissionDeniedError):
                ro.write(batch_from([(CF_DATA, b"k", b"v")]))


class TestRocksEngineVerifyingChecksums(EngineContract):
    """The RocksDB engine checking every block's CRC on reads (off by default)."""

    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[KVEngine]:
        e = RocksEngine(tmp_path / "db", create=True, verify_checksums=True)
        yield e
        e.close()

    def test_a_flipped_byte_in_a_table_is_caught(self, tmp_path: Path) -> None:
        path = tmp_path / "db2"
        value = bytes(range(256)) * 64
        with RocksEngine(path, create=True) as e:
            e.write(batch_from([(CF_DATA, b"k", value)]))
            e._cfs[CF_DATA].flush()  # into an SST file
        sst = next(p for p in path.glob("*.sst") if value[:256] in p.read_bytes())
        raw = bytearray(sst.read_bytes())
        raw[raw.index(value[:256]) + 100] ^= 0xFF
        sst.write_bytes(bytes(raw))
        with RocksEngine(path, verify_checksums=True) as e:
            with pytest.raises(CorruptDataError, match="(?i)checksum|corrupt"):
                list(e.scan(CF_DATA, b""))
            # rocksdict's items(), under scan_chunks, ends on the error as at the end:
            # the check after it must still raise.
            with pytest.raises(CorruptDataError, match="(?i)checksum|corrupt"):
                list(e.scan_chunks(CF_DATA, b""))
            cur = e.cursor(CF_DATA)
            cur.seek(b"")
            assert not cur.valid()  # the read error ends the walk ...
            with pytest.raises(CorruptDataError):
                cur.status()  # ... and status says why
            del cur  # an open iterator keeps the database (and its LOCK) alive
        with RocksEngine(path) as e:  # the default path does not check, as DVID's leveldb
            assert [v for _, v in e.scan(CF_DATA, b"")] != [value]


# A child process writes batches that each set every key of a group (and a meta
# key) to the same generation, forever; we SIGKILL it mid-stream and check no
# batch shows half. argv: path, bulk threshold ("none": never through an SST).
_WRITER = """
import sys
from dvidctl.store.engine import WriteBatch
from dvidctl.store.rocks import RocksEngine
e = RocksEngine(sys.argv[1], create=True)
e.bulk_threshold = None if sys.argv[2] == "none" else int(sys.argv[2])
gen = 0
while True:
    gen += 1
    wb = WriteBatch()
    for i in range(200):
        wb.put("data", b"k%04d" % i, gen.to_bytes(8, "big") + bytes(2000))
        wb.put("delta", b"k%04d" % i, gen.to_bytes(8, "big"))
    wb.put("meta", b"gen", gen.to_bytes(8, "big"))
    e.write(wb)
    if gen == 3:
        print("ready", flush=True)
"""


def kill_writer(path: Path, delay: float, bulk_threshold: int | None) -> None:
    """Run the writer on ``path`` and SIGKILL it ``delay`` seconds after its third batch."""
    arg = "none" if bulk_threshold is None else str(bulk_threshold)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), arg], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def assert_one_generation(e: KVEngine) -> None:
    """Every key the writer wrote holds the same generation (>= 3): no torn batch."""
    gens = {v[:8] for _, v in e.scan(CF_DATA, b"")}
    gens |= {v for _, v in e.scan(CF_DELTA, b"")}
    gens.add(e.get(CF_META, b"gen") or b"")
    assert len(gens) == 1, f"a torn batch is visible: generations {sorted(gens)}"
    assert sum(1 for _ in e.scan(CF_DATA, b"")) == 200
    assert int.from_bytes(gens.pop(), "big") >= 3


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_rocks_batch_atomic_under_sigkill(tmp_path: Path) -> None:
    """A batch interrupted by SIGKILL is either fully visible or not at all."""
    path = tmp_path / "db"
    for delay in (0.0, 0.05, 0.13):
        kill_writer(path, delay, bulk_threshold=None)
        with RocksEngine(path) as e:
            assert_one_generation(e)


def test_prefix_end() -> None:
    assert prefix_end(b"a") == b"b"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"a\xfe\xff") == b"a\xff"
    assert prefix_end(b"\xff\xff") is None
    assert prefix_end(b"") is None
    for p in (b"a", b"a\xff", b"\x00\xff\x10"):
        end = prefix_end(p)
        assert end is not None and end > p + b"\xff" * 8
