"""clone, fetch, pull and push between local repositories and a real server (uvicorn in a thread,
RocksDB on both sides), with every datatype over committed nodes, a branch and a merge."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvidctl import Repository
from dvidctl.errors import ConflictError, LockedNodeError, MergeConflictError
from dvidctl.server.runner import BackgroundServer
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.pull import pull
from dvidctl.sync.push import push
from dvidctl.sync.transfer import Options
from tests.sync.helpers import (
    assert_same_nodes,
    assert_same_reads,
    build_source,
    remote,
    served,
    server,
)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[BackgroundServer]:
    with server(tmp_path / "store") as s:
        yield s


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Repository]:
    with Repository.init(tmp_path / "src", alias="demo") as repo:
        build_source(repo)
        yield repo


def U(repo: Repository) -> dict[str, str]:  # noqa: N802
    """The UUIDs of build_source's nodes (as long as nothing new is committed on master)."""
    return {
        "c1": repo.node("master~3").uuid,
        "c2": repo.node("master~2").uuid,
        "c3": repo.node("master~1").uuid,
        "b1": repo.node("side~1").uuid,
    }


def _committed(repo: Repository) -> list[str]:
    return [n.uuid for n in repo.dag.nodes.values() if n.locked]


def _requests(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if part in r.getMessage()]


def test_push_creates_the_repository_then_clone_round_trips(
    src: Repository, srv: BackgroundServer, tmp_path: Path
) -> None:
    res = push(src, remote(srv, src.root_uuid))
    assert res.created_repo and res.stats.nodes == 4 and res.new == U(src)["c3"]
    push(src, remote(srv, src.root_uuid), "side")
    there = served(srv, src.root_uuid)
    assert there.root_uuid == src.root_uuid and there.alias == "demo"
    assert assert_same_nodes(src, there, _committed(src)) > 90
    assert_same_reads(src, there, U(src)["c3"])
    tips = {"": there.dag.by_uuid[U(src)["c3"]], "side": there.dag.by_uuid[U(src)["b1"]]}
    assert there.state.branches == tips

    got = clone(f"{srv.url}/{src.root_uuid[:8]}", tmp_path / "copy")
    assert got.branches == ["master", "side"] and got.fetch.stats.keys == res.stats.keys
    with Repository.open(tmp_path / "copy") as copy:
        assert assert_same_nodes(src, copy, _committed(src)) > 90
        assert_same_reads(src, copy, "master~1")
        assert_same_reads(copy, copy, "origin/master")
        assert copy.head_branch == "master" and not copy.head.locked
        assert copy.head.parents[0].uuid == U(src)["c3"]
        assert copy.node("side").parents[0].uuid == U(src)["b1"]
        assert copy.state.remote_refs == {
            "origin/master": U(src)["c3"],
            "origin/side": U(src)["b1"],
        }
        assert all(n.digests is not None for n in copy.dag.nodes.values() if n.locked)


