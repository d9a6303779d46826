"""uint8blk endpoints: raw/isotropic 2D+3D, POST raw, block streams, blocks, arb, tile."""

from __future__ import annotations

import io

import lz4.block
import numpy as np
import pytest
from PIL import Image

from dvidctl.datatypes.imageblk.blockstream import iter_block_stream


@pytest.fixture
def gray(client, repo):
    u = repo.root_uuid
    r = client.post(
        f"/api/repo/{u}/instance",
        json={
            "typename": "uint8blk",
            "dataname": "grayscale",
            "BlockSize": "32,32,32",
            "VoxelSize": "8,8,16",
        },
    )
    assert r.status_code == 200, r.text
    rng = np.random.default_rng(1)
    vol = rng.integers(0, 255, size=(64, 64, 96), dtype=np.uint8)  # ZYX: z 64, y 64, x 96
    r = client.post(f"/api/node/{u}/grayscale/raw/0_1_2/96_64_64/0_0_0", content=vol.tobytes())
    assert r.status_code == 200, r.text
    return u, vol


def test_raw_3d_round_trip_and_partial(client, gray):
    u, vol = gray
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/96_64_64/0_0_0")
    assert r.headers["content-type"] == "application/octet-stream"
    assert np.array_equal(np.frombuffer(r.content, np.uint8).reshape(64, 64, 96), vol)
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/10_20_30/5_6_7")
    got = np.frombuffer(r.content, np.uint8).reshape(30, 20, 10)
    assert np.array_equal(got, vol[7:37, 6:26, 5:15])
    # outside the data: background 0
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/4_4_4/1000_0_0")
    assert r.content == bytes(64)


