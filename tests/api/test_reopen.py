"""A repository on RocksDB survives close and reopen, and refuses a second opener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dvidctl import Repository
from dvidctl.errors import ConflictError, RepositoryBusyError, RepositoryNotFoundError
from tests.factories import commit_kv


def _everything(repo: Repository) -> dict[str, Any]:
    reads = {}
    for vid in repo.dag.nodes:
        node = repo.node_by_vid(vid)
        reads[node.uuid] = {
            name: dict(node.instance(name).items())  # type: ignore[attr-defined]
            for name in repo.state.instances
        }
    return {
        "nodes": {n.uuid: n.to_dict() for n in repo.log()},
        "branches": dict(repo.state.branches),
        "tags": dict(repo.state.tags),
        "instances": {r.name: r.to_dict() for r in repo.instances()},
        "counters": dict(repo.state.counters),
        "repo": (repo.root_uuid, repo.alias, repo.description),
        "head": (repo.head_ref, repo.head.uuid),
        "reads": reads,
    }


def _build(repo: Repository) -> None:
    repo.new_instance("keyvalue", "kv")
    repo.new_instance("keyvalue", "kv2")
    commit_kv(repo, {"a": b"1", "b": b"\x00\xff" * 100}, "c0")
    repo.tag("v0", "HEAD~1")
    repo.branch("dev")
    commit_kv(repo, {"a": b"2", "c": b"3"}, "c1")
    repo.checkout("dev")
    commit_kv(repo, {"b": None, "d": b"dev"}, "d1")
    commit_kv(repo, {"z": b"z"}, "d2", name="kv2")
    repo.checkout("master")
    repo.merge(["dev"], "merge dev")
    repo.head.instance("kv").put("open", b"uncommitted")  # type: ignore[attr-defined]


def test_reopen_sees_everything(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path, alias="demo", description="a test repo")
    _build(repo)
    want = _everything(repo)
    repo.close()
    with Repository.open(tmp_path) as again:
        assert _everything(again) == want
        assert again.head_branch == "master"
        assert again.head.instance("kv").get("open") == b"uncommitted"  # type: ignore[attr-defined]


def test_head_persists_detached_and_branch(tmp_path: Path) -> None:
    with Repository.init(tmp_path) as repo:
        repo.commit("c0")
        repo.branch("dev")
        repo.checkout("dev")
    with Repository.open(tmp_path) as repo:
        assert repo.head_branch == "dev"
        root = repo.root_uuid
        repo.checkout(root[:6])
    with Repository.open(tmp_path) as repo:
        assert repo.head_branch is None and repo.head_ref == root and repo.head.uuid == root


def test_open_walks_up_from_subdirectory(tmp_path: Path) -> None:
    Repository.init(tmp_path).close()
    sub = tmp_path / "x" / "y"
    sub.mkdir(parents=True)
    with Repository.open(sub) as repo:
        assert repo.dvid_dir == (tmp_path / ".dvid").resolve()


def test_second_open_is_busy(disk_repo: Repository, tmp_path: Path) -> None:
    with pytest.raises(RepositoryBusyError) as info:
        Repository.open(tmp_path)
    assert "in use by another process" in str(info.value) and info.value.hint


def test_read_only_open_alongside_is_allowed_after_close(tmp_path: Path) -> None:
    with Repository.init(tmp_path) as repo:
        repo.new_instance("keyvalue", "kv")
        repo.head.instance("kv").put("k", b"v")  # type: ignore[attr-defined]
    with Repository.open(tmp_path, read_only=True) as ro:
        assert ro.head.instance("kv").get("k") == b"v"  # type: ignore[attr-defined]
        assert ro.engine.supports_writes is False


def test_init_twice_and_open_nothing(tmp_path: Path) -> None:
    Repository.init(tmp_path / "r").close()
    with pytest.raises(ConflictError):
        Repository.init(tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepositoryNotFoundError):
        Repository.open(tmp_path / "empty")