def test_noop_push_fetch_and_pull_make_one_request_and_send_nothing(
    src: Repository, srv: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    push(src, remote(srv, src.root_uuid))
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    again = push(src, remote(srv, src.root_uuid))
    assert again.up_to_date and again.stats.requests == 1 and again.stats.up == 0
    got = fetch(src, remote(srv, src.root_uuid))
    assert (got.stats.requests, got.stats.keys, got.stats.nodes, got.stats.up) == (1, 0, 0, 0)
    assert got.stats.nodes_same == 4
    pulled = pull(src, remote(srv, src.root_uuid))
    assert pulled.action == "up-to-date" and pulled.fetch.stats.requests == 1
    assert (pulled.fetch.stats.keys, pulled.fetch.stats.up) == (0, 0)
    assert len(_requests(caplog, "/api/sync/")) == 3  # one state request each


def test_a_node_both_sides_hold_is_not_listed(
    src: Repository, srv: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    push(src, remote(srv, src.root_uuid))
    src.head.instance("kv").put("new", b"1")
    new, _ = src.commit("c4")
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    res = push(src, remote(srv, src.root_uuid))
    assert (res.stats.nodes, res.stats.nodes_same, res.stats.keys) == (1, 4, 1)
    listed = _requests(caplog, "/keys?")
    assert listed == []  # the new node was created there: nothing to list on the server
    batches = _requests(caplog, "/batch?")
    assert len(batches) == 1 and new.uuid in batches[0]
    assert assert_same_nodes(src, served(srv, src.root_uuid), [new.uuid]) == 1


def test_fetch_takes_snapshots_of_open_nodes_and_refreshes_them(
    src: Repository, srv: BackgroundServer, tmp_path: Path
) -> None:
    push(src, remote(srv, src.root_uuid))
    there = served(srv, src.root_uuid)
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
    # A user of the server opens a node after the pushed tip and writes there.
    work = there.node("master").instance("kv")
    with pytest.raises(LockedNodeError):
        work.put("x", b"1")
    from dvidctl.api.versions import new_version

    head = new_version(there, there.state.branches[""])
    head.instance("kv").put("x", b"1")
    head.instance("kv").put("k000", b"edited")
    with Repository.open(tmp_path / "copy") as copy:
        got = fetch(copy, remote(srv, src.root_uuid))
        assert got.snapshots == [head.uuid] and got.refs["origin/master"] == head.uuid
        snap = copy.node("origin/master")
        assert snap.record.incoming and not snap.locked
        assert snap.instance("kv").get("x") == b"1"
        with pytest.raises(LockedNodeError, match="being received"):
            snap.instance("kv").put("y", b"2")
        # Not written there since: the snapshot is current, one request and nothing listed.
        again = fetch(copy, remote(srv, src.root_uuid))
        assert (again.stats.requests, again.stats.nodes, again.stats.same) == (1, 0, 0)
        # More writes there, one of them undoing a key: the next fetch mirrors them.
        head.instance("kv").delete("x")
        head.instance("kv").put("z", b"3")
        got = fetch(copy, remote(srv, src.root_uuid))
        assert got.stats.deleted == 1 and got.stats.keys == 1
        assert copy.node("origin/master").instance("kv").get_or_none("x") is None
        assert_same_nodes(there, copy, [head.uuid])
        # Committed there: the snapshot becomes a complete committed node here.
        there.commit("server work", ref=head.uuid)
        got = fetch(copy, remote(srv, src.root_uuid))
        rec = copy.dag.node(copy.dag.by_uuid[head.uuid])
        assert rec.locked and not rec.incoming and rec.note == "server work"
        assert rec.digests == there.dag.node(there.dag.by_uuid[head.uuid]).digests
        assert got.stats.keys == 0  # nothing new: only the completion


def test_pull_fast_forwards_and_push_refuses_a_non_fast_forward(
    src: Repository, srv: BackgroundServer, tmp_path: Path
) -> None:
    push(src, remote(srv, src.root_uuid))
    url = f"{srv.url}/{src.root_uuid}"
    clone(url, tmp_path / "a")
    clone(url, tmp_path / "b")
    with Repository.open(tmp_path / "a") as a, Repository.open(tmp_path / "b") as b:
        b.head.instance("kv").put("from-b", b"1")
        b_tip, _ = b.commit("b work")
        push(b, remote(srv, src.root_uuid))
        a.head.instance("kv").put("from-a", b"1")
        a.commit("a work")
        before = served(srv, src.root_uuid).state.branches[""]
        with pytest.raises(ConflictError, match="not a fast-forward"):
            push(a, remote(srv, src.root_uuid))
        assert served(srv, src.root_uuid).state.branches[""] == before
        # src has no new commit of its own: pulling fast-forwards it.
        res = pull(src, remote(srv, src.root_uuid))
        assert res.action == "fast-forward"
        assert src.head.parents[0].uuid == b_tip.uuid and not src.head.locked
        assert src.head.instance("kv").get("from-b") == b"1"
        # a has its own commit: pulling merges, then its push goes through.
        res = pull(a, remote(srv, src.root_uuid))
        assert res.action == "merge" and a.head.instance("kv").get("from-b") == b"1"
        merge_tip, _ = a.commit("merged")
        pushed = push(a, remote(srv, src.root_uuid))
        assert pushed.new == merge_tip.uuid and pushed.stats.nodes == 2
        assert pull(b, remote(srv, src.root_uuid)).action == "fast-forward"
        assert_same_nodes(a, b, _committed(a))


def test_pull_with_conflicts_lists_them_and_changes_no_branch(
    src: Repository, srv: BackgroundServer, tmp_path: Path
) -> None:
    push(src, remote(srv, src.root_uuid))
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "b")
    with Repository.open(tmp_path / "b") as b:
        b.head.instance("kv").put("k005", b"theirs")
        b.commit("b")
        push(b, remote(srv, src.root_uuid))
    src.head.instance("kv").put("k005", b"ours")
    src.commit("ours")
    leaf = src.state.branches[""]
    with pytest.raises(MergeConflictError) as exc:
        pull(src, remote(srv, src.root_uuid))
    assert [d["key"] for d in exc.value.details] == ["k005"]
    assert src.state.branches[""] == leaf and src.state.remote_refs["origin/master"]
    res = pull(src, remote(srv, src.root_uuid), strategy="theirs")
    assert res.action == "merge" and src.head.instance("kv").get("k005") == b"theirs"


def test_push_refuses_a_remote_head_with_uncommitted_writes(
    src: Repository, srv: BackgroundServer
) -> None:
    push(src, remote(srv, src.root_uuid))
    there = served(srv, src.root_uuid)
    from dvidctl.api.versions import new_version

    new_version(there, there.state.branches[""]).instance("kv").put("w", b"1")
    src.head.instance("kv").put("mine", b"1")
    src.commit("mine")
    with pytest.raises(ConflictError, match="uncommitted changes"):
        push(src, remote(srv, src.root_uuid))


def test_push_replaces_an_empty_remote_head(src: Repository, srv: BackgroundServer) -> None:
    push(src, remote(srv, src.root_uuid))
    there = served(srv, src.root_uuid)
    from dvidctl.api.versions import new_version

    empty = new_version(there, there.state.branches[""]).uuid
    src.head.instance("kv").put("mine", b"1")
    tip, _ = src.commit("mine")
    res = push(src, remote(srv, src.root_uuid))
    assert res.dropped == empty and empty not in there.dag.by_uuid
    assert there.state.branches[""] == there.dag.by_uuid[tip.uuid]


def test_remote_tracking_refs_read_in_place(src: Repository, srv: BackgroundServer) -> None:
    push(src, remote(srv, src.root_uuid))
    push(src, remote(srv, src.root_uuid), "side")
    assert src.resolve("origin/side") == src.resolve("side~1")
    assert [n.uuid for n in src.log(all_branches=False, ref="origin/master")][0] == U(src)["c3"]
    assert src.diff("origin/master", "origin/side")["kv"]["changed"]
    with pytest.raises(KeyError, match="no remote-tracking ref"):
        src.resolve("origin/nope")


def test_a_committed_node_written_after_commit_is_sent_again(
    src: Repository, srv: BackgroundServer
) -> None:
    push(src, remote(srv, src.root_uuid))
    c2 = src.node(U(src)["c2"]).with_locked_writes()
    c2.instance("kv").put("late", b"1")
    assert src.dag.node(c2.vid).digests is None and src.dag.node(c2.vid).writes_after_commit == 1
    src.head.instance("kv").put("k", b"v")
    src.commit("c4")
    res = push(src, remote(srv, src.root_uuid))
    assert res.stats.nodes == 2 and res.stats.keys == 2
    assert_same_nodes(src, served(srv, src.root_uuid), [c2.uuid])


def test_several_streams_move_what_one_stream_moves_and_count_it_the_same(
    src: Repository, srv: BackgroundServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Units of several nodes on 3 streams at once (batches of 4 values, so that every
    node's units take several requests): the same keys, nodes and counters as one stream."""
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    one, three = Options(batch_values=4, streams=1), Options(batch_values=4, streams=3)
    pushed = push(src, remote(srv, src.root_uuid), options=three)
    there = served(srv, src.root_uuid)
    assert assert_same_nodes(src, there, _committed(src)) > 90
    got, switches = {}, {}
    for name, opts in (("one", one), ("three", three)):
        caplog.clear()
        got[name] = clone(f"{srv.url}/{src.root_uuid}", tmp_path / name, options=opts).fetch.stats
        with Repository.open(tmp_path / name) as copy:
            assert assert_same_nodes(src, copy, _committed(src)) > 90
            assert all(not n.incoming for n in copy.dag.nodes.values())
        # Each unit (a span of an instance's new nodes, or one node's dump) is read in
        # several requests: one stream reads a unit's requests back to back, several
        # interleave them.
        reads = [m for m in _requests(caplog, "/api/sync/") if "/dump?" in m or "/span?" in m]
        units = [re.sub(r"&after=[0-9a-f]*", "", m.split("/api/sync/")[1].split(" ")[0])
                 for m in reads]  # fmt: skip
        changes = sum(a != b for a, b in zip(units[:-1], units[1:], strict=True))
        switches[name] = changes - (len(set(units)) - 1)
    a, b = got["one"], got["three"]
    assert (a.keys, a.bytes, a.nodes, a.batches, a.requests) == (
        b.keys, b.bytes, b.nodes, b.batches, b.requests,
    )  # fmt: skip
    assert abs(a.down - b.down) < 100  # the label lease each clone takes: other numbers
    assert b.keys == pushed.stats.keys and b.batches > 3 * 4
    assert switches["one"] == 0 and switches["three"] > 0, switches
