"""Push to a server without the sync API (our own, as DVID would answer): the DAG rebuilt with
DVID's endpoints, same UUIDs; a clone back reads as the source at every node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.store import nodedelta
from dvidctl.sync.clone import clone
from dvidctl.sync.push import push
from tests.sync.helpers import assert_same_reads, build_base, labels, remote, server


def build_linear(repo: Repository) -> dict[str, str]:
    """Every type over master and a branch, no merge (DVID's merge cannot keep UUIDs)::

    root(c1) - c2 - c3 - [open]
       \\- b1 (branch 'side')
    """
    ids = build_base(repo)
    repo.head.instance("seg").put_subvolume(labels(3)[:16], (16, 0, 0))
    c3, _ = repo.commit("c3")
    return {**ids, "c3": c3.uuid}


def _by_name(repo: Repository, uuid: str) -> dict[str, list[tuple[bytes, bytes, bytes]]]:
    """Per instance *name* (DVID picks its own data UUIDs), the node's own stored entries."""
    vid = repo.dag.by_uuid[uuid]
    out = {}
    for rec in repo.state.instances.values():
        entries = list(nodedelta.listing(repo.engine, vid, rec.iid))
        stored = nodedelta.stored_at(repo.engine, vid, rec.iid, [tk for tk, _ in entries])
        out[rec.name] = [(tk, d, s or b"") for (tk, d), s in zip(entries, stored, strict=True)]
    return out


def _reads_equal(src: Repository, copy: Repository, uuid: str) -> None:
    assert_same_reads(src, copy, uuid)
    a, b = src.node(uuid).instance("kv"), copy.node(uuid).instance("kv")
    assert a.keys() == b.keys()
    for name in ("gray", "seg"):
        assert src.node(uuid).instance(name).extents() == copy.node(uuid).instance(name).extents()


def test_push_to_a_dvid_server_then_clone_back(tmp_path: Path) -> None:
    with Repository.init(tmp_path / "src") as src, server(tmp_path / "store", sync_api=False) as s:
        ids = build_linear(src)
        got = push(src, remote(s, src.root_uuid))
        assert got.via == "dvid" and got.created_repo and got.stats.nodes == 3
        assert got.stats.keys > 0 and got.stats.up > got.stats.bytes > 0
        got = push(src, remote(s, src.root_uuid), "side")
        assert got.stats.nodes == 1 and got.stats.nodes_same == 1  # root is there already
        back = clone(f"{s.url}/{src.root_uuid}", tmp_path / "back")
        assert sorted(back.branches) == ["master", "side"]
        with Repository.open(tmp_path / "back") as copy:
            for uuid in ids.values():
                node = copy.dag.node(copy.dag.by_uuid[uuid])  # same UUIDs, same DAG
                mine = src.dag.node(src.dag.by_uuid[uuid])
                assert (node.locked, node.note, node.branch) == (True, mine.note, mine.branch)
                assert [copy.dag.node(p).uuid for p in node.parents] == [
                    src.dag.node(p).uuid for p in mine.parents
                ]
                _reads_equal(src, copy, uuid)
                assert _by_name(src, uuid) == _by_name(copy, uuid)  # key for key, bytes too
        # Nothing new: nothing sent. A new commit: only it.
        assert push(src, remote(s, src.root_uuid)).stats.nodes == 0
        src.head.instance("gray").put_subvolume(np.full((16, 16, 16), 5, np.uint8), (0, 0, 0))
        tip, _ = src.commit("c4")
        got = push(src, remote(s, src.root_uuid))
        assert (got.stats.nodes, got.stats.nodes_same) == (1, 3)
        clone(f"{s.url}/{src.root_uuid}", tmp_path / "back2")
        with Repository.open(tmp_path / "back2") as copy:
            _reads_equal(src, copy, tip.uuid)


def test_push_to_a_dvid_server_refusals(tmp_path: Path) -> None:
    from tests.sync.helpers import build_source

    with Repository.init(tmp_path / "src") as src, server(tmp_path / "store", sync_api=False) as s:
        build_source(src)  # master holds a merge
        with pytest.raises(BadRequestError, match="is a merge"):
            push(src, remote(s, src.root_uuid))
        assert not list((tmp_path / "store").iterdir())  # nothing was made
        push(src, remote(s, src.root_uuid), "side")  # no merge on that branch
        clone(f"{s.url}/{src.root_uuid}", tmp_path / "other")
        with Repository.open(tmp_path / "other") as other:
            other.checkout("side")
            other.head.instance("kv").put("x", b"1")
            other.commit("other side work")
            push(other, remote(s, src.root_uuid), "side")
        src.node("side").instance("kv").put("y", b"2")
        src.commit("diverged", ref="side")
        with pytest.raises(ConflictError, match="not a fast-forward"):
            push(src, remote(s, src.root_uuid), "side")


def test_cli_push_to_a_real_no_sync_api_server_and_clone_back(tmp_path: Path) -> None:
    """Real processes: ``dvidctl serve --no-sync-api``, ``dvidctl push``, ``dvidctl clone``."""
    import json
    import re
    import subprocess
    import sys

    with Repository.init(tmp_path / "src") as src:
        ids = build_linear(src)
        root = src.root_uuid
    cmd = [sys.executable, "-m", "dvidctl"]
    (tmp_path / "store").mkdir()
    proc = subprocess.Popen(
        [*cmd, "serve", "--store", str(tmp_path / "store"), "--port", "0", "--no-sync-api"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"serving at (http://\S+?)/api/", proc.stdout.readline())
        assert m
        url = f"{m.group(1)}/{root}"

        def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True)

        assert run("remote", "add", "dvid", url, cwd=tmp_path / "src").returncode == 0
        got = run("push", "dvid", "--json", cwd=tmp_path / "src")
        assert got.returncode == 0, got.stderr
        doc = json.loads(got.stdout)
        assert doc["via"] == "dvid" and doc["created_repo"] and doc["nodes"] == 3
        assert doc["keys"] > 0 and doc["up"] > 0
        got = run("push", "dvid", "side", cwd=tmp_path / "src")
        assert got.returncode == 0 and "through DVID's endpoints" in got.stderr + got.stdout
        got = run("clone", url, "back", cwd=tmp_path)
        assert got.returncode == 0, got.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with (
        Repository.open(tmp_path / "src", read_only=True) as src,
        Repository.open(tmp_path / "back", read_only=True) as back,
    ):
        for uuid in ids.values():
            _reads_equal(src, back, uuid)
            node = back.dag.node(back.dag.by_uuid[uuid])
            assert node.locked and node.note == src.dag.node(src.dag.by_uuid[uuid]).note


def test_a_push_interrupted_after_making_a_node_is_finished_by_the_next(tmp_path: Path) -> None:
    """An interrupted push leaves its node open there, maybe half written: the next push writes
    it again and commits it (made here by hand through DVID's endpoints, as the push would)."""
    import httpx

    with Repository.init(tmp_path / "src") as src, server(tmp_path / "store", sync_api=False) as s:
        ids = build_linear(src)
        push(src, remote(s, src.root_uuid), "side")  # root and b1
        made = httpx.post(
            f"{s.url}/api/node/{ids['c1']}/newversion", json={"uuid": ids["c2"]}
        )  # the node c2, open, holding only part of its writes
        made.raise_for_status()
        httpx.post(f"{s.url}/api/node/{ids['c2']}/kv/key/k001", content=b"half").raise_for_status()
        got = push(src, remote(s, src.root_uuid))
        assert (got.stats.nodes, got.stats.nodes_same) == (2, 1)  # c2 again, then c3
        clone(f"{s.url}/{src.root_uuid}", tmp_path / "back")
        with Repository.open(tmp_path / "back") as copy:
            for uuid in ids.values():
                assert copy.dag.node(copy.dag.by_uuid[uuid]).locked
                _reads_equal(src, copy, uuid)
                assert _by_name(src, uuid) == _by_name(copy, uuid)
