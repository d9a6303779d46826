"""The labelgraph interface shared by local and remote instances.

:class:`~dvidctl.datatypes.labelgraph.ops.LabelGraph` and
:class:`~dvidctl.api.remote.labelgraph.RemoteLabelGraph` both satisfy
:class:`LabelGraphAPI`. Graphs go in and out as DVID's graph JSON
(``{"Transactions": [...], "Vertices": [{"Id", "Weight"}], "Edges": [{"Id1", "Id2",
"Weight"}]}``); both sides check input with :func:`.graphjson.parse_graph`, so bad
input is the same ``BadRequestError`` on either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dvidctl.datatypes.protocol import InstanceAPI

if TYPE_CHECKING:
    import networkx as nx


@runtime_checkable
class LabelGraphAPI(InstanceAPI, Protocol):
    """A weighted undirected graph of uint64 vertices, at one version."""

    def get_subgraph(self, vertices: Sequence[int] | None = None) -> dict[str, Any]:
        """The whole graph, or the listed vertices and every edge on them (graph JSON)."""
        ...

    def neighbors(self, vertex: int) -> dict[str, Any]:
        """The vertex, its neighbours and its edges (graph JSON, DVID's ``neighbors``)."""
        ...

    def put_subgraph(self, graph: Mapping[str, Any]) -> None:
        """Add or re-weight the vertices and edges of ``graph`` (DVID's ``POST subgraph``)."""
        ...

    def delete_subgraph(self, graph: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Delete the listed vertices and edges, or everything; counts what went."""
        ...

    def merge(self, graph: Mapping[str, Any]) -> int:
        """Merge the listed vertices into the last one; returns it."""
        ...

    def add_weights(self, graph: Mapping[str, Any]) -> None:
        """Add the weights given to the vertices' and edges' (DVID's ``POST weight``)."""
        ...

    def get_property(self, a: int, name: str, b: int | None = None) -> bytes:
        """A vertex (or, with ``b``, edge) property; NotFoundError if unset."""
        ...

    def put_property(self, a: int, name: str, value: bytes, b: int | None = None) -> None:
        """Set a vertex (or edge) property; the vertex or edge must exist. An empty
        value deletes it (DVID reads an unset property as empty)."""
        ...

    def delete_property(self, a: int, name: str, b: int | None = None) -> bool:
        """Delete a vertex (or edge) property; whether it was set."""
        ...

    def to_networkx(self, vertices: Sequence[int] | None = None) -> nx.Graph:
        """The graph (or a subgraph) as a ``networkx.Graph``."""
        ...

    def connected_components(self) -> list[list[int]]:
        """Vertex sets of the connected components, sorted."""
        ...


__all__ = ["LabelGraphAPI"]
