"""Merges: eager conflict detection, strategies, refusals (api/merging.py, store/merge.py)."""

from __future__ import annotations

import pytest

from dvidctl import Repository
from dvidctl.errors import BadRequestError, ConflictError
from tests.factories import commit_kv, repo_snapshot

BASE = {"a": b"base-a", "b": b"base-b", "c": b"base-c", "d": b"base-d"}


def _kv(repo: Repository, ref: str | None = None) -> dict[str, bytes]:
    kv = repo.node(ref).instance("kv")
    return dict(kv.items())  # type: ignore[attr-defined]


@pytest.fixture
def repo(mem_repo: Repository) -> Repository:
    """master and dev forked from a committed base holding BASE."""
    mem_repo.new_instance("keyvalue", "kv")
    commit_kv(mem_repo, BASE, "base")
    mem_repo.branch("dev")
    return mem_repo


def _diverge(
    repo: Repository, ours: dict[str, bytes | None], theirs: dict[str, bytes | None]
) -> None:
    commit_kv(repo, ours, "ours")
    repo.checkout("dev")
    commit_kv(repo, theirs, "theirs")
    repo.checkout("master")


def test_fail_lists_every_conflict_and_changes_nothing(repo: Repository) -> None:
    repo.new_instance("keyvalue", "kv2")
    repo.head.instance("kv2").put("z", b"0")  # type: ignore[attr-defined]
    repo.commit("kv2 base")
    # dev forked before kv2 had data: z is added on dev, changed on master
    _diverge(
        repo, {"a": b"ours", "b": b"same", "c": None}, {"a": b"theirs", "b": b"same", "c": b"x"}
    )
    repo.checkout("dev")
    commit_kv(repo, {"z": b"dev"}, name="kv2")
    repo.checkout("master")
    commit_kv(repo, {"z": b"master"}, name="kv2")
    before = repo_snapshot(repo)
    with pytest.raises(ConflictError) as info:
        repo.merge(["dev"], "m")
    found = {(d["instance"], d["key"]) for d in info.value.details}
    assert found == {("kv", "a"), ("kv", "c"), ("kv2", "z")}
    sides = {d["key"]: d["sides"] for d in info.value.details}
    assert sides["a"] == [repo.node("master~1").uuid, repo.node("dev~1").uuid]
    assert "3 conflicting" in str(info.value) and info.value.hint
    assert repo_snapshot(repo) == before


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
def test_strategy_writes_resolution(repo: Repository, strategy: str) -> None:
    _diverge(
        repo, {"a": b"ours", "c": None, "d": b"o"}, {"a": b"theirs", "c": b"t", "b": b"dev-only"}
    )
    ours_uuid, theirs_uuid = repo.node("master~1").uuid, repo.node("dev~1").uuid
    leaf = repo.head.uuid
    res = repo.merge(["dev"], "merged", strategy=strategy)
    assert res.node is not None and res.node == repo.head and not res.node.locked
    assert res.parents == [ours_uuid, theirs_uuid] and res.resolved == 2
    assert [p.uuid for p in res.node.parents] == [ours_uuid, theirs_uuid]
    assert res.node.note == "merged" and res.node.branch == "master"
    assert leaf not in repo.dag.by_uuid  # the empty open head was replaced
    want = dict(BASE, b=b"dev-only", d=b"o")
    if strategy == "ours":
        want.update(a=b"ours")
        del want["c"]
    else:
        want.update(a=b"theirs", c=b"t")
    assert _kv(repo) == want
    kv = repo.head.instance("kv")
    for k in "abcdef":
        assert kv.get_or_none(k) == want.get(k)  # type: ignore[attr-defined]
    # the merge node can be written and committed like any other
    commit_kv(repo, {"e": b"after"})
    assert _kv(repo) == dict(want, e=b"after")


