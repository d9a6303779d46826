"""Random version histories checked against a plain-dict model (STYLE.md rule 22).

A hypothesis state machine drives put / delete / commit / branch / checkout /
merge (fail | ours | theirs) on one keyvalue instance with a tiny key and value
alphabet, so merges conflict and values come back to their base often. After
every step it reads every key, the key list and a key range at every node and
compares them with the model, and checks the delta index of every node against
what the model says the node wrote. Refused operations must change nothing
(engine contents, DAG, refs, HEAD).

The model knows nothing about storage: per node, a snapshot ``{key: value}`` and
``wrote`` (key -> value, or None for a tombstone: what the node itself holds).
Merge semantics follow dvidctl/store/merge.py: a key changed on two or more
sides since the common ancestors, with different values at the parents, is a
conflict unless only one value differs from the single merge base's value;
``fail`` raises ConflictError and changes nothing, ``ours`` takes the first
parent's value, ``theirs`` the last other side that changed it.

Profiles: the ``ci`` defaults below are deterministic (``derandomize``);
``HYPOTHESIS_PROFILE=dev`` plus ``--hypothesis-seed`` explores further.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dvidctl import Repository
from dvidctl.datatypes.keyvalue.keys import tkey
from dvidctl.errors import BadRequestError, ConflictError, LockedNodeError
from tests.factories import repo_snapshot

KEYS = ["a", "b", "c", "d"]
VALUES = [b"", b"1", b"2"]
NEW_BRANCHES = ["x1", "x2", "x3"]  # not hex-only: such names read as UUID prefixes
STRATEGIES = st.sampled_from(["fail", "ours", "theirs"])
CONFLICT = "<conflict>"


@dataclass
class MNode:
    """A node of the model."""

    uuid: str
    parents: list[str]
    branch: str
    locked: bool = False
    snap: dict[str, bytes] = field(default_factory=dict)
    wrote: dict[str, bytes | None] = field(default_factory=dict)


class RepoMachine(RuleBasedStateMachine):
    """The machine; ``ENGINE`` picks memory or RocksDB."""

    ENGINE = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.tmp: str | None = None
        if self.ENGINE == "memory":
            self.repo = Repository.memory()
        else:
            self.tmp = tempfile.mkdtemp(prefix="dvidctl-stateful-")
            self.repo = Repository.init(self.tmp)
        self.repo.new_instance("keyvalue", "kv")
        root = self.repo.head.uuid
        # Insertion order (not UUID order) keeps draws reproducible: UUIDs are random.
        self.nodes: dict[str, MNode] = {root: MNode(root, [], "master")}
        self.branches: dict[str, str] = {"master": root}
        self.head_branch: str | None = "master"
        self.head_node = root  # used when detached

    def teardown(self) -> None:
        event(f"nodes at the end: {len(self.nodes) // 10 * 10}+")
        self.repo.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ model helpers
    def _head(self) -> MNode:
        return self.nodes[self.branches[self.head_branch] if self.head_branch else self.head_node]

    def _ancestors(self, u: str) -> set[str]:
        out, todo = set(), [u]
        while todo:
            v = todo.pop()
            if v not in out:
                out.add(v)
                todo.extend(self.nodes[v].parents)
        return out

    def _first_parent(self, u: str) -> str | None:
        n = self.nodes[u]
        for p in n.parents:
            if self.nodes[p].branch == n.branch:
                return p
        return n.parents[-1] if n.parents else None

    def _last_locked(self, u: str | None) -> str | None:
        while u is not None and not self.nodes[u].locked:
            u = self._first_parent(u)
        return u

    def _below(self, node: MNode, key: str) -> Any:
        """What ``node`` would see without its own write: the newest writes of ``key`` above it."""
        anc = self._ancestors(node.uuid) - {node.uuid}
        cands = [v for v in anc if key in self.nodes[v].wrote]
        tops = [c for c in cands if not any(c != d and c in self._ancestors(d) for d in cands)]
        values = {self.nodes[c].wrote[key] for c in tops}
        return CONFLICT if len(values) > 1 else values.pop() if values else None

    def _refused(self, exc: type[Exception], fn: Any) -> Exception:
        before = repo_snapshot(self.repo)
        with pytest.raises(exc) as info:
            fn()
        assert repo_snapshot(self.repo) == before, "a refused operation changed the repository"
        return info.value

    def _kv(self) -> Any:
        return self.repo.head.instance("kv")

    def _add_node(
        self, uuid: str, parents: list[str], branch: str, snap: dict[str, bytes]
    ) -> MNode:
        node = self.nodes[uuid] = MNode(uuid, parents, branch, snap=dict(snap))
        return node

    # -------------------------------------------------------------------- rules
    @initialize(items=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)))
    def base(self, items: dict[str, bytes]) -> None:
        """Start from a committed base (possibly empty) and one branch off it."""
        for k, v in items.items():
            self.put(k, v)
        self.commit()
        self._branch("x1", None)

    @rule(key=st.sampled_from(KEYS), value=st.sampled_from(VALUES))
    def put(self, key: str, value: bytes) -> None:
        h = self._head()
        if h.locked:
            self._refused(LockedNodeError, lambda: self._kv().put(key, value))
            return
        self._kv().put(key, value)
        h.snap[key] = h.wrote[key] = value

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        h = self._head()
        if h.locked:
            self._refused(LockedNodeError, lambda: self._kv().delete(key))
            return
        assert self._kv().delete(key) == (key in h.snap)
        h.snap.pop(key, None)
        if self._below(h, key) is not None:  # a live or conflicting value below: tombstone
            h.wrote[key] = None
        else:  # nothing below: the node's own version goes away
            h.wrote.pop(key, None)

    @rule()
    def commit(self) -> None:
        h = self._head()
        if h.locked:
            self._refused(BadRequestError, lambda: self.repo.commit("c"))
            return
        locked, child = self.repo.commit("c")
        assert locked.uuid == h.uuid
        h.locked = True
        self._add_node(child.uuid, [h.uuid], h.branch, h.snap)
        self.branches[h.branch] = child.uuid
        self.head_branch = h.branch  # a detached HEAD at the open leaf re-attaches

    @rule(
        data=st.data(),
        writes=st.lists(
            st.tuples(st.sampled_from(KEYS), st.sampled_from([None, *VALUES])),
            min_size=1,
            max_size=3,
        ),
    )
    def work_on_branch(self, data: st.DataObject, writes: list[tuple[str, bytes | None]]) -> None:
        """Check out a branch, write a few keys and commit: the usual unit of work."""
        self._checkout(data.draw(st.sampled_from(sorted(self.branches)), label="branch"))
        for k, v in writes:
            if v is None:
                self.delete(k)
            else:
                self.put(k, v)
        self.commit()

    @rule(name=st.sampled_from([*NEW_BRANCHES, "master"]), data=st.data())
    def branch(self, name: str, data: st.DataObject) -> None:
        locked = [u for u, n in self.nodes.items() if n.locked]
        src = data.draw(
            st.one_of(st.none(), st.sampled_from(list(self.nodes)), st.sampled_from(locked)),
            label="from",
        )
        self._branch(name, src)

    def _branch(self, name: str, src: str | None) -> None:
        parent = self._last_locked(self._head().uuid) if src is None else src
        if name in self.branches:
            self._refused(ConflictError, lambda: self.repo.branch(name, src))
            return
        if parent is None or not self.nodes[parent].locked:
            self._refused(BadRequestError, lambda: self.repo.branch(name, src))
            return
        node = self.repo.branch(name, src)
        assert [p.uuid for p in node.parents] == [parent]
        self._add_node(node.uuid, [parent], name, self.nodes[parent].snap)
        self.branches[name] = node.uuid

    @rule(data=st.data())
    def checkout(self, data: st.DataObject) -> None:
        targets = sorted(self.branches) + list(self.nodes)
        self._checkout(data.draw(st.sampled_from(targets), label="target"))

    def _checkout(self, target: str) -> None:
        self.repo.checkout(target)
        if target in self.branches:
            self.head_branch = target
        else:
            self.head_branch, self.head_node = None, target

    @rule(data=st.data(), strategy=STRATEGIES)
    def merge(self, data: st.DataObject, strategy: str) -> None:
        """Merge as things are (often refused: detached HEAD, uncommitted changes)."""
        self._merge(self._draw_refs(data), strategy)

    @rule(data=st.data(), strategy=STRATEGIES)
    def merge_clean(self, data: st.DataObject, strategy: str) -> None:
        """Check out a branch, commit what is pending, then merge other branches into it."""
        self._checkout(data.draw(st.sampled_from(sorted(self.branches)), label="into"))
        if self._head().wrote:
            self.commit()
        self._merge(self._draw_refs(data, exclude=self.head_branch), strategy)

    def _draw_refs(self, data: st.DataObject, exclude: str | None = None) -> list[str]:
        names = [b for b in sorted(self.branches) if b != exclude] or sorted(self.branches)
        refs = st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)
        return data.draw(refs, label="refs")

    def _merge(self, refs: list[str], strategy: str) -> None:
        run = lambda: self.repo.merge(refs, "m", strategy=strategy)  # noqa: E731
        if self.head_branch is None:
            self._refused(BadRequestError, run)
            return
        leaf = self.nodes[self.branches[self.head_branch]]
        ours = self._last_locked(leaf.uuid)
        theirs = [self._last_locked(self.branches[r]) for r in refs]
        if (not leaf.locked and leaf.wrote) or ours is None or None in theirs:
            event("merge: refused")
            self._refused(BadRequestError, run)
            return
        # An uncommitted merge head keeps its parents; merging more adds to them.
        base = list(leaf.parents) if not leaf.locked and leaf.parents else [ours]
        parents = list(base)
        for t in theirs:
            assert t is not None
            if not any(t in self._ancestors(p) for p in parents):
                anc = self._ancestors(t)
                parents = [p for i, p in enumerate(parents) if i == 0 or p not in anc] + [t]
        if parents == base:
            event("merge: up to date")
            before = repo_snapshot(self.repo)
            assert run().up_to_date
            assert repo_snapshot(self.repo) == before
            return
        merged, wrote, conflicts, resolved = self._plan(parents, strategy)
        n = len(parents)
        event(f"merge: {n} parents, {strategy}, conflicts={len(conflicts)}, resolved={resolved}")
        if conflicts:
            err = self._refused(ConflictError, run)
            assert {d["key"] for d in err.details} == conflicts  # type: ignore[attr-defined]
            return
        res = run()
        assert res.node is not None and res.parents == parents
        if not leaf.locked:  # the empty open head is replaced by the merge node
            del self.nodes[leaf.uuid]
        node = self._add_node(res.node.uuid, parents, self.head_branch, merged)
        node.wrote = wrote
        self.branches[self.head_branch] = node.uuid

    def _plan(
        self, parents: list[str], strategy: str
    ) -> tuple[dict[str, bytes], dict[str, bytes | None], set[str], int]:
        """The merge node's snapshot and writes, the conflicts, and how many the strategy chose."""
        anc = [self._ancestors(p) for p in parents]
        common = set.intersection(*anc)
        bases = [c for c in common if not any(c != d and c in self._ancestors(d) for d in common)]
        changed = [set().union(*(self.nodes[v].wrote for v in a - common)) for a in anc]
        merged: dict[str, bytes] = {}
        wrote: dict[str, bytes | None] = {}
        conflicts: set[str] = set()
        by_strategy = 0
        for k in KEYS:
            values = [self.nodes[p].snap.get(k) for p in parents]
            sides = [i for i, c in enumerate(changed) if k in c]
            chosen: bytes | None
            if len(sides) < 2 or len(set(values)) == 1:
                if not sides:
                    assert len(set(values)) == 1, "model: an unchanged key differs between parents"
                chosen = values[sides[0]] if len(sides) == 1 else values[0]
            else:
                s = sides
                if len(bases) == 1:
                    base = self.nodes[bases[0]].snap.get(k)
                    s = [i for i in sides if values[i] != base] or sides
                if len({values[i] for i in s}) == 1:
                    chosen = values[s[0]]
                elif strategy == "fail":
                    conflicts.add(k)
                    continue
                else:
                    by_strategy += 1
                    chosen = (
                        values[0] if strategy == "ours" else values[[i for i in s if i != 0][-1]]
                    )
                wrote[k] = chosen
            if chosen is not None:
                merged[k] = chosen
        return merged, wrote, conflicts, by_strategy

    # --------------------------------------------------------------- invariants
    @invariant()
    def dag_and_refs_match(self) -> None:
        repo = self.repo
        assert set(repo.dag.by_uuid) == set(self.nodes)
        for u, m in self.nodes.items():
            node = repo.node(u)
            assert node.locked == m.locked and node.branch == m.branch
            assert [p.uuid for p in node.parents] == m.parents
        leaves = {
            ("master" if b == "" else b): repo.dag.node(v).uuid
            for b, v in repo.state.branches.items()
        }
        assert leaves == self.branches
        assert repo.head_branch == self.head_branch
        assert repo.head.uuid == self._head().uuid

    @invariant()
    def every_read_at_every_node_matches(self) -> None:
        for u, m in self.nodes.items():
            node = self.repo.node(u)
            kv: Any = node.instance("kv")
            for k in KEYS:
                assert kv.get_or_none(k) == m.snap.get(k), (u[:8], k)
            assert kv.keys() == sorted(m.snap)
            assert dict(kv.items("b", "c")) == {k: v for k, v in m.snap.items() if "b" <= k <= "c"}
            deltas = {tk for _, tk, _ in self.repo.store.changes(node.vid)}
            assert deltas == {tkey(k) for k in m.wrote}, (u[:8], "delta index")


