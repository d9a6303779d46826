"""labelgraph operations: a weighted undirected graph of label vertices (DVID_API.md §8).

Reads walk the versioned keys of :mod:`.keys` at this node; every mutation reads
what it needs first, then writes one atomic batch (nothing is written when any
part is refused). The semantics are DVID's ``labelgraph.go`` and its graph store
(``storage/graphkeyvalue.go``), with these departures, each a clear error where
DVID would silently do something odd: an id 0, a self-loop, an edge to a vertex
that does not exist, a property of a missing vertex or edge, and a merge naming
a vertex twice are refused (DVID ignores the property write, or corrupts its
adjacency lists); re-posting a vertex keeps its edges and properties (DVID's
``AddVertex`` forgets the adjacency list but keeps the edge keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes.base import Instance
from dvidctl.datatypes.labelgraph import keys as K
from dvidctl.datatypes.labelgraph.graphjson import GraphBody, graph_doc, parse_graph
from dvidctl.datatypes.labelgraph.merging import repair_merge
from dvidctl.datatypes.labelgraph.nxview import components, to_networkx
from dvidctl.datatypes.labelgraph.pending import PendingWrites
from dvidctl.datatypes.labelgraph.transactions import MAX_LOCKS
from dvidctl.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    import networkx as nx

    from dvidctl.store.versioned import VersionedBatch

GraphLike = GraphBody | Mapping[str, Any]


def as_graph(graph: GraphLike | None, *, unsafe: bool = False) -> GraphBody:
    """A :class:`GraphBody` from a body or a DVID graph JSON mapping (schema-checked)."""
    if graph is None:
        return GraphBody()
    if isinstance(graph, GraphBody):
        return graph
    return parse_graph(graph, unsafe=unsafe)


class LabelGraph(Instance):
    """A labelgraph instance at one node."""

    typename = "labelgraph"

    # ------------------------------------------------------------------ reads
    def has_vertex(self, vertex: int) -> bool:
        """Whether ``vertex`` exists at this node."""
        return self._get(K.vertex(K.check_id(vertex))) is not None

    def vertex_weight(self, vertex: int) -> float:
        """The weight of ``vertex``; NotFoundError if it does not exist."""
        got = self._get(K.vertex(K.check_id(vertex)))
        if got is None:
            raise NotFoundError(f"vertex {vertex} not found")
        return K.weight_of(got, "vertex")

    def edge_weight(self, a: int, b: int) -> float:
        """The weight of the edge ``a-b``; NotFoundError if there is none."""
        got = self._get(K.edge(K.check_id(a), K.check_id(b)))
        if got is None:
            raise NotFoundError(f"edge {a}-{b} not found")
        return K.weight_of(got, "edge")

    def vertices(self) -> list[tuple[int, float]]:
        """Every ``(vertex, weight)`` in id order."""
        return [
            (K.id_of(tk), K.weight_of(v, "vertex"))
            for tk, v in self._scan(*K.class_range(K.CLASS_VERTEX))
        ]

    def edges(self) -> list[tuple[int, int, float]]:
        """Every ``(id1, id2, weight)`` with ``id1 < id2``, in id order."""
        return [
            (*K.pair_of(tk), K.weight_of(v, "edge"))
            for tk, v in self._scan(*K.class_range(K.CLASS_EDGE))
        ]

    def neighbor_ids(self, vertex: int) -> list[int]:
        """The vertices joined to ``vertex`` by an edge, ascending (none if it is absent)."""
        return [K.pair_of(tk)[1] for tk, _ in self._scan(*K.adj_range(vertex))]

    def get_subgraph(self, vertices: Sequence[int] | None = None) -> dict[str, Any]:
        """DVID's ``GET subgraph``: the whole graph, or the listed vertices and every edge
        on them (each once), as graph JSON. A listed vertex that is absent is an error."""
        if not vertices:
            return graph_doc(self.vertices(), self.edges())
        listed = list(dict.fromkeys(K.check_id(v) for v in vertices))
        vs = [(v, self.vertex_weight(v)) for v in listed]
        used: set[int] = set()
        es = []
        for v in listed:
            used.add(v)
            for w in self.neighbor_ids(v):
                if w not in used:
                    es.append((*K.ordered(v, w), self.edge_weight(v, w)))
        return graph_doc(vs, es)

    def neighbors(self, vertex: int) -> dict[str, Any]:
        """DVID's ``GET neighbors/{vertex}``: the vertex, its neighbours and its edges."""
        v = K.check_id(vertex)
        vs = [(v, self.vertex_weight(v))]
        es = []
        for w in self.neighbor_ids(v):
            vs.append((w, self.vertex_weight(w)))
            es.append((*K.ordered(v, w), self.edge_weight(v, w)))
        return graph_doc(vs, es, transactions=None, nil_empty=True)

    def to_networkx(self, vertices: Sequence[int] | None = None) -> nx.Graph:
        """The graph (or :meth:`get_subgraph`'s part of it) as a ``networkx.Graph`` with
        ``weight`` on nodes and edges."""
        if vertices:
            return to_networkx(self.get_subgraph(vertices))
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from((v, {"weight": w}) for v, w in self.vertices())
        g.add_weighted_edges_from(self.edges())
        return g

    def connected_components(self) -> list[list[int]]:
        """The vertex sets of the connected components, each sorted, ordered by their
        smallest vertex."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(K.id_of(tk) for tk, _ in self._scan(*K.class_range(K.CLASS_VERTEX)))
        g.add_edges_from(K.pair_of(tk) for tk, _ in self._scan(*K.class_range(K.CLASS_EDGE)))
        return components(g)

    def property_names(self, a: int, b: int | None = None) -> list[str]:
        """Names of the properties of vertex ``a`` (or of the edge ``a-b``)."""
        rng = K.vprop_range(K.check_id(a)) if b is None else K.eprop_range(a, K.check_id(b))
        return [K.prop_name(tk) for tk, _ in self._scan(*rng)]

    def get_property(self, a: int, name: str, b: int | None = None) -> bytes:
        """A vertex property, or with ``b`` an edge property; NotFoundError if unset."""
        got = self._get(self._prop_key(a, name, b))
        if got is None:
            what = f"vertex {a}" if b is None else f"edge {a}-{b}"
            raise NotFoundError(f"property {name!r} of {what} not found")
        return bytes(got)

    def get_properties(
        self, name: str, items: Sequence[tuple[int, int | None]]
    ) -> list[bytes | None]:
        """Property ``name`` of several vertices (``(v, None)``) or edges (None if unset)."""
        out = []
        for a, b in items:
            got = self._get(self._prop_key(a, name, b))
            out.append(None if got is None else bytes(got))
        return out

    @staticmethod
    def _prop_key(a: int, name: str, b: int | None) -> bytes:
        a = K.check_id(a)
        return K.vprop(a, name) if b is None else K.eprop(a, K.check_id(b), name)

    # ----------------------------------------------------------------- writes
    def put_subgraph(self, graph: GraphLike) -> None:
        """DVID's ``POST subgraph``: set the weights of the vertices and edges given,
        creating them; existing edges and properties stay. An edge's vertices must
        exist or be in ``graph``."""
        g = as_graph(graph)
        self._check_writable()
        with self.lock:
            w = PendingWrites(self, items=len(g.vertices) + len(g.edges))
            for v, weight in g.vertices:
                w.put_vertex(v, weight)
            for a, b, weight in g.edges:
                self._need_vertices(w, a, b)
                w.set_edge(a, b, weight, new=w.get(K.edge(a, b)) is None)
            w.commit()

    def add_weights(self, graph: GraphLike) -> None:
        """DVID's ``POST weight``: add each weight given to the vertex's or edge's
        (creating it with that weight if absent). At most 1000 vertices in all."""
        g = as_graph(graph)
        if len(g.vertex_ids()) > MAX_LOCKS:
            raise BadRequestError(f"Do not support transaction with over {MAX_LOCKS} ids")
        self._check_writable()
        with self.lock:
            w = PendingWrites(self, items=len(g.vertices) + len(g.edges))
            for v, inc in g.vertices:
                cur = w.weight(K.vertex(v))
                w.put_vertex(v, inc if cur is None else cur + inc)
            for a, b, inc in g.edges:
                cur = w.weight(K.edge(a, b))
                if cur is None:
                    self._need_vertices(w, a, b)
                w.set_edge(a, b, inc if cur is None else cur + inc, new=cur is None)
            w.commit()

    def delete_subgraph(self, graph: GraphLike | None = None) -> dict[str, int]:
        """DVID's ``DELETE subgraph``: the listed vertices (with their edges and
        properties) and edges, or everything when none is listed. Absent ones are
        skipped. Returns the numbers of vertices and edges removed."""
        g = as_graph(graph)
        self._check_writable()
        with self.lock:
            w = PendingWrites(self)
            if g.empty:
                nv = sum(1 for _ in self._scan(*K.class_range(K.CLASS_VERTEX)))
                ne = sum(1 for _ in self._scan(*K.class_range(K.CLASS_EDGE)))
                for tk, _ in self._scan(K.ALL_START, K.ALL_STOP):
                    w.values[bytes(tk)] = None
                w.commit()
                return {"vertices": nv, "edges": ne}
            nv = 0
            for v, _ in g.vertices:
                if w.has_vertex(v):
                    w.del_vertex(v)
                    nv += 1
            for a, b, _ in g.edges:
                if w.get(K.edge(a, b)) is not None:
                    w.del_edge(a, b)
            ne = sum(1 for tk in w.values if tk[0] == K.CLASS_EDGE)
            w.commit()
            return {"vertices": nv, "edges": ne}

    def merge(self, graph: GraphLike) -> int:
        """DVID's ``POST merge``: merge the vertices listed into the **last** one.

        Vertex weights are summed, and so are the weights of edges that now join the
        survivor to the same vertex, unless the body gives the survivor a non-zero
        weight or gives an edge from the survivor a weight. The merged vertices go,
        with their edges and properties. Returns the survivor.
        """
        g = as_graph(graph)
        ids = [v for v, _ in g.vertices]
        if len(ids) < 2:
            raise BadRequestError("Must specify at least two vertices for merging")
        if len(set(ids)) != len(ids):
            raise BadRequestError("a merge lists a vertex twice")
        self._check_writable()
        with self.lock:
            w = PendingWrites(self)
            keep = ids[-1]
            total = 0.0
            for v in ids:
                total += self._weight_or_missing(w, v)
            overlap: dict[int, float] = {}
            for v in ids:
                for n in w.neighbors(v):
                    overlap[n] = overlap.get(n, 0.0) + (w.weight(K.edge(v, n)) or 0.0)
            keep_edges = set(w.neighbors(keep))
            for a, b, weight in g.edges:
                other, base = (b, a) if a == keep else (a, b)
                if base == keep and other in overlap:
                    overlap[other] = weight
            if g.vertices[-1][1] != 0:
                total = g.vertices[-1][1]
            for v in ids[:-1]:
                w.del_vertex(v)
            merged = set(ids)
            for n, weight in sorted(overlap.items()):
                if n not in merged:
                    w.set_edge(keep, n, weight, new=n not in keep_edges)
            w.put_vertex(keep, total)
            w.commit()
            return keep

    def put_property(self, a: int, name: str, value: bytes, b: int | None = None) -> None:
        """Set a vertex property (or with ``b`` an edge property); the vertex or edge
        must exist. An empty value deletes it (see :meth:`put_properties`)."""
        self.put_properties(name, [(a, b, value)])

    def put_properties(self, name: str, items: Iterable[tuple[int, int | None, bytes]]) -> int:
        """Set property ``name`` of several vertices / edges in one write; returns how many.

        An empty value deletes the property: DVID reads a missing property as an empty
        one (``GET property`` answers 200 with no bytes, a transaction size 0), so the
        two cannot be told apart over its API, and here they are the same thing.
        """
        checked = [(self._prop_key(a, name, b), a, b, bytes(v)) for a, b, v in items]
        self._check_writable()
        with self.lock:
            w = PendingWrites(self)
            for tk, a, b, value in checked:
                owner = K.vertex(a) if b is None else K.edge(a, b)
                if w.get(owner) is None:
                    raise NotFoundError(
                        f"vertex {a} not found" if b is None else f"edge {a}-{b} not found"
                    )
                w.values[tk] = value or None
            w.commit()
            return len(checked)

    def delete_property(self, a: int, name: str, b: int | None = None) -> bool:
        """Delete a vertex (or edge) property; returns whether it was set."""
        tk = self._prop_key(a, name, b)
        self._check_writable()
        with self.lock:
            if self._get(tk) is None:
                return False
            batch = self._batch()
            batch.delete(self.iid, tk)
            batch.commit()
            return True

    def _need_vertices(self, w: PendingWrites, a: int, b: int) -> None:
        for v in (a, b):
            if not w.has_vertex(v):
                raise NotFoundError(
                    f"vertex {v} of edge {a}-{b} not found", hint="add the vertex first"
                )

    @staticmethod
    def _weight_or_missing(w: PendingWrites, v: int) -> float:
        got = w.weight(K.vertex(v))
        if got is None:
            raise NotFoundError(f"vertex {v} not found")
        return got

    # ---------------------------------------------------------------- merges
    def rebuild_derived(
        self, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
    ) -> int:
        """Make the merge node a consistent graph (see :mod:`.merging`)."""
        return repair_merge(self, batch, sources, contested)


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared labelgraph interface
    from dvidctl.datatypes.labelgraph.protocol import LabelGraphAPI

    _: type[LabelGraphAPI] = LabelGraph
