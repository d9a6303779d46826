"""Sync semantics between two in-memory repositories (LocalEndpoint on both ends, no HTTP):
instances by data UUID, unversioned data, tags, conflicts, snapshots, the incoming state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dvidctl import Repository
from dvidctl.api import receive
from dvidctl.api.exchange import repo_state
from dvidctl.api.versions import new_version
from dvidctl.errors import ConflictError, CorruptDataError, LockedNodeError
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch_from
from tests.factories import repo_snapshot


@pytest.fixture
def pair() -> Iterator[tuple[Repository, Repository]]:
    """A source with one committed node, and an empty copy of the same root."""
    a = Repository.memory()
    a.new_instance("keyvalue", "kv")
    a.head.instance("kv").put("k", b"1")
    a.commit("one")
    b = Repository.memory(root_uuid=a.root_uuid, incoming_root=True)
    yield a, b
    a.close()
    b.close()


def _fetch(into: Repository, source: Repository):  # type: ignore[no-untyped-def]
    return fetch_from(into, "origin", LocalEndpoint(source))


def test_fetch_between_memory_repositories(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    got = _fetch(b, a)
    assert got.stats.nodes == 2 and got.snapshots == [a.head.uuid]
    assert b.node("origin/master").instance("kv").get("k") == b"1"
    assert b.dag.root.locked and not b.dag.root.incoming
    assert _fetch(b, a).stats.nodes == 0  # the snapshot is current, the root the same


def test_a_node_changed_after_commit_on_both_sides_is_a_conflict(
    pair: tuple[Repository, Repository],
) -> None:
    a, b = pair
    _fetch(b, a)
    root = a.root_uuid
    a.node(root).with_locked_writes().instance("kv").put("x", b"a")
    b.node(root).with_locked_writes().instance("kv").put("x", b"b")
    with pytest.raises(ConflictError, match="different data on the two sides"):
        _fetch(b, a)


def test_instances_travel_by_data_uuid(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    _fetch(b, a)
    a.new_instance("keyvalue", "late")
    a.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
    a.head.instance("seg").reserve_labels(10)
    _fetch(b, a)
    assert b.instance_record("late").data_uuid == a.instance_record("late").data_uuid
    assert b.instance_record("seg").config == a.instance_record("seg").config
    # the receiver reserved more labels meanwhile: next_label keeps the larger value
    rec = b.instance_record("seg")
    b.state.instances["seg"] = type(rec)(
        **{**rec.to_dict(), "config": {**rec.config, "next_label": 50}}
    )
    _fetch(b, a)
    assert b.instance_record("seg").config["next_label"] == 50
    # an instance of the same name created separately is refused, nothing changes
    c = Repository.memory(root_uuid=a.root_uuid)
    c.new_instance("keyvalue", "late")
    before = repo_snapshot(c)
    with pytest.raises(ConflictError, match="different instances"):
        _fetch(c, a)
    assert repo_snapshot(c) == before
    c.close()


def test_an_instance_deleted_here_stays_deleted(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    a.new_instance("keyvalue", "other")
    a.head.instance("other").put("o", b"1")
    a.commit("two")
    _fetch(b, a)
    b.delete_instance("other")
    a.head.instance("other").put("o2", b"1")
    a.commit("three")
    _fetch(b, a)
    assert "other" not in b.state.instances
    assert b.node("origin/master~1").instance("kv").get("k") == b"1"


def test_unversioned_instances_are_mirrored_at_the_root(
    pair: tuple[Repository, Repository],
) -> None:
    a, b = pair
    a.new_instance("keyvalue", "meta", {"versioned": False})
    a.head.instance("meta").put("x", b"1")
    _fetch(b, a)
    assert b.head.instance("meta").get("x") == b"1"
    a.head.instance("meta").delete("x")
    a.head.instance("meta").put("y", b"2")
    got = _fetch(b, a)
    assert got.stats.deleted == 1 and b.head.instance("meta").keys() == ["y"]


def test_tags_whose_names_are_free_are_added(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    _fetch(b, a)
    b.tag("v2", b.root_uuid)  # a name taken here: kept as it is
    a.head.instance("kv").put("k", b"2")
    second, _ = a.commit("two")
    a.tag("v1", a.root_uuid)
    a.tag("v2", second.uuid)
    got = _fetch(b, a)
    assert got.tags == ["v1"] and b.resolve("v1") == b.resolve("v2") == b.dag.root.vid


def test_incoming_nodes_are_read_only_and_complete_only_when_digests_match(
    pair: tuple[Repository, Repository],
) -> None:
    a, b = pair
    info = repo_state(a)
    root = info.nodes[0]
    shared = receive.put_instances(b, info.instances)
    with pytest.raises(LockedNodeError, match="being received"):
        b.node(a.root_uuid).instance("kv").put("x", b"1")
    with pytest.raises(Exception, match="being received"):
        b.commit("no", ref=a.root_uuid)
    with pytest.raises(CorruptDataError, match="does not match the sender"):
        receive.complete_node(b, root, shared)  # nothing arrived yet
    assert b.dag.root.incoming and not b.dag.root.locked
    _fetch(b, a)
    assert not b.dag.root.incoming and b.dag.root.digests == a.dag.root.digests


def test_a_node_the_sender_is_still_receiving_waits(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    got = _fetch(b, a)
    assert got.stats.nodes == 2
    c = Repository.memory(root_uuid=a.root_uuid, incoming_root=True)
    got = _fetch(c, b)  # b's root is complete, its snapshot of a's head is not a source
    assert got.stats.nodes == 1 and got.snapshots == [] and len(c.dag) == 1
    c.close()


def test_a_snapshot_the_sender_dropped_is_removed(pair: tuple[Repository, Repository]) -> None:
    a, b = pair
    _fetch(b, a)
    empty_head = a.head.uuid
    other = new_version(a, a.dag.by_uuid[a.root_uuid], branch="other")
    other.instance("kv").put("o", b"1")
    a.commit("o", ref="other")
    receive.move_branch(a, "master", empty_head, a.node("other~1").uuid)  # drops the empty head
    got = _fetch(b, a)
    assert got.removed == [empty_head] and empty_head not in b.dag.by_uuid
    assert b.state.remote_refs["origin/master"] == a.node("other~1").uuid


def test_checkout_of_a_remote_branch_makes_a_local_one(
    pair: tuple[Repository, Repository],
) -> None:
    a, b = pair
    _fetch(b, a)
    side = a.branch("side", a.root_uuid)
    side.instance("kv").put("s", b"1")
    a.commit("side work", ref="side")
    _fetch(b, a)
    assert "side" not in b.state.branches and b.state.remote_refs["origin/side"]
    head = b.checkout("side")
    assert b.head_branch == "side" and not head.locked and not head.record.incoming
    assert head.parents[0].uuid == a.node("side~1").uuid
    assert head.instance("kv").get("s") == b"1"
    with pytest.raises(KeyError):
        b.checkout("nope")
