"""Against a server without the sync API (our own, started with sync_api off, as DVID would
answer): clone and fetch replay each node over DVID's endpoints; push says it cannot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.store import nodedelta
from dvidctl.sync import dvidblocks
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.push import push
from dvidctl.sync.replaymemo import ReplayMemo
from tests.sync.helpers import assert_same_reads, build_source, gray, labels, remote


@pytest.fixture
def dvid(tmp_path: Path) -> Iterator[tuple[Repository, BackgroundServer]]:
    """The source repository served without /api/sync."""
    repo = Repository.init(tmp_path / "src")
    build_source(repo)
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        yield repo, srv
    state.close()


def _dag(repo: Repository) -> dict[str, tuple[object, ...]]:
    return {
        n.uuid: (
            tuple(repo.dag.node(p).uuid for p in n.parents),
            n.branch,
            n.note,
            tuple(n.log),
            n.locked,
        )
        for n in repo.dag.nodes.values()
    }


def test_clone_replays_every_node_through_dvid_endpoints(
    dvid: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    src, srv = dvid
    # No label lease: its reservation would raise the max label at the source's open head.
    got = clone(f"{srv.url}/{src.root_uuid[:6]}", tmp_path / "copy", label_lease=0)
    assert got.branches == ["master", "side"] and got.fetch.stats.nodes == 6
    with Repository.open(tmp_path / "copy") as copy:
        mine = _dag(copy)
        assert {u: v for u, v in mine.items() if u in _dag(src)} == _dag(src)
        for n in src.dag.nodes.values():
            assert_same_reads(src, copy, n.uuid)  # committed nodes and the snapshots
        assert copy.state.remote_refs == {
            "origin/master": src.head.uuid,
            "origin/side": src.node("side").uuid,
        }
        assert copy.node("origin/master").record.incoming  # open there: a snapshot
        assert all(n.digests is not None for n in copy.dag.nodes.values() if n.locked)
        assert copy.head.parents[0].uuid == src.node("master~1").uuid


def test_fetch_again_replays_only_what_changed_and_resumes_a_partial_node(
    dvid: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    src, srv = dvid
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
    src.head.instance("kv").put("late", b"1")
    with Repository.open(tmp_path / "copy") as copy:
        got = fetch(copy, remote(srv, src.root_uuid))
        assert (got.stats.keys, got.stats.nodes) == (1, 2)  # the two snapshots, replayed
        src.commit("done there")
        got = fetch(copy, remote(srv, src.root_uuid))
        done = copy.dag.node(copy.dag.by_uuid[src.node("master~1").uuid])
        assert done.locked and not done.incoming and got.stats.keys == 0
        # A node interrupted half-way: the next fetch finds what it lacks and writes it.
        head = src.head  # the open node commit made there
        head.instance("kv").put_many({f"n{i}": b"v" for i in range(30)})
        fetch(copy, remote(srv, src.root_uuid))
        vid = copy.dag.by_uuid[head.uuid]
        nodedelta.drop_node_data(copy.store, vid)
        got = fetch(copy, remote(srv, src.root_uuid))
        assert got.stats.keys == 30
        assert_same_reads(src, copy, head.uuid)


def test_push_to_a_server_without_the_sync_api_goes_through_dvid_endpoints(
    dvid: tuple[Repository, BackgroundServer], tmp_path: Path
) -> None:
    src, srv = dvid
    head = src.head.uuid
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "early2")  # the head there is open
    with Repository.open(tmp_path / "early2") as copy:
        copy.head.instance("kv").put("early", b"1")
        copy.commit("early")
        with pytest.raises(ConflictError, match="ends in open node"):
            push(copy, remote(srv, src.root_uuid))
    httpx.post(f"{srv.url}/api/node/{head}/commit", json={"note": "closed"}).raise_for_status()
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
    with Repository.open(tmp_path / "copy") as copy:
        copy.head.instance("kv").put("pushed", b"through DVID")
        tip, _ = copy.commit("from the copy")
        got = push(copy, remote(srv, src.root_uuid))
        assert got.via == "dvid" and (got.stats.nodes, got.stats.keys) == (1, 1)
    assert src.node(tip.uuid).instance("kv").get("pushed") == b"through DVID"
    assert src.node(tip.uuid).locked and src.node(tip.uuid).note == "from the copy"
    with Repository.init(tmp_path / "other") as other:  # a server that cannot make repos
        other.commit("x")
        with pytest.raises(BadRequestError, match="no store directory"):
            push(other, remote(srv, other.root_uuid))


def _voxel_source(path: Path) -> Repository:
    """A repository of 32x32x64 grayscale and labels (16³ blocks, labels at two scales)
    written at its open root, not committed."""
    src = Repository.init(path)
    src.new_instance("uint8blk", "gray", {"BlockSize": "16,16,16"})
    src.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
    src.head.instance("gray").put_subvolume(gray(1), (0, 0, 0))
    src.head.instance("seg").put_subvolume(labels(1), (0, 0, 0))
    return src


@contextmanager
def _as_dvid(src: Repository) -> Iterator[BackgroundServer]:
    """``src`` served without /api/sync."""
    state = ServerState(RepoSet([src], None), ServerSettings(sync_api=False))
    try:
        with BackgroundServer(state) as srv:
            yield srv
    finally:
        state.close()


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per block payload the fallback decodes (grayscale or labels)."""
    got: list[int] = []
    for name in ("decode_gray_payload", "decode_label_payload"):
        real = getattr(dvidblocks, name)
        monkeypatch.setattr(dvidblocks, name, lambda p, s, f=real: got.append(1) or f(p, s))
    return got


