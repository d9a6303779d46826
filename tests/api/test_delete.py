"""Deleting and renaming branches, tags and instances (issue #8, part 7).

Branches and tags: only names go; DVID never deletes nodes. Instances: the
record goes at once, the data keys stay (noted under ``deleted-inst/<iid>``)
until gc, and instance ids are never reused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dvidctl import Repository
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError
from dvidctl.store import metadata
from dvidctl.store.engine import CF_DATA
from dvidctl.store.keys import split_data_key
from tests.factories import commit_kv, repo_snapshot


@pytest.fixture
def repo(disk_repo: Repository) -> Repository:
    """master: base (committed) -> open head; kv holds a=1 at base."""
    disk_repo.new_instance("keyvalue", "kv")
    commit_kv(disk_repo, {"a": b"1"})
    return disk_repo


def _kv(repo: Repository, ref: str | None = None):  # type: ignore[no-untyped-def]
    return repo.node(ref).instance("kv")


def _work(repo: Repository, branch: str, items: dict[str, bytes]) -> str:
    """Write ``items`` at the leaf of ``branch`` and commit it; return the committed UUID."""
    _kv(repo, branch).put_many(items)
    return repo.commit(f"work on {branch}", ref=branch)[0].uuid


def _unchanged(repo: Repository, call, error: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    before = repo_snapshot(repo)
    with pytest.raises(error, match=match):
        call()
    assert repo_snapshot(repo) == before


# ------------------------------------------------------------------ branch -d
def test_mistyped_branch_can_be_deleted(repo: Repository, tmp_path: Path) -> None:
    repo.branch("Master")  # an empty open node: it holds no work
    leaf = repo.delete_branch("Master")
    assert "Master" not in repo.state.branches and leaf.uuid in repo.dag.by_uuid
    repo.close()
    with Repository.open(tmp_path) as again:
        assert sorted(again.state.branches) == [""]
        assert again.node(leaf.uuid).branch == "Master"  # the node stays, with its name


def test_current_branch_and_master_cannot_be_deleted(repo: Repository) -> None:
    repo.branch("dev")
    repo.checkout("dev")
    _unchanged(repo, lambda: repo.delete_branch("dev"), BadRequestError, "checked out")
    repo.checkout("master")
    _unchanged(repo, lambda: repo.delete_branch("master"), BadRequestError, "default branch")
    with pytest.raises(NotFoundError) as info:
        repo.delete_branch("nosuch")
    assert info.value.hint and "dev" in info.value.hint


def test_branch_with_unreached_work_needs_force(repo: Repository) -> None:
    repo.branch("dev")
    _work(repo, "dev", {"a": b"dev"})
    work = repo.node("dev~1").uuid
    _unchanged(repo, lambda: repo.delete_branch("dev"), BadRequestError, work[:10])
    leaf = repo.delete_branch("dev", force=True)
    assert "dev" not in repo.state.branches
    assert _kv(repo, work).get("a") == b"dev"  # still readable by UUID
    assert repo.node(leaf.uuid).branch == "dev"
    with pytest.raises(ConflictError, match="deleted branch"):
        repo.branch("dev")  # DVID keeps the name on the nodes: it cannot come back


def test_uncommitted_writes_count_as_unreached(repo: Repository) -> None:
    repo.branch("dev")
    _kv(repo, "dev").put("b", b"wip")  # type: ignore[attr-defined]
    _unchanged(repo, lambda: repo.delete_branch("dev"), BadRequestError, "no other branch")


def test_branch_reached_by_a_merge_or_a_tag_deletes_without_force(repo: Repository) -> None:
    repo.branch("merged")
    _work(repo, "merged", {"m": b"1"})
    repo.merge(["merged"])
    repo.delete_branch("merged")
    repo.commit("m")
    repo.branch("tagged")
    _work(repo, "tagged", {"t": b"1"})
    repo.tag("keep", "tagged~1")
    repo.delete_branch("tagged")
    assert sorted(repo.state.branches) == [""]


# ------------------------------------------------------------------ branch -m
def test_rename_relabels_nodes_and_persists(repo: Repository, tmp_path: Path) -> None:
    repo.branch("dev")
    _work(repo, "dev", {"a": b"dev"})
    first = repo.node("dev~1").uuid
    leaf = repo.rename_branch("dev", "feature")
    assert leaf.branch == "feature" and repo.node("feature~1").uuid == first
    assert repo.node(first).branch == "feature"  # DVID's Branch on each node follows
    with pytest.raises(NotFoundError):
        repo.node(":dev")
    repo.close()
    with Repository.open(tmp_path) as again:
        assert again.node("feature~1").uuid == first and "dev" not in again.state.branches
        assert again.node(first).branch == "feature"
        assert again.log(ref="feature")[0].branch == "feature"


def test_rename_current_branch_moves_head_and_commits_continue(
    repo: Repository, tmp_path: Path
) -> None:
    repo.branch("dev")
    repo.checkout("dev")
    repo.rename_branch("dev", "feature")
    assert repo.head_branch == "feature"
    locked, child = repo.commit("on feature")
    assert child.branch == "feature" and repo.node("feature") == child
    assert sorted(repo.state.branches) == ["", "feature"]
    repo.close()
    with Repository.open(tmp_path) as again:
        assert again.head_branch == "feature"


@pytest.mark.parametrize(
    ("old", "new", "error", "match"),
    [
        ("dev", "master", ConflictError, "already exists"),
        ("dev", "v1", ConflictError, "tag 'v1' already exists"),
        ("dev", "beef", BadRequestError, "UUID prefix"),
        ("dev", "bad name", BadRequestError, "not allowed"),
        ("master", "trunk", BadRequestError, "default branch"),
        ("nosuch", "x", NotFoundError, "no branch"),
    ],
)
def test_rename_refusals_change_nothing(
    repo: Repository, old: str, new: str, error: type[Exception], match: str
) -> None:
    repo.branch("dev")
    repo.tag("v1", "HEAD~1")
    _unchanged(repo, lambda: repo.rename_branch(old, new), error, match)


def test_failed_write_changes_nothing(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.branch("dev")
    _work(repo, "dev", {"a": b"dev"})
    repo.tag("v1", "HEAD~1")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(repo.engine, "write", fail)
    for call in (
        lambda: repo.rename_branch("dev", "feature"),
        lambda: repo.delete_branch("dev", force=True),
        lambda: repo.delete_tag("v1"),
        lambda: repo.delete_instance("kv"),
    ):
        _unchanged(repo, call, OSError, "disk full")


# -------------------------------------------------------------------- tag -d
def test_delete_tag(repo: Repository) -> None:
    node = repo.tag("v1", "HEAD~1")
    assert repo.delete_tag("v1") == node and repo.state.tags == {}
    assert node.uuid in repo.dag.by_uuid
    with pytest.raises(NotFoundError, match="no tag"):
        repo.delete_tag("v1")
    repo.branch("v1")  # the name is free for either kind


# ------------------------------------------------------------ delete instance
def test_delete_instance_then_recreate_starts_empty(repo: Repository, tmp_path: Path) -> None:
    old = repo.instance_record("kv")
    _kv(repo).put("b", b"2")  # type: ignore[attr-defined]
    deleted = repo.delete_instance("kv")
    assert deleted == old and "kv" not in repo.state.instances
    with pytest.raises(NotFoundError):
        repo.instance_record("kv")
    assert repo.state.repo.log[-1].endswith("Delete data instance 'kv' of type 'keyvalue'")
    assert repo.head.changes_by_instance() == {}  # the old keys are nobody's changes
    new = repo.new_instance("keyvalue", "kv")
    assert new.iid == old.iid + 1 == repo.state.counters["iid"]  # ids are never reused
    assert _kv(repo).keys() == []
    with pytest.raises(NotFoundError):
        _kv(repo, "HEAD~1").get("a")  # written under the old instance id
    # The old data stays until gc, which finds it through deleted-inst/<iid>.
    left = {split_data_key(k)[0] for k, _ in repo.engine.scan(CF_DATA, b"")}
    assert left == {old.iid}
    notes = metadata.deleted_instances(repo.engine)
    assert [(n["iid"], n["name"], n["typename"]) for n in notes] == [(old.iid, "kv", "keyvalue")]
    assert notes[0]["data_uuid"] == old.data_uuid and notes[0]["deleted"]
    repo.close()
    with Repository.open(tmp_path) as again:
        assert again.instance_record("kv").iid == new.iid
        assert again.state.counters["iid"] == new.iid
        assert again.node().instance("kv").keys() == []  # type: ignore[attr-defined]


def test_delete_unknown_instance(repo: Repository) -> None:
    _unchanged(repo, lambda: repo.delete_instance("nokv"), NotFoundError, "no data instance")


def test_merge_ignores_keys_of_a_deleted_instance(repo: Repository) -> None:
    repo.new_instance("keyvalue", "gone")
    repo.commit("with gone")
    repo.branch("side")
    repo.node("side").instance("gone").put("k", b"side")  # type: ignore[attr-defined]
    repo.commit("s", ref="side")
    repo.head.instance("gone").put("k", b"master")  # type: ignore[attr-defined]
    repo.commit("m")
    repo.delete_instance("gone")
    res = repo.merge(["side"])  # main-era code would report 'gone' keys as conflicts
    assert res.node is not None and res.resolved == 0
