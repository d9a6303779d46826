"""The labelgraph datatype: keys, graph JSON, DVID's operations, versions, branches, merges."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.labelgraph import keys as K
from dvidctl.datatypes.labelgraph import transactions as tx
from dvidctl.datatypes.labelgraph.graphjson import dumps_go, go_float, parse_graph
from dvidctl.datatypes.labelgraph.ops import LabelGraph
from dvidctl.errors import BadRequestError, LockedNodeError, MergeConflictError, NotFoundError


def new_graph(repo: Repository, name: str = "g") -> LabelGraph:
    repo.new_instance("labelgraph", name)
    return graph_at(repo.head, name)


def graph_at(node: Any, name: str = "g") -> LabelGraph:
    inst = node.instance(name)
    assert isinstance(inst, LabelGraph)
    return inst


def body(vertices: list[Any] = (), edges: list[Any] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Graph JSON from ``v`` / ``(v, w)`` vertices and ``(a, b[, w])`` edges."""
    vs = [{"Id": v} if isinstance(v, int) else {"Id": v[0], "Weight": v[1]} for v in vertices]
    es = [{"Id1": e[0], "Id2": e[1], **({"Weight": e[2]} if len(e) > 2 else {})} for e in edges]
    return {"Vertices": vs, "Edges": es}


def state(g: LabelGraph) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    """Vertices and edges, checked consistent with the adjacency entries."""
    vs = dict(g.vertices())
    es = {(a, b): w for a, b, w in g.edges()}
    adj = {(K.pair_of(tk)) for tk, _ in g._scan(*K.class_range(K.CLASS_ADJ))}
    assert adj == {(a, b) for a, b in es} | {(b, a) for a, b in es}
    assert all(a in vs and b in vs for a, b in es), "an edge on a missing vertex"
    return vs, es


# ----------------------------------------------------------------------- keys
def test_keys_sort_by_id_and_are_prefix_free() -> None:
    assert K.vertex(2) < K.vertex(256) < K.vertex(K.MAX_ID)
    assert K.edge(5, 3) == K.edge(3, 5) and K.pair_of(K.edge(5, 3)) == (3, 5)
    assert K.eprop(9, 1, "a") == K.eprop(1, 9, "a")
    assert not K.vprop(1, "ab").startswith(K.vprop(1, "a"))
    start, stop = K.adj_range(K.MAX_ID)
    assert start < K.adj(K.MAX_ID, K.MAX_ID) < stop < K.vprop(1, "a")
    assert K.describe(K.edge(3, 5)) == "edge 3-5"
    assert K.describe(K.eprop(3, 5, "syn")) == "edge 3-5 property 'syn'"
    assert K.is_derived(K.adj(1, 2)) and not K.is_derived(K.edge(1, 2))
    assert registry.get("labelgraph").derived_key is K.is_derived
    for bad in (0, -1, 2**64, 1.5, True, "3"):
        with pytest.raises(BadRequestError):
            K.check_id(bad)
    with pytest.raises(BadRequestError, match="two different"):
        K.edge(4, 4)
    for bad in ("", "a/b", "a\x00"):
        with pytest.raises(BadRequestError):
            K.vprop(1, bad)


# ------------------------------------------------------------------ graph JSON
def test_parse_graph_follows_dvids_schema_and_go_decoding() -> None:
    g = parse_graph({"Vertices": [{"Id": 3, "Weight": 2}], "Edges": [{"Id1": 3, "Id2": 4}]})
    assert g.vertices == [(3, 2.0)] and g.edges == [(3, 4, 0.0)]
    with pytest.raises(BadRequestError, match="Edges is required"):
        parse_graph({"Vertices": []})
    with pytest.raises(BadRequestError, match="numeric Id"):
        parse_graph({"Vertices": [{"id": 3}], "Edges": []})
    with pytest.raises(BadRequestError, match="uniqueItems"):
        parse_graph({"Vertices": [{"Id": 3}, {"Id": 3}], "Edges": []})
    # unsafe: no schema; Go matches field names case-insensitively
    g = parse_graph({"vertices": [{"id": 3, "weight": 1.5}]}, unsafe=True)
    assert g.vertices == [(3, 1.5)] and g.edges == []
    for bad in ({"Id": 0}, {"Id": -2}, {"Id": 2**64}, {"Id": 1.5}, {"Id": 1, "Weight": "x"}):
        with pytest.raises(BadRequestError):
            parse_graph({"Vertices": [bad], "Edges": []})
    with pytest.raises(BadRequestError, match="two different"):
        parse_graph({"Vertices": [], "Edges": [{"Id1": 2, "Id2": 2}]})
    assert parse_graph(
        {"Transactions": [{"Id": 5, "Trans": 7}], "Vertices": [], "Edges": []}
    ).transactions == [(5, 7)]


