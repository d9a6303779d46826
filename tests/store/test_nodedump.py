"""A node's dump in runs (dvidctl/store/nodedump.py): what it reads, how, and where it stops."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from dvidctl.store import nodedelta, nodedump
from dvidctl.store.engine import CF_DATA, KVEngine, WriteBatch
from dvidctl.store.keys import data_key
from dvidctl.store.versioned import VersionedStore
from tests.factories import lock, versioned_store, write


class Reads:
    """Counts the point reads an engine is asked for (the scans are what is left)."""

    def __init__(self, engine: KVEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.points = 0
        inner = engine.multi_get

        def counted(cf: str, keys: Sequence[bytes]) -> list[bytes | None]:
            self.points += len(keys) if cf == CF_DATA else 0
            return inner(cf, keys)

        monkeypatch.setattr(engine, "multi_get", counted)


def _store(engine: KVEngine, n: int = 3000, size: int = 40) -> VersionedStore:
    """Node 1 writes n keys (of varied length), node 2 rewrites every 50th, node 3 one more."""
    rnd = random.Random(n)
    s = versioned_store([[1], [2, 1], [3, 2]], engine)
    keys = sorted({rnd.randbytes(rnd.randrange(1, 12)) for _ in range(n)})
    write(s, 1, {k: rnd.randbytes(size) for k in keys})
    lock(s.dag, 1)
    write(s, 2, {k: (None if i % 200 == 0 else b"two" * 9) for i, k in enumerate(keys[::50])})
    lock(s.dag, 2)
    write(s, 3, {keys[7]: b"three"})
    return s


def _plain(engine: KVEngine, vid: int, after: bytes | None = None) -> list[nodedump.Stored]:
    """The node's values through its listing and point reads, one by one."""
    listed = list(nodedelta.listing(engine, vid, 1, after))
    got = nodedelta.stored_at(engine, vid, 1, [tk for tk, _ in listed])
    return [(tk, d, v) for (tk, d), v in zip(listed, got, strict=True) if v is not None]


def _flat(runs: list[list[nodedump.Stored]]) -> list[nodedump.Stored]:
    assert all(runs), "no empty runs"
    return [v for run in runs for v in run]


@pytest.mark.parametrize("vid", [1, 2, 3])
def test_a_dump_is_the_nodes_listing_with_its_values(
    engine: KVEngine, monkeypatch: pytest.MonkeyPatch, vid: int
) -> None:
    _store(engine)
    want = _plain(engine, vid)
    after = want[len(want) // 2][0]
    want_after = _plain(engine, vid, after)
    reads = Reads(engine, monkeypatch)
    got = _flat(list(nodedump.stored_runs(engine, vid, 1)))
    assert got == want and got
    assert _flat(list(nodedump.stored_runs(engine, vid, 1, after))) == want_after
    if vid == 1:  # the root holds most of its range: scanned after the first read
        assert reads.points < len(got) // 10
    else:  # a few keys among other versions: point reads
        assert reads.points >= len(got)


def test_large_values_are_never_read_by_a_scan(
    engine: KVEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(engine, n=200, size=20_000)
    want = _plain(engine, 1)
    reads = Reads(engine, monkeypatch)
    assert _flat(list(nodedump.stored_runs(engine, 1, 1))) == want
    assert reads.points == len(want)


@pytest.mark.parametrize(
    ("max_values", "max_bytes"), [(1, None), (37, None), (None, 1), (None, 5000), (500, 9999)]
)
def test_batches_end_after_the_value_that_reaches_a_limit(
    engine: KVEngine, max_values: int | None, max_bytes: int | None
) -> None:
    _store(engine)
    want = _plain(engine, 1)
    batches: list[list[nodedump.Stored]] = []
    after = None
    while runs := list(nodedump.stored_runs(engine, 1, 1, after, max_values, max_bytes)):
        batches.append(_flat(runs))
        after = batches[-1][-1][0]
    assert [v for b in batches for v in b] == want
    for b in batches[:-1]:  # each full batch: the limit is reached at its last value only
        n, size = len(b), sum(len(v) for _, _, v in b)
        last = len(b[-1][2])
        assert (max_values is not None and n == max_values) or (
            max_bytes is not None and size >= max_bytes > size - last
        )


def test_a_value_gone_since_the_listing_is_left_out(engine: KVEngine) -> None:
    _store(engine, n=300)
    listed = list(nodedelta.listing(engine, 1, 1))
    wb = WriteBatch()
    gone = {listed[5][0], listed[100][0]}
    for tk in gone:
        wb.delete(CF_DATA, data_key(1, tk, 1))
    engine.write(wb)
    got = _flat(list(nodedump.stored_runs(engine, 1, 1)))
    assert [tk for tk, _, _ in got] == [tk for tk, _ in listed if tk not in gone]
    one = _flat(list(nodedump.stored_runs(engine, 1, 1, None, max_values=10)))
    assert len(one) == 10 and all(tk not in gone for tk, _, _ in one)
