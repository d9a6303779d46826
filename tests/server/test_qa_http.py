"""QA: DVID HTTP API behaviour as real clients (neuclease, libdvid, curl) exercise it."""

from __future__ import annotations


def test_range_open_ended_past_end_is_416(client, kv):
    """``Range: bytes=10-`` on a 10-byte value is unsatisfiable: 416, not a 200 with everything."""
    base = f"/api/node/{kv}/kv/key/k"
    assert client.post(base, content=b"0123456789").status_code == 200
    r = client.get(base, headers={"Range": "bytes=10-"})
    assert r.status_code == 416, (r.status_code, r.content)
    assert r.headers["content-range"] == "bytes */10"
    r = client.get(base, headers={"Range": "bytes=12-20"})
    assert r.status_code == 416
    r = client.get(base, headers={"Range": "bytes=9-"})
    assert r.status_code == 206 and r.content == b"9"


def _labelmap(client, uuid: str, name: str = "seg") -> str:
    r = client.post(
        f"/api/repo/{uuid}/instance",
        json={"typename": "labelmap", "dataname": name, "BlockSize": "64,64,64"},
    )
    assert r.status_code == 200, r.text
    return f"/api/node/{uuid}/{name}"


def _uint8(client, uuid: str, name: str = "gray") -> str:
    r = client.post(
        f"/api/repo/{uuid}/instance",
        json={"typename": "uint8blk", "dataname": name, "BlockSize": "32,32,32"},
    )
    assert r.status_code == 200, r.text
    return f"/api/node/{uuid}/{name}"


def test_label_point_beyond_int64_is_400_not_500(client, repo):
    """``label/{x_y_z}`` with a coordinate past int64 crashed with OverflowError (500)."""
    seg = _labelmap(client, repo.root_uuid)
    r = client.get(f"{seg}/label/99999999999999999999_0_0")
    assert r.status_code == 400, (r.status_code, r.text)
    assert client.get(f"{seg}/label/1_2_3").json() == {"Label": 0}


def test_specificblocks_coordinate_beyond_int64_is_400_not_500(client, repo):
    """``specificblocks?blocks=`` with a huge coordinate crashed with OverflowError (500)."""
    gray = _uint8(client, repo.root_uuid)
    for inst in (gray, _labelmap(client, repo.root_uuid)):
        r = client.get(f"{inst}/specificblocks?blocks=99999999999999999999,0,0")
        assert r.status_code == 400, (inst, r.status_code, r.text)


def test_post_blocks_downres_with_nonzero_scale_is_400(client, repo):
    """DVID refuses ``downres=true`` unless ``scale=0``; it was silently ignored (200)."""
    import gzip
    import struct

    r = client.post(
        f"/api/repo/{repo.root_uuid}/instance",
        json={"typename": "labelmap", "dataname": "seg", "MaxDownresLevel": "2"},
    )
    assert r.status_code == 200, r.text
    seg = f"/api/node/{repo.root_uuid}/seg"
    g = gzip.compress(struct.pack("<4I", 8, 8, 8, 1) + struct.pack("<Q", 500))
    body = struct.pack("<4i", 0, 0, 0, len(g)) + g
    r = client.post(f"{seg}/blocks?scale=1&downres=true", content=body)
    assert r.status_code == 400, (r.status_code, r.text)
    assert client.get(f"{seg}/label/1_1_1?scale=1").json() == {"Label": 0}  # nothing written
    assert client.post(f"{seg}/blocks?downres=true", content=body).status_code == 200
    assert client.get(f"{seg}/label/1_1_1?scale=1").json() == {"Label": 500}


def test_nonfinite_json_numbers_are_refused_and_never_echoed(client, repo):
    """``[1e999,1,1]`` / ``[Infinity,1,1]`` were stored as VoxelSize and came back as
    ``Infinity`` in instance and repo JSON, which Go and JavaScript clients cannot parse."""
    import json

    gray = _uint8(client, repo.root_uuid)
    for body in (b"[1e999,1,1]", b"[Infinity,1,1]", b"[NaN,1,1]", b"[-Infinity,1,1]"):
        r = client.post(f"{gray}/resolution", content=body)
        assert r.status_code == 400, (body, r.status_code)
    for text in (client.get(f"{gray}/info").text, client.get("/api/repos/info").text):
        json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))
    assert client.get(f"{gray}/info").json()["Extended"]["VoxelSize"] == [8.0, 8.0, 8.0]


def test_post_extents_out_of_int32_is_400_not_500(client, repo):
    """Extents beyond int32 (or 1e300) crashed while packing them (500)."""
    gray = _uint8(client, repo.root_uuid)
    for hi in ("99999999999", "1e300", "1.5"):
        body = b'{"MinPoint":[0,0,0],"MaxPoint":[' + hi.encode() + b",1,1]}"
        r = client.post(f"{gray}/extents", content=body)
        assert r.status_code == 400, (hi, r.status_code, r.text)
    assert client.get(f"{gray}/info").json()["Extents"]["MaxPoint"] is None
    r = client.post(f"{gray}/extents", json={"MinPoint": [0, 0, 0], "MaxPoint": [9, 9, 9]})
    assert r.status_code == 200
    assert client.get(f"{gray}/info").json()["Extents"]["MaxPoint"] == [9, 9, 9]


def test_arb_overflowing_geometry_is_400_not_500(client, repo):
    """A tiny resolution or a corner near 1e300 raised OverflowError (500)."""
    gray = _uint8(client, repo.root_uuid)
    for path in (
        "arb/0_0_0/10_0_0/0_10_0/1e-300",
        "arb/1e300_0_0/10_0_0/0_10_0/1",
        "arb/1e999_0_0/10_0_0/0_10_0/1",
    ):
        r = client.get(f"{gray}/{path}")
        assert r.status_code == 400, (path, r.status_code, r.text)
    assert client.get(f"{gray}/arb/0_0_0/10_0_0/0_10_0/1").status_code == 200


def test_instance_config_nonfinite_voxelsize_is_refused(client, repo):
    """``"VoxelSize": "NaN,1,1"`` is accepted and poisons GET /api/repos/info with NaN."""
    r = client.post(
        f"/api/repo/{repo.root_uuid}/instance",
        json={"typename": "uint8blk", "dataname": "g", "VoxelSize": "NaN,1,1"},
    )
    assert r.status_code == 400
