"""dvidctl.api.remote.client against the in-process server: the local API's shape over HTTP."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl.api.remote import RemoteRepository
from dvidctl.geometry import Box
from tests.factories import random_labels


@pytest.fixture
def remote(client, repo):
    u = repo.root_uuid
    for body in (
        {"typename": "uint8blk", "dataname": "gray", "BlockSize": "32,32,32", "Background": "9"},
        {"typename": "labelmap", "dataname": "seg", "BlockSize": "64,64,64"},
        {"typename": "roi", "dataname": "r"},
        {"typename": "keyvalue", "dataname": "kv"},
    ):
        assert client.post(f"/api/repo/{u}/instance", json=body).status_code == 200
    return RemoteRepository("http://testserver", client=client), u


@pytest.mark.parametrize("dvidctl_server", [True, False])
def test_voxels_unaligned_boxes_and_background(remote, dvidctl_server):
    rr, u = remote
    rr._is_dvidctl = dvidctl_server  # False: the plain DVID path (raw/0_1_2)
    node = rr.node(u)
    gray, seg = node.instance("gray"), node.instance("seg")
    gray.prefer_stored = True  # exercise the stored-block path for uint8blk too
    rng = np.random.default_rng(3)
    g = rng.integers(0, 255, (40, 50, 70), dtype=np.uint8)
    gray.put_subvolume(g, (3, 5, 7))
    box = Box((0, 0, 0), (50, 60, 100))  # partly outside the data: background 9
    got = gray.get_subvolume(box)
    want = np.full(box.shape, 9, np.uint8)
    want[3:43, 5:55, 7:77] = g
    assert np.array_equal(got, want)
    s = random_labels(4, (64, 64, 130), high=2**50)  # not one label per voxel: 60 s -> 1 s
    seg.put_subvolume(s, (0, 0, 0))
    sub = Box((10, 20, 30), (64, 64, 129))
    assert np.array_equal(seg.get_subvolume(sub), s[10:64, 20:64, 30:129])
    assert np.array_equal(
        seg.get_subvolume(Box((0, 0, 200), (8, 8, 300))), np.zeros((8, 8, 100), np.uint64)
    )
    assert gray.extents() == Box((3, 5, 7), (43, 55, 77))
    assert np.array_equal(gray.get_slice("xy", (7, 5, 3), (70, 50)), g[0])


def test_roi_and_kv_remote(remote):
    rr, u = remote
    node = rr.node(u)
    r = node.instance("r")
    assert r.put_spans([[0, 0, 0, 1]]) == 1
    assert r.get_spans() == [[0, 0, 0, 1]]
    assert list(r.contains_points([[1, 1, 1], [100, 1, 1]])) == [True, False]
    assert r.mask(Box((0, 0, 0), (1, 1, 70))).reshape(-1).tolist() == [1] * 64 + [0] * 6
    kv = node.instance("kv")
    kv.put("x", b"1")
    kv.delete_many(["x"])
    assert kv.keys() == [] and r.delete() == 1


def test_remote_errors_map_to_dvid_errors(remote):
    rr, u = remote
    from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError

    with pytest.raises(NotFoundError):
        rr.node(u).instance("kv").get("nope")
    with pytest.raises(BadRequestError, match="could not find UUID"):
        rr.node("ffffffff").instance("kv")
    rr.request("POST", f"node/{u}/commit", json={})
    # DVID's 400 for a write to a committed node is the error a local write raises.
    with pytest.raises(LockedNodeError, match="locked node"):
        rr.node(u).instance("kv").put("a", b"b")
    assert rr.node(u).locked