def test_same_change_on_both_sides_is_not_a_conflict(repo: Repository) -> None:
    _diverge(repo, {"a": b"same", "b": None}, {"a": b"same", "b": None})
    res = repo.merge(["dev"])
    assert res.resolved == 0
    assert _kv(repo) == {"a": b"same", "c": b"base-c", "d": b"base-d"}


def test_revert_to_base_on_one_side_is_not_a_conflict(repo: Repository) -> None:
    commit_kv(repo, {"a": b"ours"})
    repo.checkout("dev")
    commit_kv(repo, {"a": b"tmp", "b": None})
    commit_kv(repo, {"a": BASE["a"], "b": BASE["b"]})  # back to the base values
    repo.checkout("master")
    commit_kv(repo, {"b": b"ours-b"})
    repo.merge(["dev"])
    assert _kv(repo) == dict(BASE, a=b"ours", b=b"ours-b")


def test_delete_against_change_conflicts(repo: Repository) -> None:
    _diverge(repo, {"a": None}, {"a": b"changed"})
    with pytest.raises(ConflictError) as info:
        repo.merge(["dev"])
    assert [d["key"] for d in info.value.details] == ["a"]


def test_merge_refuses_uncommitted_changes(repo: Repository) -> None:
    _diverge(repo, {"a": b"o"}, {"b": b"t"})
    repo.head.instance("kv").put("x", b"dirty")  # type: ignore[attr-defined]
    before = repo_snapshot(repo)
    with pytest.raises(BadRequestError, match="uncommitted"):
        repo.merge(["dev"])
    assert repo_snapshot(repo) == before


def test_merge_refuses_detached_head_and_bad_args(repo: Repository) -> None:
    _diverge(repo, {"a": b"o"}, {"b": b"t"})
    with pytest.raises(BadRequestError):
        repo.merge([])
    with pytest.raises(BadRequestError):
        repo.merge(["dev"], strategy="octopus")
    repo.checkout("HEAD~1")
    with pytest.raises(BadRequestError, match="detached"):
        repo.merge(["dev"])


def test_merge_of_ancestor_is_up_to_date(repo: Repository) -> None:
    commit_kv(repo, {"a": b"o"})
    before = repo_snapshot(repo)
    for ref in ("dev", "master", "HEAD~1", repo.root_uuid[:8]):
        res = repo.merge([ref])
        assert res.up_to_date and res.node is None and res.parents == [repo.node("HEAD~1").uuid]
    assert repo_snapshot(repo) == before


def test_fast_forward_shape_merge_keeps_their_values(repo: Repository) -> None:
    repo.checkout("dev")
    commit_kv(repo, {"a": b"dev"})
    repo.checkout("master")
    res = repo.merge(["dev"])  # master's last locked node is an ancestor of dev's
    assert res.node is not None and len(res.parents) == 2
    assert _kv(repo)["a"] == b"dev"


def test_three_way_merge(repo: Repository) -> None:
    repo.branch("dev2", "HEAD~1")
    commit_kv(repo, {"m": b"master", "a": b"master-a"})
    repo.checkout("dev")
    commit_kv(repo, {"d1": b"dev", "b": b"dev-b", "c": b"dev-c"})
    repo.checkout("dev2")
    commit_kv(repo, {"d2": b"dev2", "b": b"dev2-b", "c": b"dev-c"})
    repo.checkout("master")
    with pytest.raises(ConflictError) as info:
        repo.merge(["dev", "dev2"])
    assert [(d["key"], len(d["sides"])) for d in info.value.details] == [("b", 2)]
    res = repo.merge(["dev", "dev2"], strategy="theirs")
    assert res.node is not None and len(res.node.parents) == 3
    want = dict(BASE, m=b"master", a=b"master-a", d1=b"dev", d2=b"dev2", c=b"dev-c")
    assert _kv(repo) == dict(want, b=b"dev2-b")  # theirs: the last other side that changed it


