"""Version references (dvidctl/api/refs.py): every form a node can be named by."""

from __future__ import annotations

import pytest

from dvidctl import Repository
from dvidctl.api.refs import branch_names
from dvidctl.errors import AmbiguousRefError, BadRequestError, NotFoundError

ROOT = "ab" + "0" * 30
DEV = "ab1" + "0" * 29


@pytest.fixture
def repo() -> Repository:
    """master: c0 (root, ROOT) - c1 - c2 - c3 (open, HEAD); dev: c1 -> DEV (open); tag v1 = c1.

    The commits get random UUIDs; one starting with "ab" would make the prefix
    tests flaky (about 1 run in 1,400), so such a draw is made again.
    """
    while True:
        r = Repository.memory(root_uuid=ROOT)
        for i in range(3):
            r.commit(f"c{i}")
        if not any(u.startswith("ab") for u in _master(r)[1:]):
            break
    r.tag("v1", "HEAD~2")
    r.branch("dev", "HEAD~2", uuid=DEV)
    return r


def _master(repo: Repository) -> list[str]:
    """UUIDs of master from root to leaf."""
    return [repo.dag.node(v).uuid for v in sorted(repo.dag.nodes) if repo.dag.node(v).branch == ""]


def test_head_and_tilde(repo: Repository) -> None:
    c0, c1, c2, c3 = _master(repo)
    assert repo.node("HEAD").uuid == c3 == repo.head.uuid
    assert repo.node("HEAD~1").uuid == c2
    assert repo.node("HEAD~2").uuid == c1
    assert repo.node("HEAD~3").uuid == c0 == ROOT
    assert repo.node("HEAD~").uuid == c2 and repo.node("HEAD^").uuid == c2
    assert repo.node("HEAD~1~1").uuid == c1 and repo.node("HEAD^^").uuid == c1
    assert repo.node("HEAD~0").uuid == c3


def test_walk_past_root(repo: Repository) -> None:
    with pytest.raises(NotFoundError, match="past the root"):
        repo.node("HEAD~4")


def test_branch_names_and_master(repo: Repository) -> None:
    c0, c1, c2, c3 = _master(repo)
    assert repo.node("master").uuid == c3
    assert repo.node("master~1").uuid == c2
    assert repo.node("dev").uuid == DEV
    assert repo.node("dev~1").uuid == c1  # no parent on dev: the last parent
    assert branch_names(repo) == ["master", "dev"]


def test_tag(repo: Repository) -> None:
    assert repo.node("v1").uuid == _master(repo)[1]
    assert repo.node("v1~1").uuid == ROOT


def test_uuid_prefixes(repo: Repository) -> None:
    for u in _master(repo)[1:]:
        assert repo.node(u).uuid == u
        assert repo.node(u[:8]).uuid == u
    assert repo.node("ab0").uuid == ROOT and repo.node("ab1").uuid == DEV
    assert repo.node(ROOT).uuid == ROOT


def test_ambiguous_prefix_lists_candidates(repo: Repository) -> None:
    with pytest.raises(AmbiguousRefError) as info:
        repo.node("ab")
    assert ROOT[:12] in str(info.value) and DEV[:12] in str(info.value)
    assert info.value.hint and isinstance(info.value, BadRequestError)


def test_unknown_ref_names_branches_and_tags(repo: Repository) -> None:
    with pytest.raises(NotFoundError) as info:
        repo.node("nosuchthing")
    assert info.value.hint is not None
    assert "master" in info.value.hint and "dev" in info.value.hint and "v1" in info.value.hint
    assert isinstance(info.value, KeyError)


def test_prefix_colon_branch(repo: Repository) -> None:
    assert repo.node(f"{ROOT[:4]}:dev").uuid == DEV
    assert repo.node(f"{ROOT[:3]}:master").uuid == _master(repo)[-1]
    assert repo.node(":dev").uuid == DEV
    assert repo.node(":master").uuid == _master(repo)[-1]
    assert repo.node(":").uuid == _master(repo)[-1]  # DVID: empty branch is master
    assert repo.node(":dev~1").uuid == _master(repo)[1]


def test_prefix_colon_branch_errors(repo: Repository) -> None:
    with pytest.raises(NotFoundError) as info:
        repo.node(":nobranch")
    assert info.value.hint and "dev" in info.value.hint
    with pytest.raises(NotFoundError):
        repo.node("ffff:dev")  # the prefix must name a node
    with pytest.raises(AmbiguousRefError):
        repo.node("ab:dev")


@pytest.mark.parametrize("bad", ["a:b:c", "::", "ab0:dev:x"])
def test_too_many_colons(repo: Repository, bad: str) -> None:
    with pytest.raises(BadRequestError, match="bad UUID specification"):
        repo.node(bad)


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_ref(repo: Repository, bad: str) -> None:
    with pytest.raises(BadRequestError):
        repo.node(bad)


def test_detached_head(repo: Repository) -> None:
    c1 = _master(repo)[1]
    repo.checkout(c1[:6])
    assert repo.head_branch is None and repo.head_ref == c1
    assert repo.node("HEAD").uuid == c1 and repo.node("HEAD~1").uuid == ROOT
    repo.checkout("dev")
    assert repo.head_branch == "dev" and repo.head.uuid == DEV


def test_resolution_order_branch_before_tag_and_uuid() -> None:
    r = Repository.memory(root_uuid="beef" + "0" * 28)
    r.commit("c0")
    r.branch("beef")  # a branch named like a UUID prefix wins over the prefix
    assert r.node("beef").branch == "beef"
    assert r.node("beef0").uuid == r.root_uuid