def test_floats_are_written_as_go_writes_them() -> None:
    cases = {
        100.0: "100", 3.5: "3.5", 0.0: "0", -2.0: "-2", 1e20: "100000000000000000000",
        1e21: "1e+21", 1e-7: "1e-7", 0.000001: "0.000001", 0.1: "0.1", 2.5e-10: "2.5e-10",
    }  # fmt: skip
    for f, want in cases.items():
        assert go_float(f) == want, f
    doc = {"Transactions": [], "Vertices": [{"Id": 2**64 - 1, "Weight": 4.0}], "Edges": None}
    assert dumps_go(doc) == (
        b'{"Transactions":[],"Vertices":[{"Id":18446744073709551615,"Weight":4}],"Edges":null}'
    )


# ------------------------------------------------------------------- operations
def test_subgraph_neighbors_and_weights(mem_repo: Repository) -> None:
    g = new_graph(mem_repo)
    g.put_subgraph(body([(1, 10), (2, 5), 3, 4], [(2, 1, 1.5), (2, 3, 2), (3, 4)]))
    assert g.get_subgraph() == {
        "Transactions": [],
        "Vertices": [{"Id": 1, "Weight": 10.0}, {"Id": 2, "Weight": 5.0},
                     {"Id": 3, "Weight": 0.0}, {"Id": 4, "Weight": 0.0}],
        "Edges": [{"Id1": 1, "Id2": 2, "Weight": 1.5}, {"Id1": 2, "Id2": 3, "Weight": 2.0},
                  {"Id1": 3, "Id2": 4, "Weight": 0.0}],
    }  # fmt: skip
    # DVID's GET subgraph with a vertex list: those vertices, every edge on them once
    sub = g.get_subgraph([3, 2])
    assert [v["Id"] for v in sub["Vertices"]] == [3, 2]
    assert [(e["Id1"], e["Id2"]) for e in sub["Edges"]] == [(2, 3), (3, 4), (1, 2)]
    nb = g.neighbors(2)
    assert nb["Transactions"] is None
    assert [v["Id"] for v in nb["Vertices"]] == [2, 1, 3]
    assert g.neighbors(1)["Edges"] == [{"Id1": 1, "Id2": 2, "Weight": 1.5}]
    g.put_subgraph(body([5]))
    assert g.neighbors(5)["Edges"] is None  # Go's nil slice
    # re-posting a vertex sets its weight and keeps its edges
    g.put_subgraph(body([(2, 7)]))
    assert g.vertex_weight(2) == 7.0 and g.neighbor_ids(2) == [1, 3]
    # weights are increments; missing vertices and edges are created
    g.add_weights(body([(1, 1), (9, 4)], [(1, 2, 1), (4, 9, 2.5)]))
    assert g.vertex_weight(1) == 11.0 and g.vertex_weight(9) == 4.0
    assert g.edge_weight(2, 1) == 2.5 and g.edge_weight(9, 4) == 2.5
    assert g.connected_components() == [[1, 2, 3, 4, 9], [5]]
    nxg = g.to_networkx()
    assert nxg.nodes[1]["weight"] == 11.0 and nxg.edges[1, 2]["weight"] == 2.5
    state(g)