class RocksRepoMachine(RepoMachine):
    """The same machine on RocksDB, plus a rule that closes and reopens the repository."""

    ENGINE = "rocksdb"

    @rule()
    def reopen(self) -> None:
        self.repo.close()
        assert self.tmp is not None
        self.repo = Repository.open(self.tmp)


# Deterministic under the default ``ci`` profile (tests/conftest.py). The default suite runs
# 60 random histories on memory and 15 on RocksDB (~20 s on 2 cores); `make test-slow` runs
# the full 250 and 50. DVIDCTL_STATEFUL_EXAMPLES (the full count) with HYPOTHESIS_PROFILE=dev
# runs a longer random exploration.
_FULL = int(os.environ.get("DVIDCTL_STATEFUL_EXAMPLES", "250"))
_CI = settings(
    settings.default,
    max_examples=_FULL,
    stateful_step_count=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_CI_ROCKS = settings(_CI, max_examples=max(_FULL // 5, 1), stateful_step_count=30)

TestRepoMemory = RepoMachine.TestCase
TestRepoMemory.settings = settings(_CI, max_examples=max(_FULL * 6 // 25, 1))
TestRepoRocks = RocksRepoMachine.TestCase
TestRepoRocks.settings = settings(_CI_ROCKS, max_examples=max(_FULL * 3 // 50, 1))


@pytest.mark.slow
class TestRepoMemoryFull(RepoMachine.TestCase):  # type: ignore[misc,name-defined]
    """The memory machine with every example (``make test-slow``)."""

    settings = _CI


@pytest.mark.slow
class TestRepoRocksFull(RocksRepoMachine.TestCase):  # type: ignore[misc,name-defined]
    """The RocksDB machine with every example (``make test-slow``)."""

    settings = _CI_ROCKS
