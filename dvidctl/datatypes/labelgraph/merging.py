"""The merge node of a labelgraph: a consistent graph from the keys the sides changed.

A merge resolves each key on its own (``store/mergeplan.py``), which is right for
vertices, edges and properties taken one by one but can leave a graph that no side
had: an edge one side added to a vertex the other side deleted. The adjacency
entries are the type's derived keys (never compared by a merge), and
:func:`repair_merge` — ``LabelGraph.rebuild_derived`` — rewrites them for every edge
any side changed, drops edges left on a missing vertex, and drops properties whose
vertex or edge is gone, all in the merge's own atomic write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dvidctl.datatypes.labelgraph import keys as K

if TYPE_CHECKING:
    from dvidctl.datatypes.labelgraph.ops import LabelGraph
    from dvidctl.store.versioned import VersionedBatch


def repair_merge(
    inst: LabelGraph, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
) -> int:
    """Make the merge node a consistent graph, from the keys the sides changed.

    Each changed edge keeps its adjacency entries only if it and both its vertices
    exist at the merge node; an edge left on a vertex that one side deleted while
    the other added the edge goes, and so do properties whose vertex or edge is
    gone. Contested adjacency entries (rewritten on two sides) are rewritten here.
    """

    def read(tk: bytes) -> bytes | memoryview | None:
        if batch.holds(inst.iid, tk):
            return batch.queued(inst.iid, tk)
        return inst._get(tk)

    alive: dict[int, bool] = {}

    def vertex_alive(v: int) -> bool:
        if v not in alive:
            alive[v] = read(K.vertex(v)) is not None
        return alive[v]

    pairs = {K.pair_of(tk) for tk in sources if tk[:1] == bytes([K.CLASS_EDGE])}
    pairs |= {K.ordered(*K.pair_of(tk)) for tk in contested if K.is_derived(tk)}
    live_edges: dict[tuple[int, int], bool] = {}
    n = 0
    for a, b in sorted(pairs):
        exists = read(K.edge(a, b)) is not None
        ok = exists and vertex_alive(a) and vertex_alive(b)
        live_edges[(a, b)] = ok
        if exists and not ok:
            batch.delete(inst.iid, K.edge(a, b))
            n += 1
        for tk in (K.adj(a, b), K.adj(b, a)):
            if ok:
                batch.put(inst.iid, tk, b"")
            else:
                batch.delete(inst.iid, tk)
            n += 1
    for tk in sources:
        if tk[0] == K.CLASS_VPROP:
            gone = not vertex_alive(K.id_of(tk))
        elif tk[0] == K.CLASS_EPROP:
            a, b = K.pair_of(tk)
            if (a, b) not in live_edges:
                live_edges[(a, b)] = (
                    read(K.edge(a, b)) is not None and vertex_alive(a) and vertex_alive(b)
                )
            gone = not live_edges[(a, b)]
        else:
            continue
        if gone and read(tk) is not None:
            batch.delete(inst.iid, tk)
            n += 1
    return n