def test_bulk_writes_into_an_empty_and_a_full_graph(mem_repo: Repository) -> None:
    """Writes of 1000+ items first ask whether the graph is empty (then read nothing)."""
    g = new_graph(mem_repo)
    ring = [(v, v % 1200 + 1, 1.0) for v in range(1, 1201)]
    g.put_subgraph(body(list(range(1, 1201)), ring))
    vs, es = state(g)
    assert len(vs) == 1200 and len(es) == 1200 and g.neighbor_ids(1) == [2, 1200]
    # into the full graph: existing edges re-weighted (not made twice), new ones added
    more = [(v, v + 600, 2.0) for v in range(1, 601)] + [(a, b, 3.0) for a, b, _ in ring[:500]]
    g.put_subgraph(body([(v, 1) for v in range(1, 1201)], more))
    vs, es = state(g)
    assert len(es) == 1800 and es[(1, 2)] == 3.0 and es[(1, 601)] == 2.0 and vs[7] == 1.0
    assert g.neighbor_ids(1) == [2, 601, 1200]


def test_bad_writes_change_nothing(mem_repo: Repository) -> None:
    g = new_graph(mem_repo)
    g.put_subgraph(body([1, 2], [(1, 2, 1)]))
    before = state(g)
    with pytest.raises(NotFoundError, match="vertex 7 of edge 1-7"):
        g.put_subgraph(body([3], [(1, 3), (1, 7)]))  # vertex 3 would be added first
    with pytest.raises(NotFoundError):
        g.add_weights(body([(1, 5)], [(1, 8, 1)]))
    with pytest.raises(BadRequestError, match="over 1000"):
        g.add_weights(body(list(range(1, 1002))))
    with pytest.raises(NotFoundError, match="vertex 4"):
        g.put_property(4, "p", b"x")
    with pytest.raises(NotFoundError, match="edge 1-3"):
        g.put_properties("p", [(1, None, b"ok"), (1, 3, b"x")])
    with pytest.raises(NotFoundError):
        g.neighbors(6)
    with pytest.raises(NotFoundError):
        g.get_subgraph([1, 6])
    assert state(g) == before and g.property_names(1) == []


def test_properties_of_vertices_and_edges(mem_repo: Repository) -> None:
    g = new_graph(mem_repo)
    g.put_subgraph(body([1, 2, 3], [(1, 2)]))
    g.put_property(1, "name", b"\x00bytes\xff")
    g.put_property(2, "syn", b"edge", 1)
    g.put_property(1, "empty", b"x")
    assert g.get_property(1, "name") == b"\x00bytes\xff"
    assert g.get_property(1, "syn", 2) == b"edge" and g.get_property(2, "syn", 1) == b"edge"
    assert g.property_names(1) == ["empty", "name"] and g.property_names(1, 2) == ["syn"]
    g.put_property(1, "empty", b"")  # empty is unset, as DVID reads it
    assert g.property_names(1) == ["name"]
    assert g.get_properties("name", [(1, None), (2, None)]) == [b"\x00bytes\xff", None]
    with pytest.raises(NotFoundError):
        g.get_property(2, "name")
    assert g.delete_property(1, "name") and not g.delete_property(1, "name")
    assert not g.delete_property(77, "name")  # DVID: nothing to do
    # deleting the edge takes its properties; deleting a vertex takes its own
    assert g.delete_subgraph(body([], [(2, 1)])) == {"vertices": 0, "edges": 1}
    g.put_subgraph(body([], [(1, 2)]))
    assert g.property_names(1, 2) == []
    assert g.delete_subgraph(body([1])) == {"vertices": 1, "edges": 1}
    assert g.property_names(1) == [] and state(g) == ({2: 0.0, 3: 0.0}, {})
    assert g.delete_subgraph() == {"vertices": 2, "edges": 0}
    assert list(g._scan(K.ALL_START, K.ALL_STOP)) == []


