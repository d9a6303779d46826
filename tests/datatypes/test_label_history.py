"""DVID's ``history/{label}/{from}/{to}`` (mutation_log.go GetLabelMutationHistory): the
records that merged, cleaved or split the bodies the label's supervoxels had at "from",
version by version from "from" down to "to", in DVID's exact bytes."""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl import Repository
from dvidctl.datatypes.labelmap.mutlog import encode_dvid_history
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.geometry import Box

BOX = Box((0, 0, 0), (16, 16, 64))


def test_history_follows_the_bodies_at_from_along_the_versions() -> None:
    vol = np.zeros(BOX.shape, np.uint64)
    for i in range(4):
        vol[:, :, 16 * i : 16 * (i + 1)] = i + 1
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
        seg: Any = repo.head.instance("seg")
        seg.put_subvolume(vol)
        seg.merge(1, [2])
        n0, _ = repo.commit("merge")
        seg = repo.head.instance("seg")
        new, _ = seg.cleave(1, [2])
        seg.merge(3, [4])
        pts = np.argwhere((vol == 3) & (np.arange(16)[:, None, None] < 4))
        split_id, remain_id, _ = seg.split_supervoxel(3, Runs(pts, np.ones(len(pts), np.int64)))
        n1, _ = repo.commit("cleave, merge, split-supervoxel")
        to: Any = repo.head.instance("seg")
        at = lambda node: repo.node(node.uuid).instance("seg")  # noqa: E731
        # supervoxel 2 was in body 1 at n0: body 1's merge (n0) and cleave (n1), not 3's merge
        got = to.dvid_history(new, at(n0))
        assert encode_dvid_history(got) == (
            b'{"Action":"merge","Target":1,"Labels":[2]}'
            + f'{{"Action":"cleave","OrigLabel":1,"CleavedLabel":{new},'.encode()
            + b'"CleavedSupervoxels":[2]}'
        )
        assert to.dvid_history(new, at(n1)) == []  # at n1 supervoxel 2 is body `new` already
        # body 3 holds 4 and the split and remain ids of 3: at n0 those are bodies 4, split and
        # remain, which nothing merged; at n1 they are body 3, merged there. The
        # split-supervoxel is matched by supervoxel (3, retired: not in body 3 any more).
        assert to.dvid_history(3, at(n0)) == []
        assert to.dvid_history(3, at(n1)) == [{"Action": "merge", "Target": 3, "Labels": [4]}]
        assert sorted(to.supervoxels(3).tolist()) == sorted([4, split_id, remain_id])
        assert to.dvid_history(99, at(n0)) == []  # no such body: nothing
