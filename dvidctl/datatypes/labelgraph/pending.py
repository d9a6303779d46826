"""What one labelgraph mutation will write, read through, then written as one batch.

A mutation (``LabelGraph.put_subgraph``, ``merge``, ...) reads what it needs, queues
its writes here, and commits them at once: later steps see earlier ones (an edge to
a vertex created by the same request, a vertex whose edges a merge already moved),
and a refused step leaves nothing written. Deleting a vertex or an edge takes the
adjacency entries and the properties that go with it, as DVID's graph store does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvidctl.datatypes.labelgraph import keys as K

if TYPE_CHECKING:
    from dvidctl.datatypes.labelgraph.ops import LabelGraph

#: Writes of at least this many vertices and edges first check whether the graph is empty.
BULK = 1000


class PendingWrites:
    """One mutation's writes, read through (later steps see earlier ones), then one batch."""

    def __init__(self, inst: LabelGraph, *, items: int = 0) -> None:
        self.inst = inst
        self.values: dict[bytes, bytes | None] = {}
        self.adj: dict[int, dict[int, bool]] = {}  # adjacency changes: v -> {w: present}
        # An empty graph (a bulk load's usual start) needs no reads of the store at all.
        # Asked only for large writes (``items``): the scan may step over many deleted keys.
        self.empty = items >= BULK and next(iter(inst._scan(K.ALL_START, K.ALL_STOP)), None) is None

    def get(self, tk: bytes) -> bytes | None:
        if tk in self.values:
            return self.values[tk]
        if self.empty:
            return None
        got = self.inst._get(tk)
        return None if got is None else bytes(got)

    def weight(self, tk: bytes) -> float | None:
        got = self.get(tk)
        return None if got is None else K.weight_of(got)

    def has_vertex(self, v: int) -> bool:
        return self.get(K.vertex(v)) is not None

    def neighbors(self, v: int) -> list[int]:
        ids = set() if self.empty else set(self.inst.neighbor_ids(v))
        for w, present in self.adj.get(v, {}).items():
            (ids.add if present else ids.discard)(w)
        return sorted(ids)

    def put_vertex(self, v: int, weight: float) -> None:
        self.values[K.vertex(v)] = K.pack_weight(weight)

    def set_edge(self, a: int, b: int, weight: float, *, new: bool) -> None:
        self.values[K.edge(a, b)] = K.pack_weight(weight)
        if new:
            self.values[K.adj(a, b)] = self.values[K.adj(b, a)] = b""
            self.adj.setdefault(a, {})[b] = True
            self.adj.setdefault(b, {})[a] = True

    def del_edge(self, a: int, b: int) -> None:
        """The edge, both adjacency entries and the edge's stored properties."""
        self.values[K.edge(a, b)] = None
        self.values[K.adj(a, b)] = self.values[K.adj(b, a)] = None
        self.adj.setdefault(a, {})[b] = False
        self.adj.setdefault(b, {})[a] = False
        for tk, _ in self.inst._scan(*K.eprop_range(a, b)):
            self.values[bytes(tk)] = None

    def del_vertex(self, v: int) -> None:
        """The vertex, its properties, and every edge on it (DVID's ``RemoveVertex``)."""
        for w in self.neighbors(v):
            self.del_edge(v, w)
        for tk, _ in self.inst._scan(*K.vprop_range(v)):
            self.values[bytes(tk)] = None
        self.values[K.vertex(v)] = None

    def commit(self) -> None:
        if not self.values:
            return
        iid = self.inst.iid
        # Streamed in key order: a large write goes to the engine (an SST file past 16 MiB)
        # as it is queued, still one atomic write.
        with self.inst._batch(stream=True) as b:
            for tk in sorted(self.values):
                v = self.values[tk]
                if v is None:
                    b.delete(iid, tk)
                else:
                    b.put(iid, tk, v)
            b.commit()
