"""Diffs between nodes from the delta index (dvidctl/store/diff.py, api/versions.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dvidctl import Repository
from dvidctl.errors import NotFoundError
from dvidctl.store.engine import CF_DATA, CF_DELTA
from dvidctl.store.memory import MemoryEngine
from tests.factories import commit_kv


class CountingEngine(MemoryEngine):
    """A memory engine that counts the rows every scan yields, per column family."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}

    def scan(
        self, cf: str, start: bytes, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        for item in super().scan(cf, start, stop):
            self.rows[cf] = self.rows.get(cf, 0) + 1
            yield item


@pytest.fixture
def repo(mem_repo: Repository) -> Repository:
    mem_repo.new_instance("keyvalue", "kv")
    commit_kv(mem_repo, {"keep": b"1", "change": b"1", "drop": b"1"}, "c0")
    commit_kv(mem_repo, {"change": b"2", "drop": None, "add": b"2", "keep": b"1"}, "c1")
    return mem_repo


def test_added_changed_deleted(repo: Repository) -> None:
    d = repo.diff("HEAD~2", "HEAD~1")
    assert d == {"kv": {"added": ["add"], "changed": ["change"], "deleted": ["drop"]}}
    back = repo.diff("HEAD~1", "HEAD~2")
    assert back == {"kv": {"added": ["drop"], "changed": ["change"], "deleted": ["add"]}}


def test_no_difference(repo: Repository) -> None:
    assert repo.diff("HEAD~1", "HEAD") == {}
    assert repo.diff("HEAD", "HEAD") == {}


def test_rewrite_of_same_value_is_not_a_change(repo: Repository) -> None:
    assert "keep" not in str(repo.diff("HEAD~2", "HEAD~1"))


def test_add_then_delete_across_nodes_is_no_difference(repo: Repository) -> None:
    commit_kv(repo, {"temp": b"x"})
    commit_kv(repo, {"temp": None})
    assert repo.diff("HEAD~3", "HEAD~1") == {}


def test_siblings_and_instance_filter(repo: Repository) -> None:
    repo.new_instance("keyvalue", "other")
    repo.branch("dev")
    commit_kv(repo, {"m": b"m"})
    commit_kv(repo, {"o": b"o"}, name="other")
    repo.checkout("dev")
    commit_kv(repo, {"d": b"d", "change": b"dev"})
    d = repo.diff("master", "dev")
    assert d == {
        "kv": {"added": ["d"], "changed": ["change"], "deleted": ["m"]},
        "other": {"added": [], "changed": [], "deleted": ["o"]},
    }
    assert repo.diff("master", "dev", instance="other") == {"other": d["other"]}
    with pytest.raises(NotFoundError):
        repo.diff("master", "dev", instance="nope")


def test_cost_grows_with_changes_not_repo_size() -> None:
    engine = CountingEngine()
    repo = Repository.init(engine=engine)
    repo.new_instance("keyvalue", "kv")
    commit_kv(repo, {f"k{i:05d}": b"x" * 10 for i in range(3000)}, "big")
    for i in range(20):
        commit_kv(repo, {f"k{i:05d}": b"y"}, f"small {i}")
    engine.rows.clear()
    d = repo.diff("HEAD~3", "HEAD~1")
    assert d["kv"]["changed"] == ["k00018", "k00019"]
    # two nodes' delta entries, and the versions of two keys (each has 2 versions)
    assert engine.rows.get(CF_DELTA, 0) == 2
    assert engine.rows.get(CF_DATA, 0) <= 4
