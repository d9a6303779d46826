"""labelgraph over HTTP: :class:`~dvidctl.datatypes.labelgraph.protocol.LabelGraphAPI` on
any server that has DVID's labelgraph endpoints.

Graphs are checked here as the local instance checks them
(:func:`dvidctl.datatypes.labelgraph.graphjson.parse_graph`), so bad input is refused
before a request is sent. DVID answers a missing vertex or edge with 400 and an unset
property with an empty 200; both become NotFoundError here, as the local instance raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.datatypes.labelgraph import keys as K
from dvidctl.datatypes.labelgraph.graphjson import graph_doc, parse_graph
from dvidctl.datatypes.labelgraph.nxview import components, to_networkx
from dvidctl.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    import networkx as nx

_NOT_FOUND = re.compile(r"\bnot found\b|Failed to retrieve", re.IGNORECASE)


def _floats(doc: dict[str, Any]) -> dict[str, Any]:
    """Weights as floats (Go writes ``100`` for 100.0), the rest as sent."""
    for part in ("Vertices", "Edges"):
        for item in doc.get(part) or []:
            item["Weight"] = float(item.get("Weight", 0.0))
    return doc


class RemoteLabelGraph(RemoteInstance):
    """labelgraph over HTTP: the methods of :class:`dvidctl.datatypes.labelgraph.LabelGraph`."""

    datatype = "labelgraph"

    def _call(self, method: str, *parts: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.repo.request(method, self.path(*parts), **kwargs)
        except BadRequestError as exc:
            if _NOT_FOUND.search(exc.message) and "locked" not in exc.message:
                raise NotFoundError(exc.message) from None
            raise

    def get_subgraph(self, vertices: Sequence[int] | None = None) -> dict[str, Any]:
        """The whole graph, or the listed vertices and every edge on them."""
        body = b""
        if vertices:
            listed = [K.check_id(v) for v in dict.fromkeys(vertices)]
            body = json.dumps(graph_doc([(v, 0.0) for v in listed], [])).encode()
        got: dict[str, Any] = self._call("GET", "subgraph", content=body).json()
        return _floats(got)

    def neighbors(self, vertex: int) -> dict[str, Any]:
        """The vertex, its neighbours and its edges."""
        got: dict[str, Any] = self._call("GET", "neighbors", str(K.check_id(vertex))).json()
        return _floats(got)

    def put_subgraph(self, graph: Mapping[str, Any]) -> None:
        """Add or re-weight vertices and edges."""
        parse_graph(graph)
        self._call("POST", "subgraph", content=json.dumps(graph))

    def delete_subgraph(self, graph: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Delete the listed vertices and edges, or everything (counted from two reads)."""
        body = b""
        if graph is not None:
            parse_graph(graph)
            body = json.dumps(graph).encode()
        before = self.get_subgraph()
        self._call("DELETE", "subgraph", content=body)
        after = self.get_subgraph()
        return {
            p.lower(): len(before.get(p) or []) - len(after.get(p) or [])
            for p in ("Vertices", "Edges")
        }

    def merge(self, graph: Mapping[str, Any]) -> int:
        """Merge the listed vertices into the last one; returns it."""
        g = parse_graph(graph)
        if len(g.vertices) < 2:
            raise BadRequestError("Must specify at least two vertices for merging")
        if len({v for v, _ in g.vertices}) != len(g.vertices):
            raise BadRequestError("a merge lists a vertex twice")
        self._call("POST", "merge", content=json.dumps(graph))
        return g.vertices[-1][0]

    def add_weights(self, graph: Mapping[str, Any]) -> None:
        """Add the weights given to the vertices' and edges'."""
        parse_graph(graph)
        self._call("POST", "weight", content=json.dumps(graph))

    def _prop_path(self, a: int, name: str, b: int | None) -> list[str]:
        ids = [str(K.check_id(a))] + ([] if b is None else [str(K.check_id(b))])
        if b is not None and b == a:
            raise BadRequestError(f"an edge needs two different vertices, got {a}-{b}")
        return ["property", *ids, K.check_prop(name)]

    def get_property(self, a: int, name: str, b: int | None = None) -> bytes:
        """A vertex (or edge) property; NotFoundError if unset (DVID answers an unset
        property with an empty 200, and an empty property is an unset one)."""
        got = self._call("GET", *self._prop_path(a, name, b)).content
        if not got:
            what = f"vertex {a}" if b is None else f"edge {a}-{b}"
            raise NotFoundError(f"property {name!r} of {what} not found")
        return got

    def put_property(self, a: int, name: str, value: bytes, b: int | None = None) -> None:
        """Set a vertex (or edge) property."""
        self._call("POST", *self._prop_path(a, name, b), content=bytes(value))

    def delete_property(self, a: int, name: str, b: int | None = None) -> bool:
        """Delete a vertex (or edge) property; whether it was set."""
        try:
            self.get_property(a, name, b)
        except NotFoundError:
            return False
        self._call("DELETE", *self._prop_path(a, name, b))
        return True

    def to_networkx(self, vertices: Sequence[int] | None = None) -> nx.Graph:
        """The graph (or a subgraph) as a ``networkx.Graph``."""
        return to_networkx(self.get_subgraph(vertices))

    def connected_components(self) -> list[list[int]]:
        """Vertex sets of the connected components, sorted."""
        return components(self.to_networkx())


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared labelgraph interface
    from dvidctl.datatypes.labelgraph.protocol import LabelGraphAPI

    _: type[LabelGraphAPI] = RemoteLabelGraph
