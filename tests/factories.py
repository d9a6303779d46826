"""Small builders for tests: DAGs from short specs, versioned stores, repo snapshots, labels.

``build_dag([[1], [2, 1], [3, 1], [4, 2, 3]])`` makes node 1 (root), nodes 2 and 3
(children of 1) and node 4 (a merge of 2 and 3), all open so they can be written;
lock them afterwards with :func:`lock`. (STYLE.md rule 23.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dvidctl import Repository
from dvidctl.store.dag import Dag, NodeRecord
from dvidctl.store.engine import COLUMN_FAMILIES, KVEngine
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.versioned import VersionedStore


def uuid_of(vid: int) -> str:
    """The deterministic 32-hex UUID :func:`build_dag` gives node ``vid``."""
    return f"{vid:032x}"


def build_dag(spec: Sequence[Sequence[int]], *, branches: Mapping[int, str] | None = None) -> Dag:
    """Build a DAG from ``[[vid, parent, ...], ...]``; every node starts open."""
    dag = Dag()
    for vid, *parents in spec:
        node = NodeRecord(
            vid=vid, uuid=uuid_of(vid), parents=list(parents), branch=(branches or {}).get(vid, "")
        )
        dag.add(node)
        for p in parents:
            dag.node(p).children.append(vid)
    return dag


def lock(dag: Dag, *vids: int) -> None:
    """Mark nodes committed (all nodes when none are given)."""
    for v in vids or tuple(dag.nodes):
        dag.node(v).locked = True


def versioned_store(
    spec: Sequence[Sequence[int]], engine: KVEngine | None = None
) -> VersionedStore:
    """A :class:`VersionedStore` over ``engine`` (default: memory) with the DAG of ``spec``."""
    return VersionedStore(engine or MemoryEngine(), build_dag(spec))


def write(
    store: VersionedStore, vid: int, items: Mapping[bytes, bytes | None], iid: int = 1
) -> None:
    """Write ``{tkey: payload}`` at ``vid`` in one batch (None deletes)."""
    b = store.batch(vid)
    for tk, v in items.items():
        if v is None:
            b.delete(iid, tk)
        else:
            b.put(iid, tk, v)
    b.commit()


def engine_dump(engine: KVEngine) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every column family (for "nothing changed" checks)."""
    return {cf: list(engine.scan(cf, b"")) for cf in COLUMN_FAMILIES}


def repo_snapshot(repo: Repository) -> dict[str, Any]:
    """The engine contents plus the in-memory state and HEAD of ``repo``."""
    st = repo.state
    return {
        "engine": engine_dump(repo.engine),
        "head": repo.head_ref,
        "nodes": {v: n.to_dict() for v, n in sorted(st.dag.nodes.items())},
        "branches": dict(st.branches),
        "tags": dict(st.tags),
        "instances": {k: r.to_dict() for k, r in st.instances.items()},
        "counters": dict(st.counters),
    }


def commit_kv(
    repo: Repository, items: Mapping[str, bytes | None], note: str = "", name: str = "kv"
) -> str:
    """Write ``items`` to keyvalue ``name`` at HEAD (None deletes) and commit; return its UUID."""
    kv = repo.head.instance(name)
    for k, v in items.items():
        if v is None:
            kv.delete(k)  # type: ignore[attr-defined]
        else:
            kv.put(k, v)  # type: ignore[attr-defined]
    locked, _ = repo.commit(note or f"write {sorted(items)}")
    return locked.uuid


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes (to show nothing on disk changed)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def random_labels(
    seed: int, shape: tuple[int, ...], high: int = 2**40, count: int = 4096
) -> np.ndarray:
    """uint64 labels of ``shape`` drawn from ``count`` random values below ``high``.

    Blocks of them compress nearly as little as a new label per voxel, yet a labelmap
    write has ``count`` label indexes to update instead of one per voxel (which made a
    40x72x100 write take 25 s on 2 busy cores, not 1 s).
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, count, dtype=np.uint64)[rng.integers(0, count, shape)]


def label_noise(seed: int, blocks_zyx: tuple[int, int, int], edge: int = 16) -> np.ndarray:
    """Blocks of ``edge``^3 voxels, each holding the same ``edge``^3 random uint64 labels
    once, in its own order: stored larger than raw (as random labels everywhere), with
    only ``edge``^3 label indexes to update."""
    rng = np.random.default_rng(seed)
    n = edge**3
    pool = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    bz, by, bx = blocks_zyx
    order = rng.permuted(np.tile(np.arange(n), (bz * by * bx, 1)), axis=1)
    blocks = pool[order].reshape(bz, by, bx, edge, edge, edge)
    return blocks.transpose(0, 3, 1, 4, 2, 5).reshape(bz * edge, by * edge, bx * edge)
