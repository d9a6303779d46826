"""``VersionedStore.scan_ranges``: many ranges from one view, newest-first on a line of versions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvidctl.errors import ConflictError
from dvidctl.store.engine import KVEngine
from dvidctl.store.keys import TOMBSTONE
from dvidctl.store.versioned import VersionedStore
from tests.factories import lock, versioned_store, write

KEYS = [bytes([a, b]) for a in (1, 2, 3) for b in (0, 5, 255)]


def _expected(s: VersionedStore, vid: int, ranges: list[tuple[bytes, bytes]]) -> list:
    return [list(s.scan_stored(vid, 1, lo, hi)) for lo, hi in ranges]


def _ranges(data: st.DataObject) -> list[tuple[bytes, bytes]]:
    out = []
    for _ in range(data.draw(st.integers(1, 4))):
        a, b = sorted(
            data.draw(st.lists(st.sampled_from(KEYS + [b"\x00", b"\xff"]), min_size=2, max_size=2))
        )
        out.append((a, b))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_scan_stored_on_random_dags(data: st.DataObject) -> None:
    # A random DAG: each node has one parent, or two (a merge) sometimes.
    n = data.draw(st.integers(1, 7))
    spec: list[list[int]] = [[1]]
    for v in range(2, n + 1):
        parents = sorted(set(data.draw(st.lists(st.integers(1, v - 1), min_size=1, max_size=2))))
        spec.append([v, *parents])
    s = versioned_store(spec)
    for v in range(1, n + 1):
        items = data.draw(
            st.dictionaries(
                st.sampled_from(KEYS),
                st.one_of(st.none(), st.binary(min_size=1, max_size=3)),
                max_size=5,
            )
        )
        # Writes at a merge node must resolve every conflicting key first; write them all.
        if len(s.dag.node(v).parents) > 1:
            items = {**{k: b"m" for k in KEYS}, **items}
        write(s, v, items)
        lock(s.dag, v)
    ranges = _ranges(data)
    for v in range(1, n + 1):
        try:
            want = _expected(s, v, ranges)
        except ConflictError:
            with pytest.raises(ConflictError):
                s.scan_ranges(v, 1, ranges)
            continue
        assert s.scan_ranges(v, 1, ranges) == want


def test_line_of_versions_skips_older_and_other_branches(engine: KVEngine) -> None:
    # 1 - 2 - 3 (read here), and 4 branches off 2 with newer bytes for every key.
    s = versioned_store([[1], [2, 1], [3, 2], [4, 2]], engine)
    write(s, 1, {b"a": b"a1", b"b": b"b1", b"c": b"c1"})
    lock(s.dag, 1)
    write(s, 2, {b"a": b"a2", b"b": None})
    lock(s.dag, 2)
    write(s, 4, {b"a": b"a4", b"c": b"c4", b"d": b"d4"})
    write(s, 3, {b"c": b"c3"})
    assert s.dag.is_chain(3)
    got = s.scan_ranges(3, 1, [(b"a", b"c"), (b"c", b"e"), (b"x", b"z")])
    assert got == [[(b"a", b"\x00a2"), (b"b", TOMBSTONE)], [(b"c", b"\x00c3")], []]
    assert s.scan_ranges(4, 1, [(b"a", b"z")]) == [
        [(b"a", b"\x00a4"), (b"b", TOMBSTONE), (b"c", b"\x00c4"), (b"d", b"\x00d4")]
    ]


def test_one_view_for_all_ranges(engine: KVEngine) -> None:
    s = versioned_store([[1]], engine)
    write(s, 1, {b"a": b"1", b"m": b"1"})
    cur = engine.cursor("data")
    write(s, 1, {b"a": b"2", b"m": b"2", b"n": b"2"})
    # A cursor made before the write still sees the old data, after any seek.
    cur.seek(b"")
    seen = []
    while cur.valid():
        seen.append(cur.value())
        cur.next()
    assert seen == [b"\x001", b"\x001"]
    assert s.scan_ranges(1, 1, [(b"a", b"b"), (b"m", b"z")]) == [
        [(b"a", b"\x002")],
        [(b"m", b"\x002"), (b"n", b"\x002")],
    ]


def test_cursor_moves_both_ways(engine: KVEngine) -> None:
    s = versioned_store([[1]], engine)
    write(s, 1, {b"b": b"1", b"d": b"1"})
    cur = engine.cursor("data")
    cur.seek_for_prev(b"\x00\x00\x00\x01c")
    assert cur.valid() and cur.key()[4:5] == b"b"
    cur.prev()
    assert not cur.valid()
    cur.seek(b"\x00\x00\x00\x01c")
    assert cur.key()[4:5] == b"d"
    cur.next()
    assert not cur.valid()
