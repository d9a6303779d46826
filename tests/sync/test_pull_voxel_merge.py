"""``pull`` merges label blocks both sides edited voxel by voxel, as ``merge`` does
(real ``dvidctl serve`` on loopback, RocksDB on both ends)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.errors import MergeConflictError
from dvidctl.geometry import Box
from dvidctl.sync.clone import clone
from dvidctl.sync.pull import pull
from dvidctl.sync.push import push
from tests.sync.helpers import remote, server

BOX = Box((0, 0, 0), (32, 32, 32))


def test_pull_merges_edits_to_one_block_voxel_by_voxel(tmp_path: Path) -> None:
    base = np.full(BOX.shape, 1, np.uint64)
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        a.new_instance("labelmap", "seg", {"BlockSize": "32,32,32", "MaxDownresLevel": "1"})
        a.head.instance("seg").put_subvolume(base)  # type: ignore[attr-defined]
        a.commit("base")
        push(a, remote(srv, a.root_uuid))
        clone(f"{srv.url}/{a.root_uuid}", tmp_path / "b")
        with Repository.open(tmp_path / "b") as b:
            theirs = base.copy()
            theirs[16:] = 9
            theirs[0, 0, 0] = 5
            b.head.instance("seg").put_subvolume(theirs)  # type: ignore[attr-defined]
            b.commit("upper half")
            push(b, remote(srv, a.root_uuid))
        ours = base.copy()
        ours[:16] = 7  # voxel (0,0,0) too: 7 here, 5 there
        a.head.instance("seg").put_subvolume(ours)  # type: ignore[attr-defined]
        a.commit("lower half")
        with pytest.raises(MergeConflictError) as info:
            pull(a, remote(srv, a.root_uuid))
        (d,) = info.value.details
        assert d["voxels"] == 1 and d["where"] == [[0, 0, 0]]
        res = pull(a, remote(srv, a.root_uuid), strategy="ours")
        assert res.action == "merge"
        got = a.head.instance("seg").get_subvolume(BOX)  # type: ignore[attr-defined]
        expected = base.copy()
        expected[:16], expected[16:] = 7, 9
        np.testing.assert_array_equal(got, expected)
        s1 = a.head.instance("seg").get_subvolume(BOX.scaled_down(1), 1)  # type: ignore[attr-defined]
        assert (s1[:8] == 7).all() and (s1[8:] == 9).all()