def test_raw_2d_png_jpeg_and_3d_jpeg(client, gray):
    u, vol = gray
    r = client.get(f"/api/node/{u}/grayscale/raw/xy/96_64/0_0_3")
    assert r.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), vol[3])
    r = client.get(f"/api/node/{u}/grayscale/raw/xz/96_64/0_5_0/png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), vol[:, 5, :])
    r = client.get(f"/api/node/{u}/grayscale/raw/1_2/64_64/7_0_0/jpg:95")
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert r.headers["content-type"] == "image/jpeg" and img.shape == (64, 64)
    assert np.abs(img.astype(int) - vol[:, :, 7]).mean() < 20
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/32_32_32/0_0_0/jpeg")
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape == (32 * 32, 32)


def test_raw_3d_any_other_format_segment_is_raw_voxels(client, gray):
    """DVID (imageblk.go 2579): only exactly ``jpg``/``jpeg`` makes a 3D JPEG; the rest is raw."""
    u, vol = gray
    for endpoint in ("raw", "isotropic"):
        for fmt in ("nD", "png", "jpg:80", "JPG", "whatever"):
            r = client.get(f"/api/node/{u}/grayscale/{endpoint}/0_1_2/10_20_30/5_6_7/{fmt}")
            assert r.status_code == 200, (endpoint, fmt, r.text)
            assert r.headers["content-type"] == "application/octet-stream"
            got = np.frombuffer(r.content, np.uint8).reshape(30, 20, 10)
            assert np.array_equal(got, vol[7:37, 6:26, 5:15])
        r = client.get(f"/api/node/{u}/grayscale/{endpoint}/0_1_2/32_32_32/0_0_0/jpg")
        assert r.headers["content-type"] == "image/jpeg"
        assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (32 * 32, 32)
    # 2D keeps DVID's image formats: an unknown one is still a 400
    assert client.get(f"/api/node/{u}/grayscale/raw/xy/10_10/0_0_0/nD").status_code == 400


def test_isotropic_2d(client, gray):
    u, _ = gray
    r = client.get(f"/api/node/{u}/grayscale/isotropic/xz/64_64/0_0_0")
    assert r.status_code == 200
    assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (64, 64)
    r = client.get(f"/api/node/{u}/grayscale/isotropic/xy/64_64/0_0_0")
    assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (64, 64)


def test_bad_geometry_and_bodies(client, gray):
    u, _ = gray
    g = f"/api/node/{u}/grayscale"
    assert client.get(f"{g}/raw/0_1_2/10_10/0_0_0").status_code in (400, 404)
    assert client.get(f"{g}/raw/xy/10_10_10/0_0_0").status_code == 400
    assert client.get(f"{g}/raw/0_1_2/0_10_10/0_0_0").status_code == 400
    assert client.get(f"{g}/raw/xy/10_10/0_0_0/gif").status_code == 400
    assert client.get(f"{g}/raw/0_1_2/100000_100000_100000/0_0_0").status_code == 400
    before = client.get(f"{g}/raw/0_1_2/32_32_32/0_0_0").content
    assert client.post(f"{g}/raw/0_1_2/32_32_32/0_0_0", content=b"x" * 100).status_code == 400
    assert (
        client.post(f"{g}/raw/0_1_2/32_32_32/0_0_0", content=b"x" * (32**3 + 1)).status_code == 400
    )
    assert client.post(f"{g}/raw/xy/32_32/0_0_0", content=b"x" * 32**2).status_code == 400
    assert client.get(f"{g}/raw/0_1_2/32_32_32/0_0_0").content == before
    assert client.get(f"{g}/raw/0_1_2/32_32_32/0_0_0?scale=3").status_code == 400


def test_subvolblocks_default_lz4_jpeg_uncompressed(client, gray):
    u, vol = gray
    g = f"/api/node/{u}/grayscale"
    r = client.get(f"{g}/subvolblocks/64_32_32/32_0_0?compression=uncompressed")
    recs = list(iter_block_stream(r.content))
    assert [c for c, _ in recs] == [(1, 0, 0), (2, 0, 0)]
    assert np.array_equal(
        np.frombuffer(recs[0][1], np.uint8).reshape(32, 32, 32), vol[:32, :32, 32:64]
    )
    r = client.get(f"{g}/subvolblocks/32_32_32/0_32_32")
    ((coord, payload),) = list(iter_block_stream(r.content))
    n = int.from_bytes(payload[:4], "little")
    raw = lz4.block.decompress(bytes(payload[4:]), uncompressed_size=n)
    assert coord == (0, 1, 1) and np.array_equal(
        np.frombuffer(raw, np.uint8).reshape(32, 32, 32), vol[32:, 32:, :32]
    )
    r = client.get(f"{g}/subvolblocks/32_32_32/0_0_0?compression=jpeg")
    ((_, payload),) = list(iter_block_stream(r.content))
    img = np.asarray(Image.open(io.BytesIO(bytes(payload))))
    assert img.shape == (32 * 32, 32)
    assert client.get(f"{g}/subvolblocks/30_32_32/0_0_0").status_code == 400  # not aligned
    r = client.get(f"{g}/subvolblocks/64_64_64/1024_0_0")
    assert r.status_code == 200 and r.content == b""  # no stored blocks


def test_specificblocks_and_prefetch(client, gray):
    u, vol = gray
    g = f"/api/node/{u}/grayscale"
    r = client.get(f"{g}/specificblocks?blocks=2,1,1,0,0,0,9,9,9&compression=uncompressed")
    recs = dict(iter_block_stream(r.content))
    assert set(recs) == {(2, 1, 1), (0, 0, 0)}
    assert np.array_equal(
        np.frombuffer(recs[(2, 1, 1)], np.uint8).reshape(32, 32, 32), vol[32:, 32:, 64:]
    )
    assert client.get(f"{g}/specificblocks?blocks=1,2&compression=uncompressed").status_code == 400
    assert client.get(f"{g}/specificblocks?blocks=0,0,0&prefetch=true").content == b""


def test_span_blocks_get_and_post(client, gray):
    u, vol = gray
    g = f"/api/node/{u}/grayscale"
    r = client.get(f"{g}/blocks/1_1_0/3")
    assert len(r.content) == 3 * 32**3
    blocks = np.frombuffer(r.content, np.uint8).reshape(3, 32, 32, 32)
    assert np.array_equal(blocks[0], vol[:32, 32:, 32:64]) and np.array_equal(
        blocks[1], vol[:32, 32:, 64:96]
    )
    assert not blocks[2].any()  # past the data: background
    new = np.full((2, 32, 32, 32), 7, np.uint8)
    new[1] = 9
    assert client.post(f"{g}/blocks/0_0_1/2", content=new.tobytes()).status_code == 200
    r = client.get(f"{g}/raw/0_1_2/64_32_32/0_0_32")
    got = np.frombuffer(r.content, np.uint8).reshape(32, 32, 64)
    assert (got[:, :, :32] == 7).all() and (got[:, :, 32:] == 9).all()
    assert client.post(f"{g}/blocks/0_0_1/2", content=b"short").status_code == 400


def test_arb_extents_tile(client, gray):
    u, vol = gray
    g = f"/api/node/{u}/grayscale"
    # corners in nm (voxel size 8, 8, 16): an xy plane at z voxel 2
    r = client.get(f"{g}/arb/0_0_32/248_0_32/0_248_32/8")
    assert r.status_code == 200, r.text
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape == (32, 32) and np.array_equal(img, vol[2, :32, :32])
    assert client.get(f"{g}/arb/0_0_32/248_0_32/0_248_32/zero").status_code == 400
    info = client.get(f"{g}/info").json()
    assert info["Extents"] == {"MinPoint": [0, 0, 0], "MaxPoint": [95, 63, 63]}
    assert info["Extended"]["BlockSize"] == [32, 32, 32]
    assert (
        client.post(
            f"{g}/extents", json={"MinPoint": [0, 0, 0], "MaxPoint": [10, 10, 10]}
        ).status_code
        == 200
    )
    assert client.get(f"{g}/info").json()["Extents"]["MaxPoint"] == [10, 10, 10]
    assert client.post(f"{g}/extents", json={"MinPoint": [0, 0]}).status_code == 400
    r = client.get(f"{g}/tile/xy/0/0_0_3?size=64")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content)))[:64, :64], vol[3, :64, :64])