def test_three_way_merge_ours_keeps_first_parent(repo: Repository) -> None:
    repo.branch("dev2", "HEAD~1")
    commit_kv(repo, {"m": b"master"})
    for br in ("dev", "dev2"):
        repo.checkout(br)
        commit_kv(repo, {"b": br.encode()})
    repo.checkout("master")
    repo.merge(["dev", "dev2"], strategy="ours")
    assert _kv(repo)["b"] == BASE["b"]


def test_merge_then_merge_again_is_up_to_date(repo: Repository) -> None:
    _diverge(repo, {"a": b"o"}, {"b": b"t"})
    repo.merge(["dev"])
    repo.commit("after merge")
    assert repo.merge(["dev"]).up_to_date
    # dev merges master back: master's merge node contains dev's side already
    repo.checkout("dev")
    res = repo.merge(["master"])
    assert res.node is not None and _kv(repo, "dev") == _kv(repo, "master")


def test_delete_in_merge_node_of_resolved_key(repo: Repository) -> None:
    _diverge(repo, {"a": b"ours"}, {"a": b"theirs"})
    repo.merge(["dev"], strategy="ours")
    kv = repo.head.instance("kv")
    assert kv.delete("a") is True  # type: ignore[attr-defined]
    assert kv.get_or_none("a") is None  # type: ignore[attr-defined]
    repo.commit("deleted")
    assert "a" not in _kv(repo)


def test_merge_of_a_branch_and_its_own_fork_is_not_a_conflict(repo: Repository) -> None:
    """Merging fork (forked from dev) and dev (which moved on) must not pit dev against itself."""
    repo.checkout("dev")
    commit_kv(repo, {"a": b"dev-1"})
    repo.branch("fork")  # forks from dev's last commit
    commit_kv(repo, {"a": b"dev-2"})  # dev moves on and overwrites a
    repo.checkout("master")
    want_parents = [repo.node("master~1").uuid, repo.node("dev~1").uuid]
    res = repo.merge(["fork", "dev"])  # fork's last commit is an ancestor of dev's
    assert res.node is not None and res.parents == want_parents
    assert _kv(repo)["a"] == b"dev-2"


def test_merge_moves_instance_root_off_the_dropped_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dvidctl.api.repository import Repository

    with Repository.init(tmp_path) as repo:
        repo.commit("base")
        repo.branch("side")
        side = repo.node("side")
        repo.commit("s", ref="side")
        empty_head = repo.head.uuid
        repo.new_instance("keyvalue", "kv")  # created on master's empty open head
        res = repo.merge(["side"])
        assert res.node is not None and empty_head not in repo.dag.by_uuid
        assert repo.instance_record("kv").root_uuid == res.node.uuid
        assert side.uuid in repo.dag.by_uuid
    with Repository.open(tmp_path) as again:
        assert again.instance_record("kv").root_uuid == res.node.uuid


def test_merging_into_an_uncommitted_merge_adds_to_it(mem_repo) -> None:  # type: ignore[no-untyped-def]
    repo = mem_repo
    repo.new_instance("keyvalue", "kv")
    repo.commit("base")
    for name in ("a", "b"):
        repo.branch(f"side-{name}")  # a bare 'a' is hex: it reads as a UUID prefix
        repo.node(f"side-{name}").instance("kv").put(name, name.encode())
        repo.commit(name, ref=f"side-{name}")
    first = repo.merge(["side-a"])
    assert first.node is not None and len(first.parents) == 2
    first_uuid = first.node.uuid
    again = repo.merge(["side-a"])
    assert again.up_to_date and again.node is None
    assert repo.head.uuid == first_uuid  # nothing was replaced
    second = repo.merge(["side-b"])
    assert second.node is not None and len(second.parents) == 3  # a's merge was kept
    assert first_uuid not in repo.dag.by_uuid  # the empty pending merge was replaced
    kv = repo.head.instance("kv")
    assert kv.get("a") == b"a" and kv.get("b") == b"b"
