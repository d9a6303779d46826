"""Versioned reads and writes over a DAG (dvidctl/store/versioned.py)."""

from __future__ import annotations

import pytest

from dvidctl.errors import ConflictError, LockedNodeError, NotFoundError
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META
from dvidctl.store.keys import TOMBSTONE, data_key, digest
from dvidctl.store.versioned import VersionedStore
from tests.factories import lock, versioned_store, write

DIAMOND = [[1], [2, 1], [3, 1], [4, 2, 3]]


def _get(store: VersionedStore, vid: int, tk: bytes, iid: int = 1) -> bytes | None:
    got = store.get(vid, iid, tk)
    return None if got is None else bytes(got)


def _scan(
    store: VersionedStore, vid: int, start: bytes = b"", stop: bytes | None = None
) -> dict[bytes, bytes]:
    return {k: bytes(v) for k, v in store.scan(vid, 1, start, stop)}


def _delta(store: VersionedStore, vid: int) -> dict[bytes, bytes]:
    return {tk: d for _, tk, d in store.changes(vid)}


def test_read_through_ancestors_and_overwrite() -> None:
    s = versioned_store([[1], [2, 1], [3, 2]])
    write(s, 1, {b"a": b"1", b"b": b"1"})
    lock(s.dag, 1)
    write(s, 2, {b"b": b"2"})
    lock(s.dag, 2)
    write(s, 3, {b"c": b"3"})
    assert [_get(s, v, b"a") for v in (1, 2, 3)] == [b"1", b"1", b"1"]
    assert [_get(s, v, b"b") for v in (1, 2, 3)] == [b"1", b"2", b"2"]
    assert [_get(s, v, b"c") for v in (1, 2, 3)] == [None, None, b"3"]
    assert _scan(s, 3) == {b"a": b"1", b"b": b"2", b"c": b"3"}
    assert _scan(s, 1) == {b"a": b"1", b"b": b"1"}
    assert [None if x is None else bytes(x) for x in s.get_many(3, 1, [b"c", b"zz", b"a"])] == [
        b"3",
        None,
        b"1",
    ]


def test_tombstone_hides_value_below_only_from_descendants() -> None:
    s = versioned_store([[1], [2, 1], [3, 2]])
    write(s, 1, {b"k": b"v"})
    lock(s.dag, 1)
    write(s, 2, {b"k": None})
    lock(s.dag, 2)
    assert _get(s, 1, b"k") == b"v"
    assert _get(s, 2, b"k") is None and _get(s, 3, b"k") is None
    assert s.get_stored(2, 1, b"k") == TOMBSTONE
    assert list(s.scan_stored(3, 1, b"", None)) == [(b"k", TOMBSTONE)]
    assert _scan(s, 3) == {}
    assert _delta(s, 2) == {b"k": digest(TOMBSTONE)}
    write(s, 3, {b"k": b"again"})
    assert _get(s, 3, b"k") == b"again" and _get(s, 2, b"k") is None


def test_delete_of_key_created_in_open_node_leaves_no_trace() -> None:
    s = versioned_store([[1], [2, 1]])
    write(s, 1, {b"old": b"x"})
    lock(s.dag, 1)
    write(s, 2, {b"new": b"y"})
    assert s.has_changes(2)
    write(s, 2, {b"new": None})
    assert _get(s, 2, b"new") is None
    assert not s.has_changes(2) and _delta(s, 2) == {}
    assert s.engine.get(CF_DATA, data_key(1, b"new", 2)) is None
    # deleting something nobody ever wrote is a no-op too
    write(s, 2, {b"ghost": None})
    assert not s.has_changes(2)


def test_delete_over_a_tombstone_writes_nothing() -> None:
    s = versioned_store([[1], [2, 1], [3, 2]])
    write(s, 1, {b"k": b"v"})
    lock(s.dag, 1)
    write(s, 2, {b"k": None})
    lock(s.dag, 2)
    write(s, 3, {b"k": None})
    assert not s.has_changes(3)


def test_put_then_delete_of_inherited_key_in_open_node_is_a_tombstone() -> None:
    s = versioned_store([[1], [2, 1]])
    write(s, 1, {b"k": b"v"})
    lock(s.dag, 1)
    write(s, 2, {b"k": b"w"})
    write(s, 2, {b"k": None})
    assert _get(s, 2, b"k") is None and _delta(s, 2) == {b"k": digest(TOMBSTONE)}


