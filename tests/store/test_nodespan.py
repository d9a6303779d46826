"""Spans (dvidctl/store/nodespan.py): several nodes' values of one instance in the receiver's key
order, read in one scan, cut at a batch's limits, resumed after any wire key, and written at
several incoming nodes by one batch."""

from __future__ import annotations

import random

import pytest

from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.store import nodedelta, nodespan
from dvidctl.store.engine import KVEngine
from dvidctl.store.keys import digest, u32
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.nodedump import Stored
from dvidctl.store.versioned import VersionedStore
from tests.factories import lock, versioned_store, write

KEYS = [b"k%05d" % i for i in range(600)]  # fixed length: prefix-free, as type keys are


def _store(engine: KVEngine) -> VersionedStore:
    """Node 1 writes every key, node 2 rewrites every 3rd (deleting every 30th), node 3
    every 5th, node 4 (not asked for in most tests) every 2nd."""
    rnd = random.Random(5)
    s = versioned_store([[1], [2, 1], [3, 2], [4, 3]], engine)
    write(s, 1, {k: rnd.randbytes(rnd.randrange(1, 300)) for k in KEYS})
    write(s, 2, {k: None if i % 30 == 0 else b"two%d" % i for i, k in enumerate(KEYS[::3])})
    write(s, 3, {k: b"three" * 20 for k in KEYS[::5]})
    write(s, 4, {k: b"four" for k in KEYS[::2]})
    lock(s.dag)
    return s


def _expected(engine: KVEngine, vids: list[int]) -> list[Stored]:
    """The nodes' own values through their listings, keyed ``tkey | position``, sorted."""
    out = []
    for pos, vid in enumerate(vids):
        listed = list(nodedelta.listing(engine, vid, 1))
        got = nodedelta.stored_at(engine, vid, 1, [tk for tk, _ in listed])
        for (tk, d), v in zip(listed, got, strict=True):
            assert v is not None and digest(v) == d
            out.append((tk + u32(pos), d, v))
    return sorted(out)


@pytest.mark.parametrize("vids", [[1, 2, 3], [3, 1, 2], [2, 3]])
def test_a_span_is_every_value_of_its_nodes_in_wire_key_order(
    engine: KVEngine, vids: list[int]
) -> None:
    """Positions follow the order asked in, whatever this side's version ids; other nodes'
    versions (node 4, and node 1 where it is not asked for) are left out; tombstones travel."""
    s = _store(engine)
    got = [item for run in nodespan.span_runs(s.engine, 1, vids) for item in run]
    assert got == _expected(s.engine, vids)
    assert [k for k, _, _ in got] == sorted(k for k, _, _ in got)
    assert any(v == b"\x01" for _, _, v in got) == (2 in vids)  # node 2's deletes


@pytest.mark.parametrize("vids", [[1, 2, 3], [3, 1, 2]])
@pytest.mark.parametrize("limit", [(1, None), (7, None), (None, 1), (None, 900), (5, 700)])
def test_batches_end_at_their_limit_and_resume_after_any_wire_key(
    engine: KVEngine, limit: tuple[int | None, int | None], vids: list[int]
) -> None:
    """Batch after batch (``after`` the last key of the one before, often inside one type
    key's versions) gives the whole span once; each batch ends after the value that brings
    the count or the bytes to its limit, as a receiver closes its batch."""
    s = _store(engine)
    max_values, max_bytes = limit
    after, got, batches = None, [], 0
    while True:
        batch = [i for run in nodespan.span_runs(s.engine, 1, vids, after, *limit) for i in run]
        if not batch:
            break
        batches += 1
        sizes = [len(v) for _, _, v in batch]
        full = (max_values is not None and len(batch) == max_values) or (
            max_bytes is not None and sum(sizes) >= max_bytes
        )
        if max_bytes is not None and len(batch) > 1:
            assert sum(sizes[:-1]) < max_bytes  # ended at the value that crossed it
        if max_values is not None:
            assert len(batch) <= max_values
        got += batch
        after = batch[-1][0]
        if not full:
            break
    assert got == _expected(s.engine, vids)
    assert batches > 3


