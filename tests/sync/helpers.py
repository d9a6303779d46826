"""Builders and checks for sync tests: a repository with every type over a DAG, and key-for-key
comparison of two repositories at every node they share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dvidctl import Repository
from dvidctl.geometry import Box
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState, open_store_repos
from dvidctl.store import nodedelta
from dvidctl.sync.remotes import Remote

BOX = Box((0, 0, 0), (32, 32, 64))


def gray(seed: int) -> np.ndarray:
    """A 32x32x64 ZYX uint8 volume."""
    return np.random.default_rng(seed).integers(0, 255, BOX.shape, dtype=np.uint8)


def labels(seed: int) -> np.ndarray:
    """A 32x32x64 ZYX uint64 label volume of a few big segments."""
    base = np.random.default_rng(seed).integers(1, 50, (2, 2, 4), dtype=np.uint64)
    return np.kron(base, np.ones((16, 16, 16), np.uint64)).astype(np.uint64)


def build_base(repo: Repository) -> dict[str, str]:
    """keyvalue, uint8blk, labelmap and roi over two commits of master and a branch::

        root(c1) - c2 - [open head of master]
           \\- b1 (branch 'side')

    Returns the UUIDs by name.
    """
    repo.new_instance("keyvalue", "kv")
    repo.new_instance("uint8blk", "gray", {"BlockSize": "16,16,16"})
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
    repo.new_instance("roi", "roi", {"BlockSize": "16,16,16"})
    n = repo.head
    n.instance("kv").put_many({f"k{i:03d}": f"v{i}".encode() for i in range(40)})
    n.instance("gray").put_subvolume(gray(1), (0, 0, 0))
    n.instance("seg").put_subvolume(labels(1), (0, 0, 0))
    n.instance("roi").put_spans([[0, 0, 0, 3], [1, 1, 0, 1]])
    c1, _ = repo.commit("c1")
    n = repo.head
    n.instance("kv").put("k001", b"changed")
    n.instance("kv").delete("k002")
    n.instance("gray").put_subvolume(gray(2)[:16], (0, 0, 0))
    n.instance("seg").put_subvolume(labels(2)[:16, :16, :16], (16, 16, 16))
    c2, _ = repo.commit("c2")
    b1 = repo.branch("side", c1.uuid)
    b1.instance("kv").put("k010", b"side")
    b1.instance("roi").put_spans([[2, 2, 0, 2]])
    repo.commit("b1", ref="side")
    return {"c1": c1.uuid, "c2": c2.uuid, "b1": repo.node("side~1").uuid}


def build_source(repo: Repository) -> dict[str, str]:
    """:func:`build_base`, then a merge of the branch into master::

        root(c1) - c2 - c3(merge of c2 and b1) - [open head of master]
           \\- b1 (branch 'side')

    Returns the UUIDs by name.
    """
    ids = build_base(repo)
    repo.merge(["side"], "merge side")
    c3, _ = repo.commit("c3")
    return {**ids, "c3": c3.uuid}


def node_contents(repo: Repository, uuid: str) -> dict[str, list[tuple[bytes, bytes, bytes]]]:
    """Per data UUID, every (tkey, digest, stored value) node ``uuid`` itself holds."""
    out = {}
    vid = repo.dag.by_uuid[uuid]
    for rec in repo.state.instances.values():
        entries = list(nodedelta.listing(repo.engine, vid, rec.iid))
        stored = nodedelta.stored_at(repo.engine, vid, rec.iid, [tk for tk, _ in entries])
        out[rec.data_uuid] = [(tk, d, s or b"") for (tk, d), s in zip(entries, stored, strict=True)]
    return out


def assert_same_nodes(a: Repository, b: Repository, uuids: list[str] | None = None) -> int:
    """Every node (default: every node of ``a``) is in ``b`` with the same record and keys.

    Returns the number of keys compared.
    """
    n = 0
    for uuid in uuids if uuids is not None else [x.uuid for x in a.dag.nodes.values()]:
        ra, rb = a.dag.node(a.dag.by_uuid[uuid]), b.dag.node(b.dag.by_uuid[uuid])
        parents = [[x.dag.node(p).uuid for p in r.parents] for x, r in ((a, ra), (b, rb))]
        assert parents[0] == parents[1], uuid
        assert (ra.branch, ra.locked, ra.note, ra.log) == (rb.branch, rb.locked, rb.note, rb.log)
        assert not rb.incoming or not ra.locked
        ca, cb = node_contents(a, uuid), node_contents(b, uuid)
        for duuid, entries in ca.items():
            assert cb.get(duuid, []) == entries, (uuid[:8], duuid[:8])
            n += len(entries)
    return n


def assert_same_reads(a: Repository, b: Repository, ref: str) -> None:
    """The same answers at ``ref`` on both sides, for each type."""
    na, nb = a.node(ref), b.node(ref)
    assert dict(na.instance("kv").items()) == dict(nb.instance("kv").items())
    for name in ("gray", "seg"):
        for scale in (0, 1) if name == "seg" else (0,):
            box = BOX if scale == 0 else Box((0, 0, 0), (16, 16, 32))
            va = na.instance(name).get_subvolume(box, scale)
            vb = nb.instance(name).get_subvolume(box, scale)
            assert np.array_equal(va, vb), (name, scale)
    assert na.instance("roi").get_spans() == nb.instance("roi").get_spans()
    assert na.instance("seg").max_label() == nb.instance("seg").max_label()


@contextmanager
def server(store: Path, **settings: object) -> Iterator[BackgroundServer]:
    """A real uvicorn server in a thread, creating repositories under ``store``."""
    store.mkdir(parents=True, exist_ok=True)
    repos = RepoSet(open_store_repos(store, set()), store)
    state = ServerState(repos, ServerSettings(**settings))  # type: ignore[arg-type]
    with BackgroundServer(state) as srv:
        yield srv
    state.close()


def served(srv: BackgroundServer, root: str) -> Repository:
    """The repository the server holds with root ``root``."""
    return srv.state.repos.repos[root]


def remote(srv: BackgroundServer, root: str, token: str | None = None) -> Remote:
    """Remote ``origin`` naming ``root`` on ``srv``."""
    return Remote("origin", f"{srv.url}/{root}", token)