def _assert_voxels_alike(src: Repository, copy: Repository, uuid: str) -> None:
    """Node ``uuid`` reads the same grayscale and labels (both scales) on both sides."""
    for name, scales in (("gray", (0,)), ("seg", (0, 1))):
        theirs, mine = src.node(uuid).instance(name), copy.node(uuid).instance(name)
        box = theirs.extents()
        assert box is not None
        for scale in scales:
            a = theirs.get_subvolume(box, scale)
            assert np.array_equal(a, mine.get_subvolume(box, scale)), (uuid[:8], name, scale)


def test_blocks_dvid_sends_as_it_sent_the_parents_are_not_decoded(
    tmp_path: Path, decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain of nodes through DVID's endpoints: where a node's only parent was replayed
    just before it, a block sent byte for byte as the parent's is neither decoded nor
    compared (sync/replaymemo.py); one changed, or changed back to the grandparent's, is
    written. The clone reads as the source does at every node, with the fewer decodes,
    as the same clone does without the parents' digests."""
    with _voxel_source(tmp_path / "src") as src:
        src.commit("c1")
        src.head.instance("gray").put_subvolume(gray(2)[:16, :16, :16], (0, 0, 0))
        src.head.instance("seg").put_subvolume(labels(2)[:16, :16, :16], (16, 16, 16))
        src.commit("c2")
        src.head.instance("gray").put_subvolume(gray(1)[:16, :16, :16], (0, 0, 0))  # back
        src.head.instance("gray").put_subvolume(gray(3)[:16, :16, :16], (16, 0, 48))
        src.commit("c3")
        counts = []
        with _as_dvid(src) as srv:
            for memo in (True, False):
                if not memo:
                    monkeypatch.setattr(ReplayMemo, "begin", lambda *a, **k: (None, None))
                decoded.clear()
                dest = tmp_path / f"copy-{memo}"
                clone(f"{srv.url}/{src.root_uuid}", dest, label_lease=0)
                counts.append(len(decoded))
                with Repository.open(dest) as copy:
                    for n in src.dag.nodes.values():
                        _assert_voxels_alike(src, copy, n.uuid)
    # 16 blocks of each at scale 0 and 2 of seg at scale 1, at each of the 4 nodes (the
    # open head too). With the parents' digests: the root's, then c2's 1 gray, 1 seg and
    # 1 seg block at scale 1, and c3's 2 gray blocks (one changed back to c1's)
    assert counts == [34 + 3 + 2, 4 * 34]


def test_a_later_fetch_uses_the_digests_a_clone_kept_of_a_locked_parent(
    tmp_path: Path, decoded: list[int]
) -> None:
    """A clone keeps each locked node's block digests (``.dvid/cache``): a later fetch of
    a new child of such a node decodes only the blocks DVID sends otherwise (and the open
    head's refresh, none: see the next test). A damaged or missing cache file only costs
    the full comparison."""
    with _voxel_source(tmp_path / "src") as src, _as_dvid(src) as srv:
        c1, _ = src.commit("c1")
        url = f"{srv.url}/{src.root_uuid}"
        for name in ("kept", "damaged", "gone"):
            clone(url, tmp_path / name, label_lease=0)
        kept = list((tmp_path / "kept" / ".dvid" / "cache" / "dvid-blocks").iterdir())
        assert len(kept) == 4  # per instance: c1's digests, the open head's
        for f in (tmp_path / "damaged" / ".dvid" / "cache" / "dvid-blocks").iterdir():
            f.write_bytes(f.read_bytes()[:-1] + b"\x00")
        shutil.rmtree(tmp_path / "gone" / ".dvid" / "cache")
        side = src.branch("side", c1.uuid)  # a new child of c1: one gray block
        side.instance("gray").put_subvolume(gray(5)[:16, :16, :16], (16, 16, 0))
        child, _ = src.commit("c2", ref="side")
        counts = {}
        for name in ("kept", "damaged", "gone"):
            decoded.clear()
            with Repository.open(tmp_path / name) as copy:
                fetch(copy, remote(srv, src.root_uuid))
                _assert_voxels_alike(src, copy, child.uuid)
            counts[name] = len(decoded)
    # the new node decodes 1 block with c1's digests; master's open head (a snapshot
    # here, which nothing else wrote) none with its own; the side's open head none, after
    # its new parent in the run. Without the cache, both of the first two in full.
    assert counts == {"kept": 1, "damaged": 2 * 34, "gone": 2 * 34}


def test_a_refreshed_snapshot_uses_its_own_digests_while_nothing_else_wrote_it(
    tmp_path: Path, decoded: list[int]
) -> None:
    """An open node's snapshot is refreshed by the next fetch: with its own digests from
    the last replay (kept with a stamp of what the node held of its own then), only the
    blocks DVID now sends otherwise are decoded. Where the node here was written since
    by anything else, the stamp differs and the full comparison puts it right."""
    with _voxel_source(tmp_path / "src") as src, _as_dvid(src) as srv:
        src.commit("c1")
        head = src.head
        head.instance("gray").put_subvolume(gray(2)[:16, :16, :16], (0, 0, 0))  # its own
        url = f"{srv.url}/{src.root_uuid}"
        for name in ("same", "written"):
            clone(url, tmp_path / name, label_lease=0)
        with Repository.open(tmp_path / "written") as copy:  # as another fetch might
            with copy.store.receiving(copy.dag.by_uuid[head.uuid]):
                junk = np.full((16, 16, 16), 7, np.uint8)
                copy.node(head.uuid).instance("gray").put_subvolume(junk, (16, 16, 48))
        head.instance("gray").put_subvolume(gray(3)[:16, :16, :16], (16, 0, 0))
        counts = {}
        for name in ("same", "written"):
            decoded.clear()
            with Repository.open(tmp_path / name) as copy:
                fetch(copy, remote(srv, src.root_uuid))
                _assert_voxels_alike(src, copy, head.uuid)
            counts[name] = len(decoded)
    # the snapshot's refresh: 1 gray block changed since, with its own digests; where
    # the node's gray here was written since, its 16 blocks (the junk one put right),
    # and none of its labels, which nothing wrote
    assert counts == {"same": 1, "written": 16}
