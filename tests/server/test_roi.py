"""roi endpoints: roi GET/POST/DELETE, mask, ptquery (also on locked nodes), partition."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def roi(client, repo):
    u = repo.root_uuid
    r = client.post(
        f"/api/repo/{u}/instance",
        json={"typename": "roi", "dataname": "r", "BlockSize": "32,32,32"},
    )
    assert r.status_code == 200, r.text
    return u


def test_roi_round_trip_and_delete(client, roi):
    spans = [[0, 0, 0, 1], [1, 2, 3, 3]]
    assert client.post(f"/api/node/{roi}/r/roi", json=spans).status_code == 200
    assert client.get(f"/api/node/{roi}/r/roi").json() == spans
    assert client.post(f"/api/node/{roi}/r/roi", json=[[0, 0, 5, 2]]).status_code == 400
    assert client.post(f"/api/node/{roi}/r/roi", content=b"[[").status_code == 400
    assert client.get(f"/api/node/{roi}/r/roi").json() == spans  # nothing written
    info = client.get(f"/api/node/{roi}/r/info").json()
    assert info["Extended"] == {"BlockSize": [32, 32, 32], "MinZ": 0, "MaxZ": 1}
    assert client.delete(f"/api/node/{roi}/r/roi").status_code == 200
    assert client.get(f"/api/node/{roi}/r/roi").json() == []


def test_roi_get_returns_the_posted_spans_as_dvid_stores_them(client, roi):
    """roi.go PutSpans/getSpans: one key per posted span, returned in (z, y, x0, x1) order;
    adjacent or overlapping spans are not merged, identical ones are one key."""
    posted = [[0, 0, 4, 7], [0, 0, 0, 3], [0, 0, 2, 5], [0, 0, 4, 7], [-1, 3, 9, 9]]
    assert client.post(f"/api/node/{roi}/r/roi", json=posted).status_code == 200
    assert client.get(f"/api/node/{roi}/r/roi").json() == [
        [-1, 3, 9, 9],
        [0, 0, 0, 3],
        [0, 0, 2, 5],
        [0, 0, 4, 7],
    ]
    r = client.post(f"/api/node/{roi}/r/ptquery", json=[[x * 32, 0, 0] for x in range(9)])
    assert r.json() == [True] * 8 + [False]  # reads are the union
    # a POST replaces everything (DVID deletes the version's spans first)
    assert client.post(f"/api/node/{roi}/r/roi", json=[[5, 5, 1, 2]]).status_code == 200
    assert client.get(f"/api/node/{roi}/r/roi").json() == [[5, 5, 1, 2]]


def test_mask_and_ptquery(client, roi):
    client.post(f"/api/node/{roi}/r/roi", json=[[0, 0, 0, 0]])
    r = client.get(f"/api/node/{roi}/r/mask/0_1_2/64_32_32/0_0_0")
    m = np.frombuffer(r.content, dtype=np.uint8).reshape(32, 32, 64)
    assert m[:, :, :32].all() and not m[:, :, 32:].any()
    assert client.get(f"/api/node/{roi}/r/mask/0_1/64_32/0_0_0").status_code == 400
    assert client.get(f"/api/node/{roi}/r/mask/0_1_2/0_32_32/0_0_0").status_code == 400
    client.post(f"/api/node/{roi}/commit", json={})
    r = client.post(f"/api/node/{roi}/r/ptquery", json=[[5, 5, 5], [40, 0, 0], [31, 31, 31]])
    assert r.status_code == 200 and r.json() == [True, False, True]
    assert client.post(f"/api/node/{roi}/r/ptquery", json=[[1, 2]]).status_code == 400
    # roi POST on the locked node is refused
    assert client.post(f"/api/node/{roi}/r/roi", json=[]).status_code == 400


def test_partition(client, roi):
    client.post(f"/api/node/{roi}/r/roi", json=[[0, 0, 0, 3], [1, 0, 0, 3]])
    p = client.get(f"/api/node/{roi}/r/partition?batchsize=2").json()
    assert p["NumActiveBlocks"] == 8 and p["NumSubvolumes"] >= 1
    assert client.get(f"/api/node/{roi}/r/partition?batchsize=x").status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b"[[1.5, 2, 3]]",
        b"[[1.0, 2, 3]]",
        b"[[true, 2, 3]]",
        b'[["1", 2, 3]]',
        b"[[1, 2, 3000000000]]",
    ],
    ids=["float", "integral-float", "bool", "string", "beyond-int32"],
)
def test_ptquery_reads_points_as_dvid_does(client, roi, body) -> None:  # type: ignore[no-untyped-def]
    """roi.go decodes the body into [][3]int32: anything but int32 integers is a 400."""
    client.post(f"/api/node/{roi}/r/roi", json=[[0, 0, 0, 0]])
    r = client.post(f"/api/node/{roi}/r/ptquery", content=body)
    assert r.status_code == 400, r.text
    assert client.post(f"/api/node/{roi}/r/ptquery", content=b"[]").json() == []
    assert client.post(f"/api/node/{roi}/r/ptquery", content=b"null").json() == []


def test_roi_post_of_null_clears_as_dvid(client, roi) -> None:  # type: ignore[no-untyped-def]
    """Go unmarshals null into an empty span list: the POST replaces the ROI with nothing."""
    client.post(f"/api/node/{roi}/r/roi", json=[[0, 0, 0, 0]])
    assert client.post(f"/api/node/{roi}/r/roi", content=b"null").status_code == 200
    assert client.get(f"/api/node/{roi}/r/roi").json() == []
    assert client.post(f"/api/node/{roi}/r/roi", content=b"").status_code == 400


def test_partition_matches_the_instance(client, repo, roi) -> None:  # type: ignore[no-untyped-def]
    spans = [[0, 0, 0, 3], [1, 0, 0, 3], [9, 4, -3, 2]]
    client.post(f"/api/node/{roi}/r/roi", json=spans)
    inst = repo.node(roi).instance("r")
    for query, args in (("batchsize=3", (3, False)), ("batchsize=2&optimized=true", (2, True))):
        got = client.get(f"/api/node/{roi}/r/partition?{query}").json()
        assert got == inst.partition(*args)
    assert client.get(f"/api/node/{roi}/r/partition?batchsize=0").status_code == 400
