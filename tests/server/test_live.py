"""A real uvicorn on a free loopback port: RocksDB, neuroglancer replay, remote API, shutdown."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import compressed_segmentation as cseg
import httpx
import numpy as np
import pytest
from PIL import Image

from dvidctl.api.remote import RemoteRepository
from dvidctl.api.repository import Repository
from dvidctl.geometry import Box
from dvidctl.server.runner import BackgroundServer, open_state
from dvidctl.server.state import ServerSettings


@pytest.fixture
def live(tmp_path):
    Repository.init(tmp_path / "r1", alias="live").close()
    state = open_state([tmp_path / "r1"], tmp_path / "store", ServerSettings())
    with BackgroundServer(state) as srv:
        yield srv, state
    state.close()


def _setup_ng_data(c: httpx.Client, url: str, u: str) -> tuple[np.ndarray, np.ndarray]:
    for body in (
        {
            "typename": "uint8blk",
            "dataname": "grayscale",
            "BlockSize": "64,64,64",
            "Compression": "jpeg",
        },
        {"typename": "uint8blk", "dataname": "grayraw", "BlockSize": "64,64,64"},
        {
            "typename": "labelmap",
            "dataname": "segmentation",
            "BlockSize": "64,64,64",
            "MaxDownresLevel": "1",
        },
    ):
        assert c.post(f"{url}/api/repo/{u}/instance", json=body).status_code == 200
    zz, yy, xx = np.mgrid[0:64, 0:64, 0:128]
    gray = ((xx + 2 * yy + 3 * zz) % 256).astype(np.uint8)  # smooth: JPEG-friendly
    seg = ((xx // 20) + 10 * (yy // 16) + 100 * (zz // 32) + 1).astype(np.uint64)
    for name, vol in (("grayscale", gray), ("grayraw", gray), ("segmentation", seg)):
        r = c.post(f"{url}/api/node/{u}/{name}/raw/0_1_2/128_64_64/0_0_0", content=vol.tobytes())
        assert r.status_code == 200, r.text
    return gray, seg


def _chunks(info: dict, level: int = 0) -> list[tuple[int, int, int]]:
    """Chunk origins (x, y, z) as neuroglancer's DVID source computes them (64-voxel chunks)."""
    ext = info["Extended"]
    lo = [(v >> level) - (v >> level) % 64 for v in ext["MinPoint"]]
    hi = [-(-(v + 1) // 2**level) for v in ext["MaxPoint"]]
    return [
        (x, y, z)
        for z in range(lo[2], hi[2], 64)
        for y in range(lo[1], hi[1], 64)
        for x in range(lo[0], hi[0], 64)
    ]


def test_neuroglancer_session_replay(live):
    """The requests neuroglancer's DVID source makes, in order, every chunk decoded."""
    srv, state = live
    u = next(iter(state.repos)).root_uuid
    with httpx.Client(timeout=30, headers={"Origin": "http://neuroglancer"}) as c:
        gray, seg = _setup_ng_data(c, srv.url, u)
        # 1. repos info: instances, their types, compression and extents
        repos = c.get(f"{srv.url}/api/repos/info").json()
        insts = repos[u]["DataInstances"]
        assert "jpeg" in insts["grayscale"]["Base"]["Compression"]
        assert "jpeg" not in insts["grayraw"]["Base"]["Compression"]
        for name in ("grayscale", "grayraw", "segmentation"):
            ext = insts[name]["Extended"]
            assert ext["Values"][0]["DataType"] in ("uint8", "uint64")
            assert len(ext["VoxelSize"]) == 3 and len(ext["BlockSize"]) == 3
            assert ext["MinPoint"] == [0, 0, 0] and ext["MaxPoint"] == [127, 63, 63]
        assert insts["segmentation"]["Extended"]["MaxDownresLevel"] == 1
        node = u[:8]  # neuroglancer URLs carry a node key prefix
        # 2. JPEG grayscale: subvolblocks of one 64^3 block, the 16-byte header dropped
        for x, y, z in _chunks(insts["grayscale"]):
            r = c.get(f"{srv.url}/api/node/{node}/grayscale/subvolblocks/64_64_64/{x}_{y}_{z}")
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
            img = np.asarray(Image.open(io.BytesIO(r.content[16:])))
            want = gray[z : z + 64, y : y + 64, x : x + 64].reshape(64 * 64, 64)
            assert img.shape == want.shape and np.abs(img.astype(int) - want).mean() < 4
        # 3. RAW grayscale: a 3D chunk as one JPEG
        for x, y, z in _chunks(insts["grayraw"]):
            r = c.get(f"{srv.url}/api/node/{node}/grayraw/raw/0_1_2/64_64_64/{x}_{y}_{z}/jpeg")
            img = np.asarray(Image.open(io.BytesIO(r.content)))
            want = gray[z : z + 64, y : y + 64, x : x + 64].reshape(64 * 64, 64)
            assert img.shape == want.shape and np.abs(img.astype(int) - want).mean() < 4
        # 4. segmentation: compressed_segmentation, gzip'd, per scale
        for level in (0, 1):
            want_vol = seg if level == 0 else seg[::2, ::2, ::2]
            for x, y, z in _chunks(insts["segmentation"], level):
                r = c.get(
                    f"{srv.url}/api/node/{node}/segmentation/raw/0_1_2/64_64_64/{x}_{y}_{z}"
                    f"?compression=googlegzip&scale={level}"
                )
                assert r.headers["content-encoding"] == "gzip"
                got = np.asarray(
                    cseg.decompress(
                        r.content, (64, 64, 64), np.uint64, block_size=(8, 8, 8), order="F"
                    )
                ).T
                part = want_vol[z : z + 64, y : y + 64, x : x + 64]
                assert np.array_equal(got[: part.shape[0], : part.shape[1], : part.shape[2]], part)
                assert not got[part.shape[0] :].any() and not got[:, :, part.shape[2] :].any()


def test_remote_api_over_real_server(live):
    srv, state = live
    u = next(iter(state.repos)).root_uuid
    with RemoteRepository(srv.url) as remote:
        remote.request(
            "POST", f"repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv"}
        )
        remote.request(
            "POST", f"repo/{u}/instance", json={"typename": "labelmap", "dataname": "seg"}
        )
        node = remote.node(u[:8])
        kv = node.instance("kv")
        kv.put("a", b"1")
        kv.put_many({"b": b"", "c": b"333"})
        assert (
            kv.get("a") == b"1" and kv.keys() == ["a", "b", "c"] and kv.keys("b", "c") == ["b", "c"]
        )
        assert dict(kv.items()) == {"a": b"1", "b": b"", "c": b"333"}
        assert kv.get_many(["a", "b", "zz"]) == {"a": b"1", "b": b"", "zz": None}
        assert kv.delete("a") and not kv.exists("a")
        seg = node.instance("seg")
        vol = np.arange(64 * 64 * 64, dtype=np.uint64).reshape(64, 64, 64)
        seg.put_subvolume(vol, (0, 0, 0))
        assert np.array_equal(seg.get_subvolume(Box((0, 0, 0), (64, 64, 64))), vol)
        assert seg.label_at((1, 0, 0)) == 1 and seg.max_label() == int(vol.max())
        assert list(seg.labels_at([[0, 1, 0], [0, 0, 1]])) == [64, 64 * 64]
        assert node.locked is False and node.uuid == u
        with pytest.raises(KeyError):
            kv.get("missing")
        with pytest.raises(KeyError):
            node.instance("nope")


def test_concurrent_reads_while_writing(live):
    srv, state = live
    u = next(iter(state.repos)).root_uuid
    with httpx.Client(timeout=30) as c:
        c.post(f"{srv.url}/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv"})
        for i in range(20):
            c.post(f"{srv.url}/api/node/{u}/kv/key/k{i:02d}", content=str(i).encode())

    def reader(i: int) -> bytes:
        with httpx.Client(timeout=30) as cc:
            return cc.get(f"{srv.url}/api/node/{u}/kv/key/k{i % 20:02d}").content

    def writer(i: int) -> int:
        with httpx.Client(timeout=30) as cc:
            return cc.post(f"{srv.url}/api/node/{u}/kv/key/w{i}", content=b"x").status_code

    with ThreadPoolExecutor(8) as ex:
        reads = list(ex.map(reader, range(60)))
        writes = list(ex.map(writer, range(20)))
    assert reads == [str(i % 20).encode() for i in range(60)] and set(writes) == {200}


def test_repo_creation_and_shutdown_releases_locks(tmp_path):
    Repository.init(tmp_path / "r1").close()
    state = open_state([tmp_path / "r1"], tmp_path / "store", ServerSettings())
    with BackgroundServer(state) as srv:
        root = httpx.post(f"{srv.url}/api/repos", json={"alias": "made"}).json()["root"]
        assert httpx.get(f"{srv.url}/api/heartbeat").text == "OK"
        bad = httpx.post(f"{srv.url}/api/repo/{root}/instance", content=b"{not json")
        assert bad.status_code == 400
        assert httpx.get(f"{srv.url}/api/heartbeat").text == "OK"  # still serving
    state.close()
    # Both databases open again: the RocksDB locks were released.
    Repository.open(tmp_path / "r1").close()
    again = Repository.open(tmp_path / "store" / root)
    assert again.alias == "made"
    again.close()
    # A restarted server serves the repo created earlier in its store.
    state2 = open_state([tmp_path / "r1"], tmp_path / "store", ServerSettings())
    assert root in state2.repos.repos
    state2.close()
