"""labelgraph speed on RocksDB, against peers measured in the same run.

A random region adjacency graph (``--vertices`` vertices, ``--edges`` edges, as a
segmentation's RAG) is loaded and read back:

* ``load``: one ``put_subgraph`` of the whole graph (DVID's ``POST subgraph``), against
  the peer ``keyvalue.put_many`` of the same number of keys with 8-byte values: the
  store's own cost of that many keys in one atomic write. Goal: at most 2x the peer.
* ``read``: ``get_subgraph()`` (the whole graph as DVID's JSON document) against the
  limit, a plain versioned scan of the vertex and edge keys it reads (nothing decoded).
* ``components``: ``connected_components()`` against networkx building the same graph
  from lists already in memory and finding its components.
* ``neighbors``, ``merge``: per-call latency at the open node (a merge of two vertices
  writes only their edges, so it does not grow with the graph).

Run: ``.venv/bin/python bench/bench_labelgraph.py [--quick]``. Note the machine load
(``uptime``) with the numbers: ratios are what to compare.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import networkx as nx

from dvidctl import Repository
from dvidctl.datatypes.keyvalue import KeyValue
from dvidctl.datatypes.labelgraph import keys as K
from dvidctl.datatypes.labelgraph.ops import LabelGraph


def rag(nv: int, ne: int, seed: int) -> dict[str, Any]:
    """A random graph JSON: ``nv`` weighted vertices, ``ne`` distinct weighted edges."""
    rng = random.Random(seed)
    edges: set[tuple[int, int]] = set()
    while len(edges) < ne:
        a, b = rng.randrange(1, nv + 1), rng.randrange(1, nv + 1)
        if a != b:
            edges.add((min(a, b), max(a, b)))
    return {
        "Vertices": [{"Id": v, "Weight": float(rng.randrange(1, 10**6))} for v in range(1, nv + 1)],
        "Edges": [{"Id1": a, "Id2": b, "Weight": rng.random()} for a, b in sorted(edges)],
    }


def best(fn: Callable[[], Any], rounds: int) -> float:
    """Best wall time of ``rounds`` calls."""
    out = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vertices", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10k vertices, 30k edges, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.vertices, args.edges, args.rounds = 10_000, 30_000, 1
    nv, ne = args.vertices, args.edges
    doc = rag(nv, ne, 1)
    nkeys = nv + 3 * ne  # a vertex key; an edge key and two adjacency entries per edge
    print(f"labelgraph: {nv} vertices, {ne} edges ({nkeys} keys); load {os.getloadavg()[0]:.1f}")
    tmp = tempfile.mkdtemp(prefix="dvidctl-bench-")
    try:
        rows: list[tuple[str, float, str]] = []
        with Repository.init(tmp) as repo:
            load_t, peer_t = float("inf"), float("inf")
            kv_items = {f"k{i:012d}": b"\x00" * 8 for i in range(nkeys)}
            for r in range(args.rounds):
                repo.new_instance("labelgraph", f"g{r}")
                repo.new_instance("keyvalue", f"kv{r}")
                g = repo.head.instance(f"g{r}")
                kv = repo.head.instance(f"kv{r}")
                assert isinstance(g, LabelGraph) and isinstance(kv, KeyValue)
                t0 = time.perf_counter()
                g.put_subgraph(doc)
                load_t = min(load_t, time.perf_counter() - t0)
                t0 = time.perf_counter()
                kv.put_many(kv_items)
                peer_t = min(peer_t, time.perf_counter() - t0)
            rows.append(("load (put_subgraph)", load_t, f"{load_t / peer_t:.2f}x kv put_many"))
            rows.append(("  peer kv put_many", peer_t, ""))
            g = repo.head.instance("g0")
            assert isinstance(g, LabelGraph)

            def scan() -> None:  # the keys get_subgraph reads: vertices and edges
                for cls in (K.CLASS_VERTEX, K.CLASS_EDGE):
                    for _ in g._scan(*K.class_range(cls)):
                        pass

            read_t = best(g.get_subgraph, args.rounds)
            scan_t = best(scan, args.rounds)
            rows.append(("read (get_subgraph)", read_t, f"{read_t / scan_t:.2f}x raw scan"))
            rows.append(("  limit: raw scan", scan_t, ""))
            ids = list(range(1, nv + 1))
            pairs_mem = [(e["Id1"], e["Id2"]) for e in doc["Edges"]]

            def in_memory() -> None:
                mem = nx.Graph()
                mem.add_nodes_from(ids)
                mem.add_edges_from(pairs_mem)
                list(nx.connected_components(mem))

            cc_t = best(g.connected_components, args.rounds)
            nx_t = best(in_memory, args.rounds)
            rows.append(("components", cc_t, f"{cc_t / nx_t:.2f}x networkx from lists"))
            rows.append(("  peer networkx from lists", nx_t, ""))
            rng = random.Random(2)
            probe = [rng.randrange(1, nv + 1) for _ in range(500)]
            nb_t = best(lambda: [g.neighbors(v) for v in probe], 1) / len(probe)
            rows.append(("neighbors (per call)", nb_t, f"mean degree {2 * ne / nv:.1f}"))
            repo.commit("loaded")
            g = repo.head.instance("g0")
            assert isinstance(g, LabelGraph)
            pairs = [(v, v + 1) for v in range(1, 401, 2)]
            t0 = time.perf_counter()
            for a, b in pairs:
                g.merge({"Vertices": [{"Id": a}, {"Id": b}], "Edges": []})
            merge_t = (time.perf_counter() - t0) / len(pairs)
            rows.append(("merge of 2 (per call)", merge_t, "one atomic write each"))
        width = max(len(r[0]) for r in rows)
        for name, t, note in rows:
            shown = f"{t * 1e3:9.1f} ms" if t < 1 else f"{t:9.2f} s "
            print(f"{name:<{width}}  {shown}  {note}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