def test_later_write_in_one_batch_wins() -> None:
    s = versioned_store([[1]])
    b = s.batch(1)
    b.put(1, b"k", b"first")
    b.delete(1, b"k")
    b.put(1, b"k", b"last")
    assert len(b) == 1
    b.commit()
    assert _get(s, 1, b"k") == b"last"


def test_delta_index_matches_data() -> None:
    s = versioned_store([[1], [2, 1]])
    write(s, 1, {b"a": b"1", b"b": b"2"})
    write(s, 1, {b"x": b"3"}, iid=2)
    assert _delta(s, 1) == {b"a": digest(b"\x001"), b"b": digest(b"\x002"), b"x": digest(b"\x003")}
    assert [(i, tk) for i, tk, _ in s.changes(1, 2)] == [(2, b"x")]
    assert not s.has_changes(2)
    for k, v in s.engine.scan(CF_DELTA, b""):
        assert len(v) == 16 and k[:4] == b"\x00\x00\x00\x01"


def test_instances_are_isolated() -> None:
    s = versioned_store([[1]])
    write(s, 1, {b"k": b"one"}, iid=1)
    write(s, 1, {b"k": b"two", b"\xff\xff": b"edge"}, iid=2)
    assert _get(s, 1, b"k") == b"one" and _get(s, 1, b"k", iid=2) == b"two"
    assert _scan(s, 1) == {b"k": b"one"}
    assert {k: bytes(v) for k, v in s.scan(1, 2)} == {b"k": b"two", b"\xff\xff": b"edge"}
    assert list(s.scan(1, 3)) == []


def test_writes_to_locked_or_unknown_node_are_refused() -> None:
    s = versioned_store([[1], [2, 1]])
    lock(s.dag, 1)
    b = s.batch(1)
    b.put(1, b"k", b"v")
    with pytest.raises(LockedNodeError):
        b.commit()
    with pytest.raises(LockedNodeError):
        write(s, 1, {b"k": None})
    with pytest.raises(NotFoundError):
        write(s, 99, {b"k": b"v"})
    assert list(s.engine.scan(CF_DATA, b"")) == [] and list(s.engine.scan(CF_DELTA, b"")) == []


def test_allow_locked_writes_a_committed_node_visibly() -> None:
    """DVID's fullwrite / admin writes: the normal path, the delta index shows them, and
    the node record counts them in the same atomic write."""
    s = versioned_store([[1], [2, 1]])
    write(s, 1, {b"a": b"1", b"gone": b"x"})
    lock(s.dag, 1)
    before = _delta(s, 1)
    updated = s.dag.node(1).updated
    b = s.batch(1, allow_locked=True)
    b.put(1, b"a", b"changed")
    b.put(1, b"new", b"n")
    b.delete(1, b"gone")  # the node's own key, nothing below: a tombstone, not a removal
    b.commit()
    assert _get(s, 1, b"a") == b"changed" and _get(s, 2, b"a") == b"changed"
    assert _get(s, 1, b"gone") is None
    after = _delta(s, 1)
    assert set(after) == {b"a", b"gone", b"new"} and after != before
    assert after[b"a"] == digest(s.get_stored(1, 1, b"a")) != before[b"a"]
    assert after[b"gone"] == digest(TOMBSTONE)
    rec = s.dag.node(1)
    assert rec.locked and rec.writes_after_commit == 1 and rec.updated > updated
    stored = dict(s.engine.scan(CF_META, b"node/"))
    assert b'"writes_after_commit":1' in stored[b"node/" + (1).to_bytes(4, "big")]
    write_to = s.batch(1, allow_locked=True)
    write_to.delete(1, b"never-there")  # deletes nothing: still one write batch
    write_to.commit()
    assert s.dag.node(1).writes_after_commit == 2
    assert b"never-there" not in _delta(s, 1)
    # an open node written with allow_locked is an ordinary write
    b = s.batch(2, allow_locked=True)
    b.put(1, b"c", b"c")
    b.commit()
    assert s.dag.node(2).writes_after_commit == 0
    assert b"writes_after_commit" not in dict(s.engine.scan(CF_META, b"node/")).get(
        b"node/" + (2).to_bytes(4, "big"), b""
    )
    # without the flag the rule holds, and unversioned writes (check_locked=False) are not counted
    with pytest.raises(LockedNodeError):
        write(s, 1, {b"a": b"again"})
    b = s.batch(1, check_locked=False)
    b.put(2, b"u", b"u")
    b.commit()
    assert s.dag.node(1).writes_after_commit == 2