def test_roi_query_masks_raw(client, gray, repo):
    u, vol = gray
    client.post(
        f"/api/repo/{u}/instance",
        json={"typename": "roi", "dataname": "r", "BlockSize": "32,32,32"},
    )
    client.post(f"/api/node/{u}/r/roi", json=[[0, 0, 0, 0]])
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/64_32_32/0_0_0?roi=r")
    got = np.frombuffer(r.content, np.uint8).reshape(32, 32, 64)
    assert np.array_equal(got[:, :, :32], vol[:32, :32, :32]) and not got[:, :, 32:].any()
    r = client.get(f"/api/node/{u}/grayscale/raw/0_1_2/64_32_32/0_0_0?roi=r&attenuation=2")
    got = np.frombuffer(r.content, np.uint8).reshape(32, 32, 64)
    assert np.array_equal(got[:, :, 32:], vol[:32, :32, 32:64] >> 2)


def test_metadata_and_resolution(client, gray):
    u, _ = gray
    md = client.get(f"/api/node/{u}/grayscale/metadata").json()
    assert [a["Label"] for a in md["Axes"]] == ["X", "Y", "Z"]
    assert [a["Size"] for a in md["Axes"]] == [96, 64, 64]
    # DVID's metadataT (imageblk.go 1009-1056): {Axes, Properties}; pydvid reads
    # md["Properties"]["Values"][0]["DataType"].
    assert list(md) == ["Axes", "Properties"]
    props = md["Properties"]
    assert list(props) == [
        "Values",
        "Interpolable",
        "BlockSize",
        "VoxelSize",
        "VoxelUnits",
        "MinPoint",
        "MaxPoint",
        "MinIndex",
        "MaxIndex",
        "Background",
        "GridStore",
        "ScaleLevel",
    ]
    assert props["Values"][0]["DataType"] == "uint8"
    assert props["MinPoint"] == [0, 0, 0] and props["MaxPoint"] == [95, 63, 63]
    assert [a["Offset"] for a in md["Axes"]] == [0, 0, 0]
    assert client.post(f"/api/node/{u}/grayscale/resolution", json=[1, 2, 3]).status_code == 200
    info = client.get(f"/api/node/{u}/grayscale/info").json()
    assert info["Extended"]["VoxelSize"] == [1, 2, 3]
