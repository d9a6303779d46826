"""Many keys at once (VersionedBatch.put_many, DataStream.put_run): the per-key result."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dvidctl.store import gcpause
from dvidctl.store.batch import VersionedBatch
from dvidctl.store.engine import KVEngine
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.rocks import RocksEngine
from dvidctl.store.versioned import VersionedStore
from tests.factories import engine_dump, lock, versioned_store, write

SPEC = [[1], [2, 1]]
Pairs = list[tuple[bytes, bytes | None]]


def _engines(tmp_path: Path) -> Iterator[tuple[KVEngine, KVEngine]]:
    """Pairs of like engines: one written key by key, one with put_many."""
    yield MemoryEngine(), MemoryEngine()
    pair = []
    for name in ("each", "many"):
        e = RocksEngine(tmp_path / name, create=True)
        e.bulk_threshold = 20_000  # the larger runs go through table files
        pair.append(e)
    yield pair[0], pair[1]


def _keys(lo: int, hi: int) -> list[bytes]:
    return [b"\xbb" + i.to_bytes(8, "big") for i in range(lo, hi)]


def _history(store: VersionedStore) -> None:
    """Node 1 (committed) and node 2 already hold some of the keys the runs touch."""
    write(store, 1, {tk: b"old" + tk for tk in _keys(0, 300)})
    lock(store.dag, 1)
    write(store, 2, {tk: b"mine" + tk for tk in _keys(250, 350)})


def _runs() -> list[Pairs]:
    """Puts, deletes (of a parent's key, of the node's own, of a missing one), repeats."""
    first: Pairs = [(tk, b"new" * 40 + tk) for tk in _keys(100, 900)]
    first[10] = (first[10][0], None)  # the parent's value: a tombstone
    first[200] = (first[200][0], None)  # the node's own: removed
    first[700] = (first[700][0], None)  # nothing below: no trace
    again: Pairs = [(tk, b"again" + tk) for tk in _keys(880, 1200)]  # overlaps the first
    again.append((_keys(150, 151)[0], b"rewritten"))  # out of order, after its own put
    again.append((_keys(5000, 5001)[0], b"twice-1"))
    again.append((_keys(5000, 5001)[0], b"twice-2"))  # the later write of a key wins
    return [first, again]


def _each(b: VersionedBatch, iid: int, pairs: Pairs) -> None:
    for tk, v in pairs:
        if v is None:
            b.delete(iid, tk)
        else:
            b.put(iid, tk, v)


def _many(b: VersionedBatch, iid: int, pairs: Pairs) -> None:
    b.put_many(iid, [tk for tk, _ in pairs], [v for _, v in pairs])


def _apply(store: VersionedStore, stream: bool, how: Callable[..., None]) -> VersionedBatch:
    _history(store)
    with store.batch(2, stream=stream) as b:
        b.put(1, _keys(0, 1)[0], b"first")  # a key before the runs
        for pairs in _runs():
            how(b, 1, pairs)
        how(b, 2, [(tk, memoryview(b"other instance" + tk)) for tk in _keys(0, 50)])
        held = dict(b.values)
        streamed = dict(b.streamed)
        b.commit()
    b.values, b.streamed = held, streamed  # for the caller to compare
    return b


@pytest.mark.parametrize("stream", [False, True])
def test_put_many_writes_what_puts_one_by_one_write(tmp_path: Path, stream: bool) -> None:
    for e1, e2 in _engines(tmp_path / str(stream)):
        s1, s2 = versioned_store(SPEC, e1), versioned_store(SPEC, e2)
        b1, b2 = _apply(s1, stream, _each), _apply(s2, stream, _many)
        assert b1.values == b2.values and b1.streamed == b2.streamed
        if stream:  # the ordered run really streamed (the memory it saves)
            assert len(b2.streamed) > 1000
        assert engine_dump(e1) == engine_dump(e2)
        e1.close()
        e2.close()


def test_put_many_reads_back_through_the_batch() -> None:
    s = versioned_store(SPEC)
    _history(s)
    b = s.batch(2)
    tks = _keys(0, 400)
    b.put_many(1, tks, [None if i % 3 == 0 else b"v%d" % i for i in range(400)])
    assert b.holds(1, tks[1]) and b.queued(1, tks[1]) == b"v1"
    assert b.queued(1, tks[0]) is None and b.holds(1, tks[0])
    got = s.payload_ranges(2, 1, [(tks[0], tks[-1] + b"\x00")], through=b)[0]
    expect = {tk: b"v%d" % i for i, tk in enumerate(tks) if i % 3}
    assert {tk: bytes(v) for tk, v in got} == expect
    with pytest.raises(ValueError, match="as many payloads"):
        b.put_many(1, tks, [b"x"])


def test_put_run_refuses_keys_out_of_order(tmp_path: Path) -> None:
    engine = RocksEngine(tmp_path / "db", create=True)
    stream = engine.data_stream()
    stream.put_run([b"a", b"b"], [b"1", b"2"])
    assert (stream.first_key, stream.last_key, stream.count, stream.nbytes) == (b"a", b"b", 2, 2)
    for keys in ([b"b", b"c"], [b"c", b"c"], [b"d", b"c"]):
        with pytest.raises(ValueError, match="increasing order"):
            stream.put_run(keys, [b"x", b"y"])
    with pytest.raises(ValueError, match="as many values"):
        stream.put_run([b"x"], [])
    stream.put_run([], [])
    assert stream.count == 2
    stream.discard()
    engine.close()


def test_the_delta_walk_counts_the_bytes_point_lookups_count(tmp_path: Path) -> None:
    """A batch over _SEEN_SCAN keys finds the node's own keys by walking its delta entries."""
    engine = RocksEngine(tmp_path / "db", create=True)
    s = versioned_store(SPEC, engine)
    _history(s)
    write(s, 2, {b"\xaa" + b"x" * 8: b"before the span"}, iid=1)
    write(s, 2, {tk: b"3" for tk in _keys(0, 10)}, iid=3)  # another instance
    sizes = {(1, tk): 7 for tk in _keys(200, 6000)}
    sizes.update({(3, tk): 5 for tk in _keys(5, 20)})
    assert len(sizes) > VersionedStore._SEEN_SCAN
    walked = s._replaced_bytes(2, sizes)
    s._SEEN_SCAN = len(sizes)  # the same store, by point lookups
    assert s._replaced_bytes(2, sizes) == walked == 7 * 100 + 5 * 5
    engine.close()


def test_gc_pauses_nest_and_restore_the_collector() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        with gcpause.paused(False):
            assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()
