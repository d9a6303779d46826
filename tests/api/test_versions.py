"""Version operations: commit, locked nodes, branch, checkout, tag, log (api/versions.py)."""

from __future__ import annotations

import re

import pytest

from dvidctl import Repository
from dvidctl.api import versions
from dvidctl.errors import BadRequestError, ConflictError, LockedNodeError
from dvidctl.store.engine import CF_DATA, CF_DELTA
from tests.factories import commit_kv, repo_snapshot


@pytest.fixture
def repo(mem_repo: Repository) -> Repository:
    mem_repo.new_instance("keyvalue", "kv")
    return mem_repo


# ------------------------------------------------------------------ commit
def test_fresh_repo(repo: Repository) -> None:
    head = repo.head
    assert head.uuid == repo.root_uuid and head.branch == "master" and not head.locked
    assert repo.head_branch == "master" and len(repo.dag) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", head.uuid)


def test_commit_locks_and_opens_child(repo: Repository) -> None:
    root = repo.head
    locked, child = repo.commit("first", log=["line one", "line two"])
    assert locked == root and locked.locked and locked.note == "first"
    assert [re.sub(r"^\S+  ", "", line) for line in locked.log] == ["line one", "line two"]
    assert not child.locked and child.parents == [locked] and locked.children == [child]
    assert child.branch == "master" and repo.head == child and repo.node("master") == child
    assert repo.state.counters["vid"] == 2


def test_commit_of_locked_node_refused(repo: Repository) -> None:
    repo.commit("c0")
    with pytest.raises(BadRequestError):
        repo.commit("again", ref="HEAD~1")


def test_lock_node_log_and_note(repo: Repository) -> None:
    vid = repo.head.vid
    versions.lock_node(repo, vid, "locked")
    assert repo.head.locked and repo.head.children == []
    with pytest.raises(BadRequestError):
        versions.lock_node(repo, vid)
    versions.append_log(repo, vid, ["after the lock"])  # allowed on locked nodes
    versions.set_note(repo, vid, "renamed")
    assert repo.head.note == "renamed" and repo.head.log[-1].endswith("  after the lock")
    child = versions.new_version(repo, vid)
    assert child.parents[0].vid == vid and repo.head == child
    with pytest.raises(ConflictError):
        versions.new_version(repo, vid)  # one child per branch
    with pytest.raises(BadRequestError):
        versions.new_version(repo, child.vid)  # open nodes get no children


# ----------------------------------------------------------- locked writes
def test_writes_to_locked_node_refused_for_keyvalue(repo: Repository) -> None:
    commit_kv(repo, {"a": b"1"})
    before = repo_snapshot(repo)
    old = repo.node("HEAD~1").instance("kv")
    with pytest.raises(LockedNodeError) as info:
        old.put("a", b"2")  # type: ignore[attr-defined]
    assert (
        info.value.hint
        and info.value.http_status == 400
        and isinstance(info.value, PermissionError)
    )
    with pytest.raises(LockedNodeError):
        old.put_many({"b": b"1", "c": b"2"})  # type: ignore[attr-defined]
    with pytest.raises(LockedNodeError):
        old.delete("a")  # type: ignore[attr-defined]
    with pytest.raises(LockedNodeError):
        old.delete_many(["a"])  # type: ignore[attr-defined]
    assert repo_snapshot(repo) == before
    assert old.get("a") == b"1"  # type: ignore[attr-defined]


def test_writes_to_locked_node_refused_via_raw_batch(repo: Repository) -> None:
    commit_kv(repo, {"a": b"1"})
    locked = repo.node("HEAD~1")
    before = repo_snapshot(repo)
    inst = locked.instance("kv")
    b = inst._batch()
    b.put(inst.iid, b"\xb1raw\x00", b"x")
    b.delete(inst.iid, b"\xb1a\x00")
    b.extra.put("meta", b"sneaky", b"x")
    with pytest.raises(LockedNodeError):
        b.commit()
    b2 = repo.store.batch(locked.vid)
    b2.put(99, b"anything", b"x")
    with pytest.raises(LockedNodeError):
        repo.store.apply(b2)
    assert repo_snapshot(repo) == before


def test_detached_head_at_locked_node_refuses_writes(repo: Repository) -> None:
    commit_kv(repo, {"a": b"1"})
    repo.checkout("HEAD~1")
    with pytest.raises(LockedNodeError):
        repo.head.instance("kv").put("a", b"2")  # type: ignore[attr-defined]


# ------------------------------------------------------------------ branch
def test_branch_from_last_locked_by_default(repo: Repository) -> None:
    c0 = commit_kv(repo, {"a": b"1"})
    repo.head.instance("kv").put("b", b"x")  # type: ignore[attr-defined]
    dev = repo.branch("dev", note="start dev")
    assert dev.branch == "dev" and dev.parents[0].uuid == c0 and not dev.locked
    assert dev.note == "start dev"
    assert repo.head_branch == "master"  # branch does not move HEAD
    assert repo.node("dev") == dev


