"""networkx views of a labelgraph (DVID's graph JSON in, ``networkx.Graph`` out).

networkx is imported when first used, so the datatype loads without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx


def to_networkx(doc: Mapping[str, Any]) -> nx.Graph:
    """A graph JSON document as a ``networkx.Graph`` (``weight`` on nodes and edges)."""
    import networkx as nx

    g = nx.Graph()
    for v in doc.get("Vertices") or []:
        g.add_node(int(v["Id"]), weight=float(v.get("Weight", 0.0)))
    for e in doc.get("Edges") or []:
        g.add_edge(int(e["Id1"]), int(e["Id2"]), weight=float(e.get("Weight", 0.0)))
    return g


def components(g: nx.Graph) -> list[list[int]]:
    """Connected components of ``g``: sorted vertex lists, ordered by smallest vertex."""
    import networkx as nx

    return sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: c[0])
