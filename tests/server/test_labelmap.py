"""labelmap endpoints, checked with independent decoders and DVID's own test data."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct

import compressed_segmentation as cseg
import lz4.block
import numpy as np
import pytest

from dvidctl.datatypes.imageblk.blockstream import iter_block_stream
from dvidctl.datatypes.imageblk.labelblock import (
    decode_label_block,
    encode_label_block,
    gunzip_label_block,
)
from tests.testdata import DATA


def _volume(name: str) -> np.ndarray:
    return np.frombuffer(gzip.decompress((DATA / name).read_bytes()), "<u8").reshape(64, 64, 64)


@pytest.fixture
def lm(client, repo):
    u = repo.root_uuid
    r = client.post(
        f"/api/repo/{u}/instance",
        json={
            "typename": "labelmap",
            "dataname": "seg",
            "BlockSize": "64,64,64",
            "MaxDownresLevel": "1",
        },
    )
    assert r.status_code == 200, r.text
    return u


def test_post_dvid_block_file_reads_back_as_sample(client, lm):
    """DVID's labelmap test: POST /blocks with fib19 block + 16-byte header == the raw sample."""
    block = gzip.decompress((DATA / "fib19-64x64x64-sample1-block.dat.gz").read_bytes())
    payload = gzip.compress(block)
    body = struct.pack("<iiii", 0, 0, 0, len(payload)) + payload
    assert client.post(f"/api/node/{lm}/seg/blocks", content=body).status_code == 200
    r = client.get(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0")
    got = np.frombuffer(r.content, "<u8").reshape(64, 64, 64)
    assert np.array_equal(got, _volume("fib19-64x64x64-sample1.dat.gz"))
    assert client.get(f"/api/node/{lm}/seg/maxlabel").json() == {"maxlabel": int(got.max())}


def test_post_stream_1block_worst_case(client, lm):
    body = (DATA / "stream_1block.dat").read_bytes()
    assert client.post(f"/api/node/{lm}/seg/blocks", content=body).status_code == 200
    raw = client.get(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0").content
    assert (
        hashlib.sha256(raw).hexdigest()
        == "7846ee6c650b1d2f9491c74de0fa8e037fbd4e984d55f8d21eef2271b43c9841"
    )


def test_blocks_get_all_compressions_decode(client, lm):
    vol = _volume("cx-64x64x64-sample1.dat.gz")
    vol2 = _volume("cx-64x64x64-sample2.dat.gz")
    both = np.concatenate([vol, vol2], axis=2)  # x 0..127
    assert (
        client.post(
            f"/api/node/{lm}/seg/raw/0_1_2/128_64_64/0_0_0", content=both.tobytes()
        ).status_code
        == 200
    )
    base = f"/api/node/{lm}/seg/blocks/128_64_64/0_0_0"
    decoders = {
        "": lambda p: np.frombuffer(lz4.block.decompress(p, uncompressed_size=64**3 * 8), "<u8"),
        "lz4": lambda p: np.frombuffer(lz4.block.decompress(p, uncompressed_size=64**3 * 8), "<u8"),
        "gzip": lambda p: np.frombuffer(gzip.decompress(p), "<u8"),
        "uncompressed": lambda p: np.frombuffer(p, "<u8"),
        "blocks": lambda p: decode_label_block(gzip.decompress(p)),
    }
    for comp, dec in decoders.items():
        r = client.get(base + (f"?compression={comp}" if comp else ""))
        recs = list(iter_block_stream(r.content))
        assert [c for c, _ in recs] == [(0, 0, 0), (1, 0, 0)], comp
        assert np.array_equal(dec(bytes(recs[0][1])).reshape(64, 64, 64), vol), comp
        assert np.array_equal(dec(bytes(recs[1][1])).reshape(64, 64, 64), vol2), comp
    r = client.get(f"/api/node/{lm}/seg/specificblocks?blocks=1,0,0")
    ((coord, payload),) = list(iter_block_stream(r.content))
    assert coord == (1, 0, 0) and np.array_equal(gunzip_label_block(payload), vol2)
    assert client.get(base + "?compression=zip").status_code == 400


def test_our_encoded_blocks_round_trip_through_post(client, lm):
    vol = _volume("fib19-64x64x64-sample2.dat.gz")
    payload = gzip.compress(encode_label_block(vol))
    body = struct.pack("<iiii", 1, 2, 3, len(payload)) + payload
    assert client.post(f"/api/node/{lm}/seg/blocks", content=body).status_code == 200
    r = client.get(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/64_128_192")
    assert np.array_equal(np.frombuffer(r.content, "<u8").reshape(64, 64, 64), vol)
    info = client.get(f"/api/node/{lm}/seg/info").json()
    assert info["Extents"] == {"MinPoint": [64, 128, 192], "MaxPoint": [127, 191, 255]}


def test_raw_compressions_decode_independently(client, lm):
    vol = _volume("fib19-64x64x64-sample1.dat.gz")
    client.post(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0", content=vol.tobytes())
    sub = vol[5:45, 10:30, 0:64]  # z 40, y 20, x 64
    url = f"/api/node/{lm}/seg/raw/0_1_2/64_20_40/0_10_5"
    assert np.array_equal(np.frombuffer(client.get(url).content, "<u8").reshape(sub.shape), sub)
    r = client.get(url + "?compression=lz4")
    assert np.array_equal(
        np.frombuffer(lz4.block.decompress(r.content, uncompressed_size=sub.nbytes), "<u8").reshape(
            sub.shape
        ),
        sub,
    )
    r = client.get(url + "?compression=gzip")
    assert np.array_equal(np.frombuffer(gzip.decompress(r.content), "<u8").reshape(sub.shape), sub)
    r = client.get(url + "?compression=googlegzip")
    assert r.headers["content-encoding"] == "gzip"  # httpx already gunzipped the body
    got = cseg.decompress(r.content, (64, 20, 40), np.uint64, block_size=(8, 8, 8), order="F")
    assert np.array_equal(np.asarray(got).T, sub)
    r = client.get(url + "?compression=google")
    got = cseg.decompress(r.content, (64, 20, 40), np.uint64, block_size=(8, 8, 8), order="F")
    assert np.array_equal(np.asarray(got).T, sub)


def test_raw_3d_ignores_the_format_segment(client, lm):
    """DVID's labelmap (handlers.go 979-1020) never reads a 3D format segment."""
    vol = _volume("fib19-64x64x64-sample1.dat.gz")
    client.post(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0", content=vol.tobytes())
    sub = vol[5:45, 10:30, 0:64]
    for endpoint in ("raw", "isotropic"):
        for fmt in ("nD", "jpg", "jpeg", "png"):
            url = f"/api/node/{lm}/seg/{endpoint}/0_1_2/64_20_40/0_10_5/{fmt}"
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            assert r.headers["content-type"] == "application/octet-stream"
            assert np.array_equal(np.frombuffer(r.content, "<u8").reshape(sub.shape), sub)
            r = client.get(url + "?compression=gzip")
            got = np.frombuffer(gzip.decompress(r.content), "<u8").reshape(sub.shape)
            assert np.array_equal(got, sub)


def test_post_raw_compressed_bodies_and_bad_input(client, lm):
    vol = _volume("cx-64x64x64-sample2.dat.gz")
    url = f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0"
    assert (
        client.post(
            url + "?compression=lz4", content=lz4.block.compress(vol.tobytes(), store_size=False)
        ).status_code
        == 200
    )
    assert np.array_equal(np.frombuffer(client.get(url).content, "<u8").reshape(vol.shape), vol)
    assert (
        client.post(
            url + "?compression=gzip", content=gzip.compress((vol + 1).tobytes())
        ).status_code
        == 200
    )
    assert np.array_equal(np.frombuffer(client.get(url).content, "<u8").reshape(vol.shape), vol + 1)
    assert client.post(url + "?compression=lz4", content=b"garbage").status_code == 400
    assert client.post(url + "?compression=gzip", content=b"garbage").status_code == 400
    assert client.post(url, content=b"\0" * 8).status_code == 400
    # undecodable / wrong-size blocks write nothing
    good = gzip.compress(encode_label_block(np.zeros((64, 64, 64), np.uint64) + 5))
    bad = b"\x1f\x8bnot gzip"
    body = (
        struct.pack("<iiii", 0, 0, 0, len(good))
        + good
        + struct.pack("<iiii", 1, 0, 0, len(bad))
        + bad
    )
    assert client.post(f"/api/node/{lm}/seg/blocks", content=body).status_code == 400
    small = gzip.compress(encode_label_block(np.zeros((32, 32, 32), np.uint64)))
    assert (
        client.post(
            f"/api/node/{lm}/seg/blocks", content=struct.pack("<iiii", 0, 0, 0, len(small)) + small
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/api/node/{lm}/seg/blocks", content=struct.pack("<iiii", 0, 0, 0, 100) + b"x"
        ).status_code
        == 400
    )
    assert np.array_equal(np.frombuffer(client.get(url).content, "<u8").reshape(vol.shape), vol + 1)


def test_label_labels_counters(client, lm):
    vol = np.zeros((64, 64, 64), np.uint64)
    vol[1, 2, 3] = 77
    vol[10, 20, 30] = 2**40
    client.post(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0", content=vol.tobytes())
    assert client.get(f"/api/node/{lm}/seg/label/3_2_1").json() == {"Label": 77}
    r = client.request("GET", f"/api/node/{lm}/seg/labels", content=b"[[3,2,1],[30,20,10],[0,0,0]]")
    assert r.json() == [77, 2**40, 0]
    assert (
        client.request("GET", f"/api/node/{lm}/seg/labels", content=b"[[1,2]]").status_code == 400
    )
    assert client.get(f"/api/node/{lm}/seg/maxlabel").json() == {"maxlabel": 2**40}
    assert client.get(f"/api/node/{lm}/seg/nextlabel").json() == {"nextlabel": 2**40 + 1}
    assert client.post(f"/api/node/{lm}/seg/nextlabel/10").json() == {
        "start": 2**40 + 1,
        "end": 2**40 + 10,
    }
    assert client.get(f"/api/node/{lm}/seg/nextlabel").json() == {"nextlabel": 2**40 + 11}
    r = client.get(f"/api/node/{lm}/seg/raw/xy/64_64/0_0_1")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_downres_scale_read(client, lm):
    vol = np.full((128, 128, 128), 3, np.uint64)
    vol[:, :, 64:] = 4
    assert (
        client.post(
            f"/api/node/{lm}/seg/raw/0_1_2/128_128_128/0_0_0", content=vol.tobytes()
        ).status_code
        == 200
    )
    r = client.get(f"/api/node/{lm}/seg/raw/0_1_2/64_64_64/0_0_0?scale=1")
    got = np.frombuffer(r.content, "<u8").reshape(64, 64, 64)
    assert (got[:, :, :32] == 3).all() and (got[:, :, 32:] == 4).all()


def test_old_type_names_create_labelmaps(client, repo):
    u = repo.root_uuid
    for t in ("labelblk", "labelarray"):
        r = client.post(f"/api/repo/{u}/instance", json={"typename": t, "dataname": f"old_{t}"})
        assert r.status_code == 200, r.text
        r = client.get(f"/api/node/{u}/old_{t}/maxlabel")  # DVID: 400 before any label
        assert r.status_code == 400 and "No maximum label found" in r.text
    assert io  # keep import


def test_maxlabel_nextlabel_posts_metadata_resolution(client, lm):
    assert client.post(f"/api/node/{lm}/seg/maxlabel/500").status_code == 200
    assert client.get(f"/api/node/{lm}/seg/maxlabel").json() == {"maxlabel": 500}
    client.post(f"/api/node/{lm}/seg/maxlabel/100")  # smaller: ignored
    assert client.get(f"/api/node/{lm}/seg/maxlabel").json() == {"maxlabel": 500}
    assert client.post(f"/api/node/{lm}/seg/maxlabel/0").status_code == 400
    assert client.post(f"/api/node/{lm}/seg/set-nextlabel/1000").status_code == 200
    # DVID: NextLabel is the last label issued, so the next reservation starts one past it
    assert client.post(f"/api/node/{lm}/seg/nextlabel/5").json() == {"start": 1001, "end": 1005}
    assert client.post(f"/api/node/{lm}/seg/resolution", json=[4, 4, 40]).status_code == 200
    assert client.post(f"/api/node/{lm}/seg/resolution", json=[4, 4]).status_code == 400
    md = client.get(f"/api/node/{lm}/seg/metadata")
    assert md.headers["content-type"].startswith("application/vnd.dvid-nd-data+json")
    assert [a["Resolution"] for a in md.json()["Axes"]] == [4, 4, 40]
    props = md.json()["Properties"]  # imageblk's Properties, not labelmap's Extended
    assert props["Values"][0]["DataType"] == "uint64" and props["VoxelSize"] == [4, 4, 40]
    assert "MaxLabel" not in props and "Values" not in md.json()
    assert [a["Size"] for a in md.json()["Axes"]] == [0, 0, 0]  # nothing written yet
    assert props["MinPoint"] is None


def test_labelblk_is_served_with_its_own_name_and_span_blocks(repo, client) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    uuid = repo.root_uuid
    r = client.post(f"/api/repo/{uuid}/instance", json={"typename": "labelblk", "dataname": "old"})
    assert r.status_code == 200, r.text
    info = client.get(f"/api/node/{uuid}/old/info").json()
    assert info["Base"]["TypeName"] == "labelblk"
    assert info["Base"]["TypeURL"].endswith("/labelblk")
    assert info["Extended"]["BlockSize"] == [32, 32, 32]
    rng = np.random.default_rng(2)
    blocks = rng.integers(0, 2**40, (3, 32, 32, 32), dtype=np.uint64)  # spanX=3 blocks
    r = client.post(f"/api/node/{uuid}/old/blocks/1_0_0/3", content=blocks.tobytes())
    assert r.status_code == 200, r.text
    got = client.get(f"/api/node/{uuid}/old/blocks/1_0_0/3")
    assert got.status_code == 200
    assert np.array_equal(np.frombuffer(got.content, "<u8").reshape(blocks.shape), blocks)
    vol = np.frombuffer(
        client.get(f"/api/node/{uuid}/old/raw/0_1_2/96_32_32/32_0_0").content, "<u8"
    ).reshape(32, 32, 96)
    assert np.array_equal(vol[:, :, 32:64], blocks[1])