def test_merge_as_dvid(mem_repo: Repository) -> None:
    """DVID's handleMerge: the last vertex survives, weights summed, edges to the same
    neighbour summed, edges among the merged vertices gone, merged vertices removed."""
    g = new_graph(mem_repo)
    g.put_subgraph(
        body([(1, 10), (2, 20), (3, 30), (4, 1), (5, 2)],
             [(1, 2, 1), (1, 4, 2), (2, 4, 3), (2, 5, 4), (3, 5, 5), (1, 3, 6)])
    )  # fmt: skip
    g.put_property(1, "p", b"gone")
    g.put_property(3, "p", b"kept")
    g.put_property(3, "q", b"kept", 5)
    g.put_property(2, "q", b"gone", 5)
    assert g.merge(body([1, 2, 3])) == 3
    vs, es = state(g)
    assert vs == {3: 60.0, 4: 1.0, 5: 2.0}
    assert es == {(3, 4): 5.0, (3, 5): 9.0}
    assert g.get_property(3, "p") == b"kept" and g.property_names(1) == []
    assert g.get_property(3, "q", 5) == b"kept"  # the survivor's edge keeps its properties
    # a non-zero survivor weight, and an edge weight from the survivor, are used as given
    g.put_subgraph(body([(6, 1)], [(6, 4, 1)]))
    g.merge(body([6, (3, 99)], [(4, 3, 0.5)]))
    vs, es = state(g)
    assert vs == {3: 99.0, 4: 1.0, 5: 2.0} and es == {(3, 4): 0.5, (3, 5): 9.0}
    with pytest.raises(BadRequestError, match="at least two"):
        g.merge(body([3]))
    with pytest.raises(BadRequestError, match="twice"):
        g.merge(body([4, 3, (4, 1)]))  # not identical items: past the schema
    with pytest.raises(NotFoundError, match="vertex 8"):
        g.merge(body([8, 3]))
    assert state(g) == (vs, es)


# --------------------------------------------------------------- versions
def test_versions_read_in_place_and_committed_nodes_refuse(mem_repo: Repository) -> None:
    g = new_graph(mem_repo)
    g.put_subgraph(body([1, 2], [(1, 2, 1)]))
    c1, _ = mem_repo.commit("one")
    graph_at(mem_repo.head).merge(body([1, 2]))
    graph_at(mem_repo.head).put_subgraph(body([3], [(2, 3)]))
    c2, _ = mem_repo.commit("two")
    graph_at(mem_repo.head).delete_subgraph()
    assert state(graph_at(c1)) == ({1: 0.0, 2: 0.0}, {(1, 2): 1.0})
    assert state(graph_at(c2)) == ({2: 0.0, 3: 0.0}, {(2, 3): 0.0})
    assert state(graph_at(mem_repo.head)) == ({}, {})
    old = graph_at(c1)
    for write in (
        lambda: old.put_subgraph(body([9])),
        lambda: old.merge(body([1, 2])),
        lambda: old.add_weights(body([1])),
        lambda: old.put_property(1, "p", b"x"),
        lambda: old.delete_subgraph(),
    ):
        with pytest.raises(LockedNodeError):
            write()
    assert state(graph_at(c1)) == ({1: 0.0, 2: 0.0}, {(1, 2): 1.0})


def _two_branches(repo: Repository) -> LabelGraph:
    g = new_graph(repo)
    g.put_subgraph(body([1, 2, 3, 4], [(1, 2, 1), (3, 4, 1)]))
    g.put_property(1, "name", b"one")
    repo.commit("base")
    repo.branch("side")
    return g


def test_disjoint_edits_merge_without_conflict(mem_repo: Repository) -> None:
    _two_branches(mem_repo)
    mem_repo.checkout("side")
    side = graph_at(mem_repo.head)
    side.put_subgraph(body([5], [(1, 5, 2), (1, 3, 7)]))  # new edges on vertex 1
    side.add_weights(body([(3, 1)]))
    side.put_property(1, "side", b"s")
    mem_repo.commit("side edits")
    mem_repo.checkout("master")
    ours = graph_at(mem_repo.head)
    ours.put_subgraph(body([6], [(1, 6, 3), (1, 4, 4)]))  # other new edges on vertex 1
    ours.add_weights(body([], [(1, 2, 1)]))
    ours.put_property(1, "name", b"uno")
    mem_repo.commit("our edits")
    merged = mem_repo.merge(["side"], "merge").node
    assert merged is not None
    m = graph_at(merged)
    vs, es = state(m)
    assert vs == {1: 0.0, 2: 0.0, 3: 1.0, 4: 0.0, 5: 0.0, 6: 0.0}
    assert es == {(1, 2): 2.0, (3, 4): 1.0, (1, 5): 2.0, (1, 3): 7.0, (1, 6): 3.0, (1, 4): 4.0}
    assert m.neighbor_ids(1) == [2, 3, 4, 5, 6]
    assert m.get_property(1, "name") == b"uno" and m.get_property(1, "side") == b"s"


