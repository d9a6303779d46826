"""The commit DAG held in memory: node records, ancestry and graph queries.

Version ids grow with creation and a node's parents always exist before it, so
a parent's id is always smaller than its child's. Ancestor sets are computed
once per node and cached forever: a node's parents never change, so neither do
its ancestors. Graph queries that are not on the read path (lowest common
ancestors, topological order) use networkx on demand.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

MASTER = "master"


def now_iso() -> str:
    """Return the current UTC time in RFC 3339 form with nanosecond field."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def branch_label(branch: str) -> str:
    """Return the user-facing branch name (DVID stores master as ``""``)."""
    return branch or MASTER


def branch_key(name: str) -> str:
    """Return the stored branch name for a user-facing one (``master`` -> ``""``)."""
    return "" if name in ("", MASTER) else name


@dataclass
class NodeRecord:
    """One version of the repository (DVID's ``nodeT``)."""

    vid: int
    uuid: str
    parents: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    branch: str = ""
    locked: bool = False
    note: str = ""
    log: list[str] = field(default_factory=list)
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    #: Write batches applied after the node was committed (DVID's ``fullwrite`` or an
    #: admin request): what tells sync and log that a committed node changed.
    writes_after_commit: int = 0
    #: Being received by sync: in the DAG and readable, but its contents may be partial
    #: (or a snapshot of a node still open on the sender). Only sync writes it; users
    #: cannot write, commit or branch from it until sync completes it.
    incoming: bool = False
    #: Per data instance (by data UUID), ``"<xxh3-128 hex>:<keys>"`` of the node's delta
    #: entries (:mod:`dvidctl.store.nodedelta`). Set when the node is committed or
    #: completed by sync; None while open, or once a write after commit made it stale
    #: (it is then computed again when sync asks).
    digests: dict[str, str] | None = None
    #: For an incoming snapshot of a node open on the sender: the sender's write stamp
    #: (``VersionedStore.write_stamp``) when it was taken; the same stamp later means the
    #: snapshot is current and need not be listed again.
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable form stored in metadata.

        ``writes_after_commit``, ``incoming``, ``digests`` and ``snapshot`` are left out
        while unset, so a node that never used them is stored exactly as before the fields
        existed.
        """
        out = asdict(self)
        if not self.writes_after_commit:
            del out["writes_after_commit"]
        if not self.incoming:
            del out["incoming"]
        if self.digests is None:
            del out["digests"]
        if self.snapshot is None:
            del out["snapshot"]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeRecord:
        """Build a record from :meth:`to_dict` output."""
        return cls(**d)


class Dag:
    """All nodes of one repository, indexed by version id and UUID."""

    def __init__(self, nodes: Iterable[NodeRecord] = ()) -> None:
        self.nodes: dict[int, NodeRecord] = {}
        self.by_uuid: dict[str, int] = {}
        self._ancestors: dict[int, frozenset[int]] = {}
        self._chain: dict[int, bool] = {}
        for n in sorted(nodes, key=lambda n: n.vid):
            self.add(n)

    def add(self, node: NodeRecord) -> None:
        """Insert (or replace) a node record; parents must already exist."""
        self.nodes[node.vid] = node
        self.by_uuid[node.uuid] = node.vid

    def remove(self, vid: int) -> None:
        """Drop a childless node (used when a merge replaces an empty open leaf)."""
        node = self.nodes.pop(vid)
        del self.by_uuid[node.uuid]
        self._ancestors.pop(vid, None)
        self._chain.pop(vid, None)
        for p in node.parents:
            parent = self.nodes[p]
            parent.children = [c for c in parent.children if c != vid]

    def __contains__(self, vid: int) -> bool:
        return vid in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, vid: int) -> NodeRecord:
        """Return the record of ``vid`` (KeyError if unknown)."""
        return self.nodes[vid]

    @property
    def root(self) -> NodeRecord:
        """The node without parents (the first one created)."""
        return self.nodes[min(self.nodes)]

    def ancestors(self, vid: int) -> frozenset[int]:
        """Return ``vid`` and every node it descends from (cached)."""
        cached = self._ancestors.get(vid)
        if cached is not None:
            return cached
        # Parents have smaller ids: fill the cache bottom-up without recursion.
        pending = [vid]
        order: list[int] = []
        seen: set[int] = set()
        while pending:
            v = pending.pop()
            if v in seen or v in self._ancestors:
                continue
            seen.add(v)
            order.append(v)
            pending.extend(self.nodes[v].parents)
        for v in sorted(order):
            acc: set[int] = {v}
            for p in self.nodes[v].parents:
                acc |= self._ancestors[p]
            self._ancestors[v] = frozenset(acc)
        return self._ancestors[vid]

    def is_chain(self, vid: int) -> bool:
        """Whether ``vid``'s ancestors form one line (no merge among them; cached).

        Then the newest ancestor version of a key is the visible one.
        """
        got = self._chain.get(vid)
        if got is None:
            nodes = self.nodes
            got = self._chain[vid] = all(len(nodes[a].parents) <= 1 for a in self.ancestors(vid))
        return got

    def is_ancestor(self, a: int, b: int) -> bool:
        """Whether ``a`` is ``b`` or one of ``b``'s ancestors."""
        return a in self.ancestors(b)

    def graph(self) -> nx.DiGraph:
        """Return a networkx DiGraph with edges parent -> child."""
        import networkx as nx  # on demand: it costs ~0.3 s to import, and reads never need it

        g = nx.DiGraph()
        for n in self.nodes.values():
            g.add_node(n.vid)
            for p in n.parents:
                g.add_edge(p, n.vid)
        return g

    def common_ancestors(self, vids: Iterable[int]) -> frozenset[int]:
        """Nodes that are ancestors of every node in ``vids``."""
        sets = [self.ancestors(v) for v in vids]
        return frozenset.intersection(*sets) if sets else frozenset()

    def merge_bases(self, vids: Iterable[int]) -> list[int]:
        """The maximal common ancestors of ``vids`` (git's merge bases)."""
        common = self.common_ancestors(vids)
        return sorted(
            c for c in common if not any(c != d and c in self.ancestors(d) for d in common)
        )

    def topological(self, vids: Iterable[int] | None = None) -> list[int]:
        """Return ``vids`` (default all) parents-first; ids already sort that way."""
        return sorted(self.nodes if vids is None else vids)

    def first_parent(self, vid: int) -> int | None:
        """The parent followed by ``BRANCH~N``: the one on the same branch, else the last."""
        node = self.nodes[vid]
        if not node.parents:
            return None
        for p in node.parents:
            if self.nodes[p].branch == node.branch:
                return p
        return node.parents[-1]

    def branches(self) -> set[str]:
        """Every stored branch name (``""`` is master)."""
        return {n.branch for n in self.nodes.values()}
