"""Streaming versioned batches (store/batch.py): same result as a held batch, less held."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dvidctl.errors import LockedNodeError
from dvidctl.store import bulk
from dvidctl.store.batch import StreamedValueError, VersionedBatch
from dvidctl.store.engine import KVEngine
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.rocks import RocksEngine
from dvidctl.store.versioned import VersionedStore
from tests.factories import engine_dump, lock, versioned_store, write

SPEC = [[1], [2, 1]]
BIG = 100_000


def _engines(tmp_path: Path) -> Iterator[tuple[KVEngine, KVEngine]]:
    """Pairs of like engines: one for a held batch, one for a streaming one."""
    yield MemoryEngine(), MemoryEngine()
    pair = []
    for name in ("held", "streamed"):
        e = RocksEngine(tmp_path / name, create=True)
        e.bulk_threshold = 250_000  # a few values stay in memory, the rest spill
        pair.append(e)
    yield pair[0], pair[1]


def _ops(b: VersionedBatch) -> None:
    """In key order mostly, with a value out of order, a rewrite, a delete and a re-put."""
    for i in range(12):
        b.put(1, b"k%03d" % i, bytes([i]) * BIG)
    b.put(1, b"a-first", b"out of order")  # held
    b.put(1, b"k003", b"rewritten")  # held, wins over the streamed one
    b.delete(1, b"k005")  # streamed, then deleted
    b.delete(1, b"k007")
    b.put(1, b"k007", b"back")  # delete then put again
    b.delete(1, b"old")  # a key of the parent: a tombstone
    b.put(2, b"other instance", b"x" * BIG)


def _run(store: VersionedStore, stream: bool, build: Callable[[VersionedBatch], None]) -> None:
    write(store, 1, {b"old": b"o", b"k001": b"was here"})
    lock(store.dag, 1)
    write(store, 2, {b"k002": b"mine before"})  # replaced in place
    with store.batch(2, stream=stream) as b:
        build(b)
        b.commit()


def test_streaming_batch_writes_what_a_held_one_writes(tmp_path: Path) -> None:
    for held_engine, streamed_engine in _engines(tmp_path):
        held, streamed = versioned_store(SPEC, held_engine), versioned_store(SPEC, streamed_engine)
        replaced = []
        for store, stream in ((held, False), (streamed, True)):
            engine = store.engine
            before = getattr(engine, "replaced_bytes", 0)
            _run(store, stream, _ops)
            replaced.append(getattr(engine, "replaced_bytes", 0) - before)
        assert engine_dump(held.engine) == engine_dump(streamed.engine)
        assert replaced[0] == replaced[1]
        assert bytes(streamed.get(2, 1, b"k003") or b"") == b"rewritten"
        assert streamed.get(2, 1, b"k005") is None and streamed.get(2, 1, b"old") is None
        held_engine.close()
        streamed_engine.close()


def test_values_in_key_order_are_not_held() -> None:
    store = versioned_store(SPEC)
    seen: list[VersionedBatch] = []
    real = store.apply

    def spy(batch: VersionedBatch) -> None:
        seen.append(batch)
        real(batch)

    store.apply = spy  # type: ignore[method-assign]
    _run(store, True, _ops)
    b = seen[-1]  # the streaming one (the two before set the scene)
    assert {tk for (_, tk) in b.values} == {b"a-first", b"k003", b"k005", b"k007", b"old"}
    assert len(b.streamed) == 12 + 1  # k000..k011 and the other instance's value
    assert len(b) == 12 + 1 + 2  # a-first and old are not streamed


def test_a_streaming_batch_cannot_be_read_back() -> None:
    store = versioned_store(SPEC)
    with store.batch(2, stream=True) as b:
        b.put(1, b"a", b"1")
        b.put(1, b"0", b"held")  # out of order
        assert b.holds(1, b"a") and b.holds(1, b"0") and not b.holds(1, b"z")
        assert bytes(b.queued(1, b"0") or b"") == b"held"
        assert b.queued(1, b"z") is None
        with pytest.raises(StreamedValueError):
            b.queued(1, b"a")
        with pytest.raises(StreamedValueError):
            store.payload_ranges(2, 1, [(b"", b"\xff")], through=b)
    held = store.batch(2)
    held.put(1, b"a", b"1")
    assert [
        [(tk, bytes(v)) for tk, v in r]
        for r in store.payload_ranges(2, 1, [(b"", b"\xff")], through=held)
    ] == [[(b"a", b"1")]]


def test_locked_node_is_refused_before_anything_streams(tmp_path: Path) -> None:
    engine = RocksEngine(tmp_path / "db", create=True)
    engine.bulk_threshold = 0
    store = versioned_store(SPEC, engine)
    lock(store.dag, 1)
    with pytest.raises(LockedNodeError):
        store.batch(1, stream=True)
    # The node is committed between the start and the commit: nothing is written.
    with store.batch(2, stream=True) as b:
        b.put(1, b"k", b"v" * BIG)
        assert list(bulk.ingest_dir(engine.path).iterdir())  # the values left memory
        lock(store.dag, 2)
        with pytest.raises(LockedNodeError):
            b.commit()
    assert not list(bulk.ingest_dir(engine.path).iterdir())
    assert store.get(2, 1, b"k") is None and not store.has_changes(2)
    engine.close()


def test_an_abandoned_streaming_batch_leaves_nothing(tmp_path: Path) -> None:
    engine = RocksEngine(tmp_path / "db", create=True)
    engine.bulk_threshold = 0
    store = versioned_store(SPEC, engine)
    with pytest.raises(RuntimeError), store.batch(2, stream=True) as b:
        b.put(1, b"k", b"v" * BIG)
        raise RuntimeError("the writer failed")
    assert not list(bulk.ingest_dir(engine.path).iterdir())
    assert store.get(2, 1, b"k") is None and not store.has_changes(2)
    engine.close()