# ---------------------------------------------------------------- merges
@pytest.fixture
def diamond() -> VersionedStore:
    s = versioned_store(DIAMOND)
    write(s, 1, {b"base": b"0", b"same": b"0", b"gone": b"0"})
    lock(s.dag, 1)
    write(s, 2, {b"k": b"left", b"same": b"x", b"only2": b"2", b"gone": None})
    write(s, 3, {b"k": b"right", b"same": b"x", b"only3": b"3"})
    lock(s.dag, 2, 3)
    return s


def test_unresolved_conflict_raises_on_read(diamond: VersionedStore) -> None:
    with pytest.raises(ConflictError) as info:
        diamond.get(4, 1, b"k")
    assert info.value.details == {"versions": [2, 3]}
    with pytest.raises(ConflictError):
        _scan(diamond, 4)


def test_merge_node_reads_without_conflict(diamond: VersionedStore) -> None:
    s = diamond
    assert _get(s, 4, b"same") == b"x"  # both sides wrote the same bytes
    assert _get(s, 4, b"only2") == b"2" and _get(s, 4, b"only3") == b"3"
    assert _get(s, 4, b"base") == b"0"
    assert _get(s, 4, b"gone") is None  # deleted on one side, untouched on the other
    assert _scan(s, 4, b"l", None) == {b"only2": b"2", b"only3": b"3", b"same": b"x"}


def test_tombstone_against_value_is_a_conflict() -> None:
    s = versioned_store(DIAMOND)
    write(s, 1, {b"k": b"0"})
    lock(s.dag, 1)
    write(s, 2, {b"k": None})
    write(s, 3, {b"k": b"1"})
    with pytest.raises(ConflictError):
        s.get(4, 1, b"k")


def test_resolution_in_merge_node_wins(diamond: VersionedStore) -> None:
    write(diamond, 4, {b"k": b"resolved"})
    assert _get(diamond, 4, b"k") == b"resolved"
    assert _scan(diamond, 4)[b"k"] == b"resolved"


def test_delete_of_conflicting_key_in_merge_node(diamond: VersionedStore) -> None:
    """Deleting a key whose parents disagree must write a tombstone, not raise."""
    write(diamond, 4, {b"k": b"resolved"})
    write(diamond, 4, {b"k": None})
    assert _get(diamond, 4, b"k") is None
    assert _delta(diamond, 4) == {b"k": digest(TOMBSTONE)}
    write(diamond, 4, {b"same": None})
    assert _get(diamond, 4, b"same") is None


def test_scan_resolves_every_key_in_range() -> None:
    """Type keys are prefix-free (here: 2 bytes); bounds never extend a type key."""
    s = versioned_store([[1], [2, 1], [3, 2], [4, 1]])
    keys = [bytes([c, c]) for c in b"abcdefgh"] + [b"\xff\x00", b"\xff\xff", b"a\xff"]
    write(s, 1, {k: b"1" + k for k in keys})
    lock(s.dag, 1)
    write(s, 2, {keys[1]: b"2", keys[3]: None, keys[-2]: None})
    lock(s.dag, 2)
    write(s, 3, {keys[3]: b"3", b"nw": b"3"})
    write(s, 4, {keys[0]: None})
    for vid in (1, 2, 3, 4):
        expect = {}
        for k in sorted(keys + [b"nw"]):
            v = _get(s, vid, k)
            if v is not None:
                expect[k] = v
        assert _scan(s, vid) == expect
        bounds = [(b"b", b"e"), (b"\xff", None), (b"dd", b"de"), (b"z", b"a"), (b"a\xff", b"b")]
        for lo, hi in bounds:
            want = {k: v for k, v in expect.items() if k >= lo and (hi is None or k < hi)}
            assert _scan(s, vid, lo, hi) == want