def test_branch_from_ref(repo: Repository) -> None:
    c0 = commit_kv(repo, {"a": b"1"})
    commit_kv(repo, {"a": b"2"})
    dev = repo.branch("dev", c0[:6])
    assert dev.parents[0].uuid == c0
    assert dev.instance("kv").get("a") == b"1"  # type: ignore[attr-defined]


def test_branch_needs_a_committed_node(repo: Repository) -> None:
    with pytest.raises(BadRequestError, match="no committed node"):
        repo.branch("dev")
    repo.commit("c0")
    with pytest.raises(BadRequestError):
        repo.branch("dev", "HEAD")  # HEAD is open


@pytest.mark.parametrize(
    "bad", ["HEAD", "a/b", "", "-x", "x y", "a" * 129, "0123456789abcdef0123456789abcdef"]
)
def test_branch_name_rules(repo: Repository, bad: str) -> None:
    repo.commit("c0")
    with pytest.raises(BadRequestError):
        repo.branch(bad)
    assert list(repo.state.branches) == [""]


def test_branch_name_taken(repo: Repository) -> None:
    repo.commit("c0")
    repo.branch("dev")
    for name in ("dev", "master"):
        with pytest.raises(ConflictError):
            repo.branch(name)
    assert sorted(repo.state.branches) == ["", "dev"]


# ---------------------------------------------------------------- checkout
def test_checkout_branch_and_detached(repo: Repository) -> None:
    c0 = commit_kv(repo, {"a": b"1"})
    repo.branch("dev")
    node = repo.checkout("dev")
    assert node == repo.head and repo.head_branch == "dev"
    repo.checkout(c0[:7])
    assert repo.head_branch is None and repo.head_ref == c0 and repo.head.uuid == c0
    repo.checkout("master")
    assert repo.head_branch == "master"


def test_commit_on_detached_open_leaf_reattaches(repo: Repository) -> None:
    repo.commit("c0")
    leaf = repo.head.uuid
    repo.checkout(leaf)
    assert repo.head_branch is None
    locked, child = repo.commit("c1")
    assert locked.uuid == leaf and repo.head_branch == "master" and repo.head == child


# --------------------------------------------------------------------- tag
def test_tag_only_locked_nodes(repo: Repository) -> None:
    with pytest.raises(BadRequestError, match="only committed"):
        repo.tag("v0")
    c0 = commit_kv(repo, {"a": b"1"})
    t = repo.tag("v1", "HEAD~1")
    assert t.uuid == c0 and repo.node("v1").uuid == c0
    assert repo.node("v1").to_dict()["tags"] == ["v1"]
    with pytest.raises(ConflictError):
        repo.tag("v1", "HEAD~1")
    with pytest.raises(ConflictError):
        repo.tag("master", "HEAD~1")
    with pytest.raises(BadRequestError):
        repo.tag("bad/name", "HEAD~1")


# --------------------------------------------------------------------- log
def test_log_newest_first(repo: Repository) -> None:
    commit_kv(repo, {"a": b"1"})
    repo.branch("dev")
    commit_kv(repo, {"a": b"2"})
    all_nodes = repo.log()
    assert [n.vid for n in all_nodes] == sorted(repo.dag.nodes, reverse=True)
    dev_line = repo.log(ref="dev")
    assert [n.vid for n in dev_line] == [repo.node("dev").vid, repo.node("dev~1").vid]
    d = repo.head.to_dict()
    assert set(d) >= {
        "uuid",
        "version_id",
        "branch",
        "locked",
        "note",
        "parents",
        "children",
        "tags",
    }
    assert d["parents"] == [repo.node("HEAD~1").uuid]


def test_status_changes(repo: Repository) -> None:
    assert not repo.head.has_changes
    repo.head.instance("kv").put_many({"a": b"1", "b": b"2"})  # type: ignore[attr-defined]
    assert repo.head.has_changes and repo.head.changes_by_instance() == {"kv": 2}
    assert {k for k, _ in repo.engine.scan(CF_DELTA, b"")} and list(repo.engine.scan(CF_DATA, b""))


def test_locked_writes_view_changes_a_committed_node_and_says_so(tmp_path) -> None:
    """Node.with_locked_writes (DVID's fullwrite/admintoken): the write is durable, the
    node's delta listing shows it, and its record counts it across a reopen."""
    with Repository.init(tmp_path) as r:
        r.new_instance("keyvalue", "kv")
        r.head.instance("kv").put("a", b"1")
        committed, _ = r.commit("c")
        with pytest.raises(LockedNodeError):
            committed.instance("kv").put("a", b"2")
        before = list(r.store.changes(committed.vid))
        view = committed.with_locked_writes()
        assert view == committed and view.allow_locked_writes and not committed.allow_locked_writes
        view.instance("kv").put("a", b"2")
        assert list(r.store.changes(committed.vid)) != before
        vid = committed.vid
    with Repository.open(tmp_path) as r:
        node = r.node_by_vid(vid)
        assert node.locked and node.instance("kv").get("a") == b"2"
        assert node.to_dict()["writes_after_commit"] == 1
        assert r.head.to_dict()["writes_after_commit"] == 0
