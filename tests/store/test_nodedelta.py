"""One node's delta as sync moves it (dvidctl/store/nodedelta.py), on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvidctl.errors import BadRequestError, CorruptDataError, LockedNodeError
from dvidctl.store import nodedelta, nodedigest
from dvidctl.store.engine import CF_DATA, CF_DELTA, KVEngine, WriteBatch
from dvidctl.store.keys import TOMBSTONE, data_key, delta_key, digest
from dvidctl.store.rocks import RocksEngine
from dvidctl.store.versioned import VersionedStore
from tests.factories import engine_dump, lock, versioned_store, write


def _store(engine: KVEngine) -> VersionedStore:
    s = versioned_store([[1], [2, 1], [3, 2]], engine)
    write(s, 1, {b"a\x00": b"1", b"b\x00": b"1", b"c\x00": b"1"})
    write(s, 1, {b"x": b"other instance"}, iid=2)
    lock(s.dag, 1)
    write(s, 2, {b"b\x00": b"2", b"a\x00": None, b"d\x00": b"2"})
    return s


def test_listing_is_one_nodes_own_entries_in_key_order(engine: KVEngine) -> None:
    _store(engine)
    got = list(nodedelta.listing(engine, 2, 1))
    assert [tk for tk, _ in got] == [b"a\x00", b"b\x00", b"d\x00"]
    assert dict(got)[b"a\x00"] == digest(TOMBSTONE)  # a delete below leaves a tombstone
    assert dict(got)[b"b\x00"] == digest(b"\x002")
    assert [tk for tk, _ in nodedelta.listing(engine, 2, 1, after=b"a\x00")] == [b"b\x00", b"d\x00"]
    assert [tk for tk, _ in nodedelta.listing(engine, 2, 1, after=b"b")] == [b"b\x00", b"d\x00"]
    assert list(nodedelta.listing(engine, 3, 1)) == []
    assert [tk for tk, _ in nodedelta.listing(engine, 1, 2)] == [b"x"]


def test_digests_name_what_a_node_holds(engine: KVEngine) -> None:
    s = _store(engine)
    per = nodedigest.instance_digests(engine, 1)
    assert set(per) == {1, 2}
    assert per[1] == nodedigest.entries_digest(nodedelta.listing(engine, 1, 1))
    assert per[1].endswith(":3") and per[2].endswith(":1")
    assert nodedigest.instance_digests(engine, 3) == {}
    assert nodedigest.entries_digest([]) is None
    # The same entries give the same digest; one changed digest, key or count changes it.
    entries = list(nodedelta.listing(engine, 1, 1))
    assert nodedigest.entries_digest(entries) == per[1]
    changed = [(entries[0][0], digest(b"\x00zz")), *entries[1:]]
    assert nodedigest.entries_digest(changed) != per[1]
    assert nodedigest.entries_digest(entries[1:]) != per[1]
    assert nodedigest.entries_digest([(b"a", b"\x00" * 16)]) != nodedigest.entries_digest(
        [(b"a\x00", b"\x00" * 16)]
    )
    del s


def test_stored_at_reads_the_nodes_own_version(engine: KVEngine) -> None:
    s = _store(engine)
    got = nodedelta.stored_at(engine, 2, 1, [b"a\x00", b"b\x00", b"c\x00"])
    assert got == [TOMBSTONE, b"\x002", None]  # c is visible at 2, but 2 did not store it
    assert bytes(s.get(2, 1, b"c\x00") or b"") == b"1"


def _incoming(s: VersionedStore, vid: int) -> None:
    s.dag.node(vid).incoming = True


def test_apply_incoming_writes_values_and_removals_together(engine: KVEngine) -> None:
    s = _store(engine)
    _incoming(s, 3)
    puts = [(b"e\x00", digest(b"\x005"), b"\x005"), (b"b\x00", digest(TOMBSTONE), TOMBSTONE)]
    done = nodedelta.apply_incoming(s, 3, 1, puts)
    assert (done.puts, done.deletes, done.nbytes) == (2, 0, 3)
    assert bytes(s.get(3, 1, b"e\x00") or b"") == b"5" and s.get(3, 1, b"b\x00") is None
    assert engine.get(CF_DELTA, delta_key(3, 1, b"e\x00")) == digest(b"\x005")
    nodedelta.apply_incoming(s, 3, 1, [], [b"b\x00"])
    assert engine.get(CF_DATA, data_key(1, b"b\x00", 3)) is None
    assert engine.get(CF_DELTA, delta_key(3, 1, b"b\x00")) is None
    assert bytes(s.get(3, 1, b"b\x00") or b"") == b"2"


@pytest.mark.parametrize(
    "bad",
    [
        (b"z\x00", digest(b"\x00ok"), b"\x00changed"),  # digest mismatch
        (b"z\x00", digest(b"\x02?"), b"\x02?"),  # unknown header byte
        (b"z\x00", digest(b"\x01x"), b"\x01x"),  # a tombstone with a payload
        (b"", digest(b"\x00v"), b"\x00v"),  # no key
    ],
)
def test_one_bad_value_refuses_the_whole_batch(
    engine: KVEngine, bad: tuple[bytes, bytes, bytes]
) -> None:
    s = _store(engine)
    _incoming(s, 3)
    before = engine_dump(engine)
    good = (b"y\x00", digest(b"\x00v"), b"\x00v")
    with pytest.raises(CorruptDataError):
        nodedelta.apply_incoming(s, 3, 1, [good, bad], [b"b\x00"])
    assert engine_dump(engine) == before


def test_only_incoming_nodes_take_sync_writes_and_users_cannot_write_them(engine: KVEngine) -> None:
    s = _store(engine)
    v = (b"y\x00", digest(b"\x00v"), b"\x00v")
    with pytest.raises(BadRequestError, match="not being received"):
        nodedelta.apply_incoming(s, 3, 1, [v])
    nodedelta.apply_incoming(s, 3, 1, [v], any_node=True)  # unversioned data at the root
    _incoming(s, 3)
    with pytest.raises(LockedNodeError, match="being received"):
        write(s, 3, {b"q\x00": b"1"})
    with pytest.raises(LockedNodeError, match="being received"):
        s.check_writable(3, check_locked=False, allow_locked=True)


def test_drop_node_data_removes_every_key_of_the_node(engine: KVEngine) -> None:
    s = _store(engine)
    write(s, 3, {bytes([i]) + b"\x00": b"v" for i in range(1, 40)})
    write(s, 3, {b"k": b"v"}, iid=2)
    assert nodedelta.drop_node_data(s, 3) == 40
    assert list(s.changes(3)) == []
    assert not any(k.endswith(b"\x00\x00\x00\x03") for k, _ in engine.scan(CF_DATA, b""))
    assert len(list(s.changes(2))) == 3  # other nodes keep theirs


def test_a_synced_write_batch_is_applied_on_rocksdb(tmp_path: Path) -> None:
    with RocksEngine(tmp_path / "db", create=True) as eng:
        wb = WriteBatch(sync=True)
        wb.put(CF_DATA, b"k", b"v")
        other = WriteBatch()
        other.extend(wb)
        assert other.sync
        eng.write(wb)
    with RocksEngine(tmp_path / "db") as eng:
        assert eng.get(CF_DATA, b"k") == b"v"


def test_a_large_incoming_batch_goes_through_its_table_file_and_is_atomic(
    engine: KVEngine, tmp_path: Path
) -> None:
    s = _store(engine)
    _incoming(s, 3)
    big = [(f"v{i:03d}".encode() + b"\x00", b"\x00" + bytes([i]) * (256 << 10)) for i in range(20)]
    before = engine_dump(engine)
    batch = nodedelta.IncomingBatch(s, 3, 1)
    for tk, v in big[:-1]:
        batch.put(tk, digest(v), v)  # past 4 MiB: into the table file as they come
    if isinstance(engine, RocksEngine):
        assert list((tmp_path / "db.ingest").glob("*.sst"))
    tk, v = big[-1]
    with pytest.raises(CorruptDataError):
        batch.put(tk, digest(b"\x00other"), v)  # one damaged value drops the whole batch
    assert engine_dump(engine) == before
    assert not list((tmp_path / "db.ingest").glob("*.sst"))
    batch = nodedelta.IncomingBatch(s, 3, 1)
    for tk, v in big:
        batch.put(tk, digest(v), v)
    batch.delete(b"b\x00")
    done = batch.commit()
    assert (done.puts, done.deletes, done.nbytes) == (20, 1, sum(len(v) for _, v in big))
    assert all(bytes(s.get(3, 1, tk) or b"") == v[1:] for tk, v in big)
    assert engine.get(CF_DELTA, delta_key(3, 1, big[7][0])) == digest(big[7][1])


def _values(count: int, size: int, start: int = 0) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for i in range(start, start + count):
        v = b"\x00" + bytes([i % 251]) * size
        out.append((f"r{i:04d}".encode() + b"\x00", digest(v), v))
    return out


def _after_puts(engine: KVEngine, runs: list[list[tuple[bytes, bytes, bytes]]], many: bool) -> dict:
    s = _store(engine)
    _incoming(s, 3)
    batch = nodedelta.IncomingBatch(s, 3, 1)
    for run in runs:
        if many:
            batch.put_many(run)
        else:
            for tk, d, v in run:
                batch.put(tk, d, v)
    done = batch.commit()
    return {"applied": (done.puts, done.deletes, done.nbytes), "db": engine_dump(engine)}


@pytest.mark.parametrize("shape", ["small", "past the spill", "out of order"])
def test_a_run_put_at_once_writes_what_its_values_put_one_by_one_write(
    shape: str, tmp_path: Path
) -> None:
    """put_many is put in one call: the same values, delta entries, counts and order rules
    (values after the 4 MiB spill go to the table file; a key not after the last goes last)."""
    if shape == "small":
        runs = [_values(300, 40), _values(5, 40, start=300)]
    elif shape == "past the spill":
        runs = [_values(12, 300 << 10), _values(12, 300 << 10, start=12)]
    else:
        runs = [_values(10, 40, start=20), _values(10, 40), _values(3, 1 << 20, start=40)]
    got = []
    for many in (False, True):
        eng = RocksEngine(tmp_path / f"db{many}", create=True)
        try:
            got.append(_after_puts(eng, runs, many))
        finally:
            eng.close()
    assert got[0] == got[1]
    assert got[1]["applied"][0] == sum(len(r) for r in runs)


def test_a_bad_value_in_a_run_drops_the_whole_batch(engine: KVEngine, tmp_path: Path) -> None:
    s = _store(engine)
    _incoming(s, 3)
    before = engine_dump(engine)
    batch = nodedelta.IncomingBatch(s, 3, 1)
    batch.put_many(_values(20, 300 << 10))  # past the spill: a table file on RocksDB
    run = _values(5, 10, start=20)
    tk, d, v = run[2]
    run[2] = (tk, d, v[:-1] + b"?")  # damaged on the way
    with pytest.raises(CorruptDataError, match="does not match its digest"):
        batch.put_many(run)
    assert engine_dump(engine) == before
    assert not list((tmp_path / "db.ingest").glob("*.sst"))


def test_a_batch_counts_the_bytes_it_writes_over_at_the_node(tmp_path: Path) -> None:
    eng = RocksEngine(tmp_path / "db", create=True)
    try:
        s = _store(eng)
        _incoming(s, 3)

        def commit(keys: list[bytes], payload: bytes) -> int:
            before = eng.replaced_bytes
            batch = nodedelta.IncomingBatch(s, 3, 1)
            for tk in keys:
                batch.put(tk, digest(payload), payload)
            batch.commit()
            return eng.replaced_bytes - before

        assert commit([b"m", b"p", b"t"], b"\x00" + bytes(10)) == 0  # nothing there yet
        assert commit([b"a", b"b"], b"\x00" + bytes(20)) == 0  # below what is there
        assert commit([b"z", b"zz"], b"\x00" + bytes(20)) == 0  # above
        assert commit([b"n", b"o"], b"\x00" + bytes(5)) == 0  # between, over nothing
        # Counted as the new values' bytes (what the upkeep will find twice), for the keys
        # the node held already.
        assert commit([b"l", b"p", b"q"], b"\x00" + bytes(7)) == 8  # p only
        assert commit([b"m", b"p", b"t"], b"\x00" + bytes(10)) == 3 * 11  # sent again
    finally:
        eng.close()


def test_a_small_batch_tells_the_engine_its_data_bytes_and_key_span(tmp_path: Path) -> None:
    """The hints an incoming batch gives the engine equal what the engine would count
    (values in order, values after greater keys, a removal), and the data is written."""
    from dvidctl.store import bulk

    engine = RocksEngine(tmp_path / "db", create=True)
    try:
        s = _store(engine)
        _incoming(s, 3)
        seen: list[WriteBatch] = []
        real = engine._write_wal

        def spy(batch: WriteBatch) -> None:
            seen.append(batch)
            real(batch)

        engine._write_wal = spy  # type: ignore[method-assign]
        values = [(f"k{i:03d}".encode() + b"\x00", b"\x00" + bytes([i]) * 40) for i in range(50)]
        batch = nodedelta.IncomingBatch(s, 3, 1)
        batch.put_many([(tk, digest(v), v) for tk, v in values[10:]])
        for tk, v in values[:10]:  # after greater keys: out of key order
            batch.put(tk, digest(v), v)
        batch.delete(b"b\x00")
        batch.commit()
        (wb,) = seen
        data_keys = [k for cf, k, _ in wb.ops if cf == CF_DATA]
        assert wb.data_span == (min(data_keys), max(data_keys))
        assert wb.data_bytes == bulk.data_value_bytes(wb.ops) == 50 * 41
        assert engine.written is not None and engine.written[0] <= min(data_keys)
        assert bytes(s.get(3, 1, b"k000\x00") or b"") == bytes([0]) * 40
    finally:
        engine.close()


def test_a_batch_changed_after_its_hints_were_given_drops_them() -> None:
    for change in (
        lambda b: b.put(CF_DATA, b"z", b"v"),
        lambda b: b.delete(CF_DATA, b"z"),
        lambda b: b.extend(WriteBatch([(CF_DATA, b"z", b"v")])),
    ):
        wb = WriteBatch([(CF_DATA, b"a", b"v")], data_bytes=1, data_span=(b"a", b"a"))
        change(wb)
        assert wb.data_bytes is None and wb.data_span is None