def test_merge_drops_edges_and_properties_left_on_a_deleted_vertex(mem_repo: Repository) -> None:
    _two_branches(mem_repo)
    mem_repo.checkout("side")
    side = graph_at(mem_repo.head)
    side.put_subgraph(body([7], [(1, 7, 2)]))  # an edge to vertex 1 ...
    side.put_property(7, "e", b"x", 1)
    mem_repo.commit("side")
    mem_repo.checkout("master")
    graph_at(mem_repo.head).delete_subgraph(body([1]))  # ... which this side deletes
    mem_repo.commit("ours")
    merged = mem_repo.merge(["side"], "merge").node
    assert merged is not None
    m = graph_at(merged)
    vs, es = state(m)  # consistent: no edge on a missing vertex
    assert vs == {2: 0.0, 3: 0.0, 4: 0.0, 7: 0.0} and es == {(3, 4): 1.0}
    assert m.property_names(1, 7) == [] and m.neighbor_ids(7) == []


def test_the_same_edge_changed_on_both_sides_is_a_conflict(mem_repo: Repository) -> None:
    _two_branches(mem_repo)
    mem_repo.checkout("side")
    graph_at(mem_repo.head).put_subgraph(body([], [(1, 2, 5)]))
    mem_repo.commit("side")
    mem_repo.checkout("master")
    graph_at(mem_repo.head).put_subgraph(body([], [(2, 1, 6)]))
    mem_repo.commit("ours")
    with pytest.raises(MergeConflictError) as err:
        mem_repo.merge(["side"], "merge")
    assert "edge 1-2" in str(err.value.details)
    merged = mem_repo.merge(["side"], "merge", strategy="theirs").node
    assert merged is not None
    assert state(graph_at(merged))[1][(1, 2)] == 5.0


def test_deleted_vertex_against_a_reweighted_edge_resolves_consistently(
    mem_repo: Repository,
) -> None:
    _two_branches(mem_repo)
    mem_repo.checkout("side")
    graph_at(mem_repo.head).add_weights(body([], [(1, 2, 1)]))
    mem_repo.commit("side")
    mem_repo.checkout("master")
    graph_at(mem_repo.head).delete_subgraph(body([1]))
    mem_repo.commit("ours")
    # theirs keeps the re-weighted edge, but its vertex 1 is gone: the merge drops it
    merged = mem_repo.merge(["side"], "merge", strategy="theirs").node
    assert merged is not None
    vs, es = state(graph_at(merged))
    assert 1 not in vs and es == {(3, 4): 1.0}


# ------------------------------------------------------------ transactions
def test_transaction_log_as_dvid() -> None:
    log = tx.TransactionLog()
    g1 = log.begin([(1, 0), (2, 0)], readonly=True)  # first sight: new ids
    assert g1.locked == {1: 1, 2: 2}
    g2 = log.begin([(1, 0), (3, 0)], readonly=True)  # 1 is held by g1
    assert g2.locked == {3: 3} and g2.busy == [1]
    log.close(g1)
    log.close(g2)
    w = log.begin([(1, 1), (2, 99), (4, 0)], readonly=False)  # 2 outdated, 4 unknown
    assert w.locked == {1: 4} and w.outdated == [2, 4]
    log.close(w)
    assert log.begin([(1, 0)], readonly=True).locked == {1: 4}
    enc = w.encode()
    assert struct.unpack("<5Q", enc[:40]) == (1, 1, 4, 2, 2) and len(enc) == 48
    with pytest.raises(BadRequestError, match="over 1000"):
        log.begin([(i, 0) for i in range(1, 1002)], readonly=True)


def test_property_transaction_bodies() -> None:
    q = struct.Struct("<Q")
    raw = b"".join(q.pack(n) for n in (1, 5, 0, 2, 5, 6, 3)) + b"abc" + q.pack(5) + q.pack(6)
    raw += q.pack(0)
    req = tx.parse_request(raw, edges=True, post=True)
    assert req.locks == [(5, 0)] and req.items == [(5, 6, b"abc"), (5, 6, b"")]
    for cut in (4, 20, len(raw) - 9):
        with pytest.raises(BadRequestError):
            tx.parse_request(raw[:cut], edges=True, post=True)
    assert tx.encode_values([(5, None, b"xy")]) == q.pack(1) + q.pack(5) + q.pack(2) + b"xy"
