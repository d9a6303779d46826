"""Version references (dvidctl/api/refs.py): every form a node can be named by."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvidctl import Repository
from dvidctl.api import versions
from dvidctl.api.refs import branch_names
from dvidctl.errors import (
    AmbiguousRefError,
    BadRequestError,
    ConflictError,
    CorruptDataError,
    NotFoundError,
)
from dvidctl.store import metadata
from dvidctl.store.engine import WriteBatch

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


# ------------------------------------------------- one namespace (issue #8, part 4)
def test_branch_and_tag_share_one_namespace(repo: Repository) -> None:
    repo.tag("t1", "HEAD~1")
    with pytest.raises(ConflictError, match="tag 't1' already exists") as info:
        repo.branch("t1")  # main accepted this, and --node t1 then meant the branch
    assert info.value.hint and "tag -d t1" in info.value.hint
    with pytest.raises(ConflictError, match="branch 'dev' already exists"):
        repo.tag("dev", "HEAD~1")
    with pytest.raises(ConflictError, match="branch 'master' already exists"):
        repo.tag("master", "HEAD~1")
    assert "t1" not in repo.state.branches and repo.node("t1").uuid == _master(repo)[2]


@pytest.mark.parametrize("name", ["7f3c", "0bf5", "abc", "1", "2024", "deadbeef"])
def test_hex_only_names_refused(repo: Repository, name: str) -> None:
    """A hex-only name reads as a UUID prefix: 'log 7f3c' must keep meaning the node."""
    before = (dict(repo.state.branches), dict(repo.state.tags), len(repo.dag))
    with pytest.raises(BadRequestError, match="reads as a UUID prefix") as info:
        repo.branch(name)
    assert info.value.hint and f"branch-{name}" in info.value.hint
    with pytest.raises(BadRequestError, match="reads as a UUID prefix"):
        repo.tag(name, "HEAD~1")
    assert (dict(repo.state.branches), dict(repo.state.tags), len(repo.dag)) == before


@pytest.mark.parametrize("name", ["ABC", "7f3g", "v7f3c", "b-0bf5", "1.0", "cafe_"])
def test_names_with_a_non_hex_character_allowed(repo: Repository, name: str) -> None:
    repo.branch(name)
    assert repo.node(name).branch == name


def _legacy_hex_branch(name: str) -> Repository:
    """A repository whose root UUID starts with ``name`` and holds branch ``name``.

    dvidctl no longer creates such a branch from the CLI; DVID clients can over
    HTTP (``hex_ok``), and repositories made before the rule may hold one.
    """
    r = Repository.memory(root_uuid=name + "0" * (32 - len(name)))
    r.commit("c0")
    versions.new_version(r, r.dag.root.vid, branch=name, hex_ok=True)
    return r


def test_name_that_is_also_a_uuid_prefix_is_ambiguous() -> None:
    r = _legacy_hex_branch("beef")
    with pytest.raises(AmbiguousRefError) as info:
        r.node("beef")  # main silently took the branch
    msg = str(info.value)
    assert "branch beef" in msg and f"node {r.root_uuid[:12]}" in msg
    assert info.value.hint and "':beef' names the branch" in info.value.hint
    assert r.node(":beef").branch == "beef"  # DVID's form always names the branch
    assert r.node("beef0").uuid == r.root_uuid  # more digits name the node
    with pytest.raises(AmbiguousRefError):
        r.checkout("beef")
    r.checkout(":beef")
    assert r.head_branch == "beef"


def test_tag_and_branch_of_one_name_made_before_the_rule_are_ambiguous(
    repo: Repository,
) -> None:
    wb = WriteBatch()
    metadata.put_tag(wb, "dev", repo.resolve("HEAD~1"))  # as main allowed: tag, then branch
    repo.engine.write(wb)
    repo.state.tags["dev"] = repo.resolve("HEAD~1")
    with pytest.raises(AmbiguousRefError, match="branch dev -> .*tag dev ->") as info:
        repo.node("dev")
    assert info.value.hint and "branch -m dev" in info.value.hint
    assert repo.node(":dev").uuid == DEV


def test_names_pointing_at_one_node_are_not_ambiguous(repo: Repository) -> None:
    c1 = repo.resolve("HEAD~2")
    uuid = repo.dag.node(c1).uuid
    wb = WriteBatch()
    metadata.put_tag(wb, uuid[:6], c1)  # a legacy tag that is also its own node's prefix
    repo.engine.write(wb)
    repo.state.tags[uuid[:6]] = c1
    assert repo.node(uuid[:6]).uuid == uuid


def test_checkout_forms(repo: Repository) -> None:
    repo.checkout(":dev")
    assert repo.head_branch == "dev"
    repo.checkout(f"{ROOT[:4]}:master")
    assert repo.head_branch == "master"
    repo.checkout("v1")
    assert repo.head_branch is None and repo.head.uuid == _master(repo)[1]


@pytest.mark.parametrize("bad", ["", "  "])
def test_checkout_of_empty_ref_refused(repo: Repository, bad: str) -> None:
    repo.checkout("dev")
    with pytest.raises(BadRequestError, match="empty"):
        repo.checkout(bad)  # main checked out master
    assert repo.head_branch == "dev"


# -------------------------------------------------------------------- HEAD file
@pytest.mark.parametrize(
    "text", ["garbage\n", "branch:\n", "node:1234\n", "branch:a b\n", "", "\xff\xfe"]
)
def test_damaged_head_is_corrupt_data_with_a_fix(tmp_path: Path, text: str) -> None:
    Repository.init(tmp_path).close()
    (tmp_path / ".dvid" / "HEAD").write_bytes(text.encode("latin-1"))
    with Repository.open(tmp_path) as r:
        assert r.node("master").uuid == r.root_uuid  # what does not need HEAD still works
        with pytest.raises(CorruptDataError, match="HEAD") as info:
            r.head  # noqa: B018 - main read this as master
        assert info.value.hint and "dvidctl checkout master" in info.value.hint
        r.checkout("master")  # the fix the hint gives
        assert r.head.uuid == r.root_uuid
    with Repository.open(tmp_path) as r:
        assert r.head_branch == "master"


def test_missing_head_is_corrupt_data(tmp_path: Path) -> None:
    Repository.init(tmp_path).close()
    (tmp_path / ".dvid" / "HEAD").unlink()
    with Repository.open(tmp_path) as r, pytest.raises(CorruptDataError, match="missing"):
        r.head_vid  # noqa: B018


def test_detached_head_survives_reopen(tmp_path: Path) -> None:
    with Repository.init(tmp_path) as r:
        r.commit("c0")
        root = r.root_uuid
        r.checkout(root[:8])
    with Repository.open(tmp_path) as r:
        assert r.head_branch is None and r.head_ref == root and r.head.uuid == root
