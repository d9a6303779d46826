"""Labels through the DVID-endpoint fallback (our server with the sync API off, as DVID would
answer): supervoxel blocks as DVID's label Blocks, the mapping, the indexes and the label
counters, so that a node cloned or fetched this way answers every labelmap query as there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelmap.keys import CLASS_MUTATION, MUTID_TKEY
from dvidctl.datatypes.labelmap.mutlog import ModInfo
from dvidctl.geometry import Box
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.push import push
from tests.sync.helpers import BOX, labels, node_contents, remote, served, server


def build_labels(repo: Repository) -> dict[str, str]:
    """A labelmap with a merge, a cleave and a split over committed nodes, and an open head."""
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
    seg = repo.head.instance("seg")
    seg.put_subvolume(labels(1), (0, 0, 0))
    c1, _ = repo.commit("c1")
    ids = np.unique(labels(1)).tolist()
    seg = repo.head.instance("seg")
    seg.merge(ids[0], ids[1:4], ModInfo(user="ann", app="test"))
    c2, _ = repo.commit("merge")
    seg = repo.head.instance("seg")
    seg.cleave(ids[0], [ids[2]], ModInfo(user="bob"))
    seg.reserve_labels(3)
    c3, _ = repo.commit("cleave")
    seg = repo.head.instance("seg")
    seg.merge(ids[4], [ids[5]])
    return {"c1": c1.uuid, "c2": c2.uuid, "c3": c3.uuid, "open": repo.head.uuid}


@pytest.fixture
def dvid(tmp_path: Path) -> Iterator[tuple[Repository, BackgroundServer, dict[str, str]]]:
    repo = Repository.init(tmp_path / "src")
    ids = build_labels(repo)
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        yield repo, srv, ids
    state.close()


def assert_same_labels(a: Repository, b: Repository, uuid: str, *, log: bool = True) -> None:
    """Every labelmap query answers the same at ``uuid`` on both sides (``log``: the
    mutation log's too)."""
    sa, sb = a.node(uuid).instance("seg"), b.node(uuid).instance("seg")
    for scale, box in ((0, BOX), (1, Box((0, 0, 0), (16, 16, 32)))):
        assert np.array_equal(sa.get_subvolume(box, scale), sb.get_subvolume(box, scale))
        va, vb = sa.supervoxel_view(), sb.supervoxel_view()
        assert np.array_equal(va.get_subvolume(box, scale), vb.get_subvolume(box, scale))
    svs = np.unique(sa.supervoxel_view().get_subvolume(BOX)).tolist()
    assert sa.mappings()[0].tolist() == sb.mappings()[0].tolist()
    assert sa.mappings()[1].tolist() == sb.mappings()[1].tolist()
    assert sa.mapping(svs).tolist() == sb.mapping(svs).tolist()
    assert sa.sizes(svs, supervoxels=True) == sb.sizes(svs, supervoxels=True)
    bodies = np.unique(sa.get_subvolume(BOX)).tolist()
    assert sa.sizes(bodies) == sb.sizes(bodies)
    for body in bodies:
        assert sa.supervoxels(body).tolist() == sb.supervoxels(body).tolist()
        ra, rb = sa.sparsevol(body), sb.sparsevol(body)
        assert np.array_equal(ra.starts, rb.starts) and np.array_equal(ra.lengths, rb.lengths)
        assert sa.last_mod(body) == sb.last_mod(body)
    assert (sa.max_label(), sa.next_label()) == (sb.max_label(), sb.next_label())
    if log:
        assert sa.mutations() == sb.mutations()
        for body in bodies:
            assert sa.history(body) == sb.history(body)


def _label_state(
    repo: Repository, uuid: str, *, log: bool = True
) -> list[tuple[bytes, bytes, bytes]]:
    """The labelmap keys node ``uuid`` holds (without ``log``: but its mutation log)."""
    (entries,) = [v for v in node_contents(repo, uuid).values() if v]
    return [e for e in entries if log or (e[0][0] != CLASS_MUTATION and e[0] != MUTID_TKEY)]


def test_clone_through_dvid_blocks_answers_every_label_query_as_the_source(
    dvid: tuple[Repository, BackgroundServer, dict[str, str]], tmp_path: Path
) -> None:
    src, srv, ids = dvid
    got = clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy", label_lease=0)  # same counters
    stats = got.fetch.stats
    assert stats.labels == "dvid-blocks" and stats.notes == []
    # Compressed label Blocks on the wire: far fewer bytes than the voxels the nodes read.
    read = 4 * (BOX.nvoxels + BOX.nvoxels // 8) * 8  # 4 nodes, scales 0 and 1, uint64
    assert stats.down < read / 8, (stats.down, read)
    with Repository.open(tmp_path / "copy") as copy:
        for name, uuid in ids.items():
            assert_same_labels(src, copy, uuid)
            if name != "c1":  # the merges and the cleave: mapping and indexes as there
                assert copy.node(uuid).instance("seg").mappings()[0].size
            assert _label_state(src, uuid) == _label_state(copy, uuid), name


def test_fetch_brings_a_later_merge_and_split_through_the_fallback(
    dvid: tuple[Repository, BackgroundServer, dict[str, str]], tmp_path: Path
) -> None:
    src, srv, ids = dvid
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy", label_lease=0)  # same counters
    seg = src.head.instance("seg")
    body = int(seg.label_at((2, 2, 2)))
    seg.split(body, seg.sparsevol(body, bounds=Box((0, 0, 0), (4, 4, 4))))
    tip, _ = src.commit("split")
    with Repository.open(tmp_path / "copy") as copy:
        got = fetch(copy, remote(srv, src.root_uuid))
        assert got.stats.keys > 0 and got.stats.notes == []
        for uuid in (ids["open"], tip.uuid):
            assert_same_labels(src, copy, uuid)
        assert _label_state(src, ids["open"]) == _label_state(copy, ids["open"])


def test_push_sends_supervoxels_mapping_and_indexes_through_dvid_endpoints(
    tmp_path: Path,
) -> None:
    with Repository.init(tmp_path / "src") as src, server(tmp_path / "store", sync_api=False) as s:
        ids = build_labels(src)
        src.commit("second merge")
        got = push(src, remote(s, src.root_uuid))
        assert got.via == "dvid" and got.stats.nodes == 4
        there = served(s, src.root_uuid)
        for name, uuid in ids.items():
            assert_same_labels(src, there, uuid, log=False)
            # DVID has no endpoint that takes a mutation log: everything else, key for key.
            got_state = _label_state(there, uuid, log=False)
            assert _label_state(src, uuid, log=False) == got_state, name