def test_a_span_names_each_node_once() -> None:
    s = _store(MemoryEngine())
    with pytest.raises(BadRequestError, match="twice"):
        list(nodespan.span_runs(s.engine, 1, [1, 2, 1]))
    assert list(nodespan.span_runs(s.engine, 1, [])) == []


def _incoming(engine: KVEngine) -> VersionedStore:
    s = versioned_store([[1], [2, 1], [3, 2]], engine)
    for n in s.dag.nodes.values():
        n.incoming = True
    return s


def test_a_span_batch_writes_each_value_at_its_node(engine: KVEngine) -> None:
    """Data and delta entries of three nodes from one batch, in one write; what the sender's
    span gives, the receiver's nodes then list (the same entries, node by node)."""
    src = _store(MemoryEngine())
    items = [i for run in nodespan.span_runs(src.engine, 1, [1, 2, 3]) for i in run]
    dst = _incoming(engine)
    half = len(items) // 2
    for part in (items[:half], items[half:]):
        batch = nodespan.SpanBatch(dst, [1, 2, 3], 1)
        batch.put_many(part[:10])
        for wk, d, v in part[10:]:
            batch.put(wk, d, v)
        done = batch.commit()
        assert (done.puts, done.deletes) == (len(part), 0)
    for vid in (1, 2, 3):
        assert list(nodedelta.listing(dst.engine, vid, 1)) == list(
            nodedelta.listing(src.engine, vid, 1)
        )
        keys = [tk for tk, _ in nodedelta.listing(src.engine, vid, 1)]
        assert nodedelta.stored_at(dst.engine, vid, 1, keys) == nodedelta.stored_at(
            src.engine, vid, 1, keys
        )


def test_a_span_batch_refuses_what_a_span_cannot_hold(engine: KVEngine) -> None:
    """A damaged value drops the whole batch; no removals; only incoming nodes, distinct and
    in version order; a position past the span's nodes."""
    dst = _incoming(engine)
    src = _store(MemoryEngine())
    items = [i for run in nodespan.span_runs(src.engine, 1, [1, 2]) for i in run][:20]
    batch = nodespan.SpanBatch(dst, [1, 2], 1)
    bad = [*items[:5], (items[5][0], items[5][1], items[5][2] + b"x")]
    with pytest.raises(CorruptDataError, match="digest"):
        batch.put_many(bad)
    batch.commit()
    assert list(nodedelta.listing(dst.engine, 1, 1)) == []
    with pytest.raises(BadRequestError, match="removes nothing"):
        nodespan.SpanBatch(dst, [1, 2], 1).delete(b"k00001")
    with pytest.raises(BadRequestError, match="names no node"):
        nodespan.SpanBatch(dst, [1], 1).put_many([(b"k00009" + u32(3), *items[0][1:])])
    for vids in ([2, 1], [1, 1], []):
        with pytest.raises(BadRequestError, match="version order"):
            nodespan.SpanBatch(dst, vids, 1)
    dst.dag.node(2).incoming = False
    with pytest.raises(BadRequestError, match="not being received"):
        nodespan.SpanBatch(dst, [1, 2], 1)


@pytest.mark.parametrize("vids", [list(range(1, 81)), list(range(80, 0, -1))])
def test_a_key_of_many_versions_comes_in_bounded_runs(vids: list[int]) -> None:
    """One type key rewritten by 80 nodes: its versions come a scan step at a time, in
    either order of nodes, never all held at once."""
    s = versioned_store([[1]] + [[v, v - 1] for v in range(2, 81)])
    for v in range(1, 81):
        write(s, v, {b"k00001": b"v%02d" % v * 100, b"k00002": b"x"})
    lock(s.dag)
    runs = list(nodespan.span_runs(s.engine, 1, vids))
    assert max(map(len, runs)) <= 32 and sum(map(len, runs)) == 160
    got = [item for run in runs for item in run]
    assert got == _expected(s.engine, vids)
