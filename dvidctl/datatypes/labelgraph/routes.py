"""labelgraph HTTP routes (DVID_API.md §8; DVID's ``labelgraph.go``), below
``/api/node/{uuid}/{name}/``. Each handler parses, calls one instance method, and
answers as DVID does: graph JSON with Go's floats, empty 200s for writes, raw bytes
for properties, DVID's binary format for property transactions."""

from __future__ import annotations

import re

from starlette.responses import Response

from dvidctl.datatypes.labelgraph import transactions as tx
from dvidctl.datatypes.labelgraph.graphjson import dumps_go, parse_graph_bytes
from dvidctl.datatypes.labelgraph.keys import check_id
from dvidctl.datatypes.labelgraph.ops import LabelGraph
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import OCTET

_UINT = re.compile(r"[0-9]{1,20}")
JSON = "application/json"


def _graph(call: Call) -> LabelGraph:
    inst = call.instance
    assert isinstance(inst, LabelGraph)
    return inst


def _vertex(text: str) -> int:
    """A vertex id in a URL (DVID: "Vertex number not provided" when it is not one)."""
    if not _UINT.fullmatch(text):
        raise BadRequestError(f"Vertex number not provided: {text!r} is not a vertex id")
    return check_id(int(text))


def _json(doc: object) -> Response:
    return Response(dumps_go(doc), media_type=JSON)


def subgraph_get(call: Call) -> Response:
    """``GET subgraph``: the whole graph, or the vertices a body lists and their edges."""
    body = parse_graph_bytes(call.body, unsafe=call.flag("unsafe"))
    return _json(_graph(call).get_subgraph([v for v, _ in body.vertices]))


def subgraph_post(call: Call) -> Response:
    """``POST subgraph``: add vertices and edges (weights set, connections kept)."""
    _graph(call).put_subgraph(parse_graph_bytes(call.body, unsafe=call.flag("unsafe")))
    return Response(b"")


def subgraph_delete(call: Call) -> Response:
    """``DELETE subgraph``: the listed vertices and edges, or the whole graph."""
    _graph(call).delete_subgraph(parse_graph_bytes(call.body, unsafe=call.flag("unsafe")))
    return Response(b"")


def neighbors(call: Call) -> Response:
    """``GET neighbors/{vertex}``."""
    return _json(_graph(call).neighbors(_vertex(call.params["vertex"])))


def merge(call: Call) -> Response:
    """``POST merge[/nohistory]``: merge the body's vertices into the last one."""
    _graph(call).merge(parse_graph_bytes(call.body))
    return Response(b"")


def weight(call: Call) -> Response:
    """``POST weight``: increment weights (creating what is missing)."""
    _graph(call).add_weights(parse_graph_bytes(call.body))
    return Response(b"")


def undomerge(call: Call) -> Response:
    """``POST undomerge``: never implemented in DVID."""
    raise BadRequestError("undomerge not yet implemented")


def _prop_target(call: Call) -> tuple[int, int | None]:
    a = _vertex(call.params["v1"])
    b = _vertex(call.params["v2"]) if "v2" in call.params else None
    return a, b


def property_get(call: Call) -> Response:
    """``GET property/{v}/{key}`` or ``property/{v1}/{v2}/{key}``: raw bytes; a property
    that is not set reads as empty (200), as DVID answers."""
    a, b = _prop_target(call)
    try:
        value = _graph(call).get_property(a, call.params["key"], b)
    except NotFoundError:
        value = b""
    return Response(value, media_type=OCTET)


def property_post(call: Call) -> Response:
    """``POST property/...``: the body is the value."""
    a, b = _prop_target(call)
    _graph(call).put_property(a, call.params["key"], bytes(call.body), b)
    return Response(b"")


def property_delete(call: Call) -> Response:
    """``DELETE property/...`` (absent: nothing to do, as DVID)."""
    a, b = _prop_target(call)
    _graph(call).delete_property(a, call.params["key"], b)
    return Response(b"")


def _txn_kind(call: Call) -> bool:
    kind = call.params["kind"]
    if kind not in ("edges", "vertices"):
        raise BadRequestError("Must specify edges or vertices in URI")
    return kind == "edges"


def transaction_get(call: Call) -> Response:
    """``GET propertytransaction/{edges|vertices}/{prop}``: lock, then read the values
    of the items whose vertices this request locked."""
    edges = _txn_kind(call)
    req = tx.parse_request(call.body, edges=edges, post=False)
    inst = _graph(call)
    log = tx.log_for(inst.record.data_uuid)
    group = log.begin(req.locks, readonly=True)
    try:
        wanted = [(a, b) for a, b, _ in req.items if group.holds(a, *(() if b is None else (b,)))]
        values = inst.get_properties(call.params["prop"], wanted)
        out = group.encode() + tx.encode_values(
            [(a, b, v) for (a, b), v in zip(wanted, values, strict=True)]
        )
    finally:
        log.close(group)
    return Response(out, media_type=OCTET)


def transaction_post(call: Call) -> Response:
    """``POST propertytransaction/...``: write the values (non-empty ones) of the items
    whose vertices this request locked with their current transaction ids."""
    edges = _txn_kind(call)
    req = tx.parse_request(call.body, edges=edges, post=True)
    inst = _graph(call)
    log = tx.log_for(inst.record.data_uuid)
    group = log.begin(req.locks, readonly=False)
    try:
        items = [
            (a, b, v) for a, b, v in req.items if v and group.holds(a, *(() if b is None else (b,)))
        ]
        inst.put_properties(call.params["prop"], items)
        out = group.encode()
    finally:
        log.close(group)
    return Response(out, media_type=OCTET)


def routes() -> list[Route]:
    """The labelgraph route table."""
    graph_body = "application/json"
    prop_paths = ("property/{v1}/{key}", "property/{v1}/{v2}/{key}")
    out = [
        Route(
            "subgraph",
            ("GET",),
            subgraph_get,
            "The graph, or listed vertices and their edges",
            body=graph_body,
        ),
        Route("subgraph", ("POST",), subgraph_post, "Add vertices and edges", body=graph_body),
        Route(
            "subgraph",
            ("DELETE",),
            subgraph_delete,
            "Delete listed vertices and edges, or everything",
            body=graph_body,
        ),
        Route("neighbors/{vertex}", ("GET",), neighbors, "A vertex, its neighbours and edges"),
        Route("merge", ("POST",), merge, "Merge vertices into the last", body=graph_body),
        Route("merge/{extra}", ("POST",), merge, "merge (nohistory: the same)", body=graph_body),
        Route("weight", ("POST",), weight, "Add to vertex and edge weights", body=graph_body),
        Route("undomerge", ("GET", "POST"), undomerge, "Not implemented (400)", mutates=False),
        Route(
            "propertytransaction/{kind}/{prop}",
            ("GET",),
            transaction_get,
            "Lock vertices and read a property of vertices or edges",
            body=OCTET,
            produces=OCTET,
        ),
        Route(
            "propertytransaction/{kind}/{prop}",
            ("POST",),
            transaction_post,
            "Write a property of vertices or edges under transaction ids",
            body=OCTET,
            produces=OCTET,
        ),
    ]
    for path in prop_paths:
        out += [
            Route(path, ("GET",), property_get, "A property's bytes", produces=OCTET),
            Route(path, ("POST",), property_post, "Set a property", body=OCTET),
            Route(path, ("DELETE",), property_delete, "Delete a property"),
        ]
    return out
