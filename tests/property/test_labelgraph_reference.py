"""Property test: random labelgraph edits agree with a networkx reference graph.

Each example is a sequence of DVID operations (POST subgraph, POST weight, DELETE
subgraph, POST merge) over a few vertex ids, with commits in between. The
reference applies DVID's semantics to a ``networkx.Graph``; after every step the
instance's vertices, edges, weights, neighbours and connected components must be
the reference's, a refused step must leave both unchanged, and every committed
version must still read as the reference did when it was committed.
"""

from __future__ import annotations

import copy
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes.labelgraph.ops import LabelGraph
from dvidctl.errors import NotFoundError

IDS = st.integers(1, 7)
W = st.integers(-3, 5).map(float)  # whole numbers: sums are exact in any order


class Refused(Exception):
    """The reference refuses the step (a vertex it needs is missing)."""


def _need(g: nx.Graph, *vs: int) -> None:
    if any(v not in g for v in vs):
        raise Refused


def ref_apply(g: nx.Graph, op: tuple[Any, ...]) -> None:
    """DVID's semantics, on a networkx graph (raises Refused, leaving ``g`` as it was)."""
    kind = op[0]
    if kind == "put":
        _, vs, es = op
        h = g.copy()
        for v, w in vs:
            if v in h:
                h.nodes[v]["weight"] = w
            else:
                h.add_node(v, weight=w)
        for a, b, w in es:
            _need(h, a, b)
            h.add_edge(a, b, weight=w)
    elif kind == "weight":
        _, vs, es = op
        h = g.copy()
        for v, w in vs:
            if v in h:
                h.nodes[v]["weight"] += w
            else:
                h.add_node(v, weight=w)
        for a, b, w in es:
            if h.has_edge(a, b):
                h.edges[a, b]["weight"] += w
            else:
                _need(h, a, b)
                h.add_edge(a, b, weight=w)
    elif kind == "delete":
        _, vs, es = op
        h = g.copy()
        if not vs and not es:
            h.clear()
        h.remove_nodes_from(vs)
        h.remove_edges_from([(a, b) for a, b, _ in es if h.has_edge(a, b)])
    else:  # merge
        _, ids = op
        _need(g, *ids)
        h = g.copy()
        keep = ids[-1]
        total = sum(h.nodes[v]["weight"] for v in ids)
        overlap: dict[int, float] = {}
        for v in ids:
            for n in h[v]:
                overlap[n] = overlap.get(n, 0.0) + h.edges[v, n]["weight"]
        h.remove_nodes_from(ids[:-1])
        for n, w in overlap.items():
            if n not in ids:
                h.add_edge(keep, n, weight=w)
        h.nodes[keep]["weight"] = total
    g.clear()
    g.update(h)


def body(vs: list[tuple[int, float]], es: list[tuple[int, int, float]]) -> dict[str, Any]:
    return {
        "Vertices": [{"Id": v, "Weight": w} for v, w in vs],
        "Edges": [{"Id1": a, "Id2": b, "Weight": w} for a, b, w in es],
    }


def inst_apply(g: LabelGraph, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "put":
        g.put_subgraph(body(op[1], op[2]))
    elif kind == "weight":
        g.add_weights(body(op[1], op[2]))
    elif kind == "delete":
        g.delete_subgraph(body(op[1], op[2]) if op[1] or op[2] else None)
    else:
        g.merge(body([(v, 0.0) for v in op[1]], []))


def snapshot(g: nx.Graph) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    vs = {int(v): float(d["weight"]) for v, d in g.nodes(data=True)}
    es = {(min(a, b), max(a, b)): float(d["weight"]) for a, b, d in g.edges(data=True)}
    return vs, es


def read(g: LabelGraph) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    return dict(g.vertices()), {(a, b): w for a, b, w in g.edges()}


def check(inst: LabelGraph, ref: nx.Graph) -> None:
    assert read(inst) == snapshot(ref)
    for v in ref.nodes:
        assert inst.neighbor_ids(v) == sorted(ref[v])
    want = sorted((sorted(c) for c in nx.connected_components(ref)), key=lambda c: c[0])
    assert inst.connected_components() == want


def _distinct_edges(es: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    return [(a, b, w) for a, b, w in es if a != b]


# unique: DVID's schema refuses two identical items in an array
EDGES = st.lists(st.tuples(IDS, IDS, W), max_size=4, unique=True).map(_distinct_edges)
VERTS = st.lists(st.tuples(IDS, W), max_size=4, unique=True)
OPS = st.one_of(
    st.tuples(st.just("put"), VERTS, EDGES),
    st.tuples(st.just("weight"), VERTS, EDGES),
    st.tuples(st.just("delete"), st.lists(st.tuples(IDS, W), max_size=2, unique=True), EDGES),
    st.tuples(st.just("merge"), st.lists(IDS, min_size=2, max_size=3, unique=True)),
    st.just(("commit",)),
)


@settings(max_examples=60)
@given(st.lists(OPS, min_size=1, max_size=14))
def test_random_edits_match_the_networkx_reference(ops: list[tuple[Any, ...]]) -> None:
    with Repository.memory() as repo:
        repo.new_instance("labelgraph", "g")
        ref = nx.Graph()
        committed: list[tuple[Any, tuple[Any, ...]]] = []
        for op in ops:
            if op[0] == "commit":
                node, _ = repo.commit("step")
                committed.append((node, snapshot(ref)))
                continue
            inst = repo.head.instance("g")
            assert isinstance(inst, LabelGraph)
            before = copy.deepcopy(snapshot(ref))
            try:
                ref_apply(ref, op)
                refused = False
            except Refused:
                refused = True
            if refused:
                try:
                    inst_apply(inst, op)
                except NotFoundError:
                    pass
                else:
                    raise AssertionError(f"{op} should have been refused")
                assert snapshot(ref) == before
            else:
                inst_apply(inst, op)
            check(inst, ref)
        for node, snap in committed:
            inst = node.instance("g")
            assert read(inst) == snap
