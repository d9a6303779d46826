"""labelmap proofreading over HTTP: DVID's paths, bodies and formats (as neuclease sends them)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from dvidctl.datatypes.labelmap.indexproto import decode_index, decode_indices
from dvidctl.datatypes.labelmap.labelindex import decode_block_ids
from dvidctl.datatypes.labelmap.sparsevol import Runs, decode_rles, encode_rles


def _sample(testdata: Path) -> np.ndarray:
    raw = gzip.decompress((testdata / "fib19-64x64x64-sample1.dat.gz").read_bytes())
    return np.frombuffer(raw, "<u8").reshape(64, 64, 64).copy()


@pytest.fixture
def seg(client, repo, testdata_dir):  # type: ignore[no-untyped-def]
    """A 32^3-block labelmap holding the fib19 sample at offset (x,y,z) = (32, 0, 16)."""
    u = repo.root_uuid
    r = client.post(
        f"/api/repo/{u}/instance",
        json={
            "typename": "labelmap",
            "dataname": "seg",
            "BlockSize": "32,32,32",
            "MaxDownresLevel": "2",
        },
    )
    assert r.status_code == 200, r.text
    vol = _sample(testdata_dir)
    r = client.post(f"/api/node/{u}/seg/raw/0_1_2/64_64_64/32_0_16", content=vol.tobytes())
    assert r.status_code == 200, r.text
    return u, vol


def _voxels(body: bytes) -> set[tuple[int, int, int]]:
    """XYZ voxels of a legacy RLE body."""
    runs = decode_rles(body)
    return {tuple(int(v) for v in p[::-1]) for p in runs.voxels_zyx()}  # type: ignore[misc]


def _expected(vol: np.ndarray, mask: np.ndarray) -> set[tuple[int, int, int]]:
    return {(int(x) + 32, int(y), int(z) + 16) for z, y, x in np.argwhere(mask)}


def test_sparsevol_sizes_and_index_match_numpy(client, seg) -> None:  # type: ignore[no-untyped-def]
    u, vol = seg
    labels, counts = np.unique(vol[vol != 0], return_counts=True)
    big = int(labels[np.argmax(counts)])
    r = client.get(f"/api/node/{u}/seg/sparsevol/{big}")
    assert r.status_code == 200
    assert _voxels(r.content) == _expected(vol, vol == big)
    head = struct.unpack_from("<BBBBII", r.content)
    assert head[:4] == (0, 3, 0, 0) and head[5] == (len(r.content) - 12) // 16
    assert client.get(f"/api/node/{u}/seg/size/{big}").json() == {"voxels": int(counts.max())}
    got = client.request(
        "GET", f"/api/node/{u}/seg/sizes", json=[int(v) for v in labels] + [999999]
    )
    assert got.json() == [int(c) for c in counts] + [0]
    idx = decode_index(client.get(f"/api/node/{u}/seg/index/{big}").content)
    assert idx.label == big and idx.num_voxels == int(counts.max())
    blocks = {tuple(b) for b in decode_block_ids(idx.block_ids()).tolist()}
    zs, ys, xs = np.nonzero(vol == big)
    assert blocks == {
        ((z + 16) // 32, y // 32, (x + 32) // 32) for z, y, x in zip(zs, ys, xs, strict=True)
    }
    many = decode_indices(
        client.request("GET", f"/api/node/{u}/seg/indices", json=[big, 999999]).content
    )
    assert [i.label for i in many] == [big]
    assert client.get(f"/api/node/{u}/seg/sparsevol/999999").status_code == 404
    assert client.get(f"/api/node/{u}/seg/size/999999").status_code == 404
    assert client.head(f"/api/node/{u}/seg/sparsevol/{big}").status_code == 200
    assert client.head(f"/api/node/{u}/seg/sparsevol/999999").status_code == 204
    listed = np.frombuffer(client.get(f"/api/node/{u}/seg/listlabels").content, "<u8")
    assert listed.tolist() == labels.tolist()


def test_sparsevol_bounds_scale_coarse_and_size(client, seg) -> None:  # type: ignore[no-untyped-def]
    u, vol = seg
    labels, counts = np.unique(vol[vol != 0], return_counts=True)
    label = int(labels[np.argmax(counts)])
    q = "minx=40&maxx=70&miny=10&maxy=40&minz=20&maxz=50"
    got = _voxels(client.get(f"/api/node/{u}/seg/sparsevol/{label}?{q}").content)
    assert got == {
        p
        for p in _expected(vol, vol == label)
        if 40 <= p[0] <= 70 and 10 <= p[1] <= 40 and 20 <= p[2] <= 50
    }
    coarse = decode_rles(client.get(f"/api/node/{u}/seg/sparsevol-coarse/{label}").content)
    zs, ys, xs = np.nonzero(vol == label)
    want = {((x + 32) // 32, y // 32, (z + 16) // 32) for z, y, x in zip(zs, ys, xs, strict=True)}
    assert {tuple(int(v) for v in p[::-1]) for p in coarse.voxels_zyx()} == want
    size = client.get(f"/api/node/{u}/seg/sparsevol-size/{label}").json()
    assert size["voxels"] == int((vol == label).sum()) and size["numblocks"] == len(want)
    # scale 1: the voxels of the pyramid level holding the label
    s1 = client.get(f"/api/node/{u}/seg/raw/0_1_2/48_32_40/16_0_8?scale=1&supervoxels=true")
    lvl = np.frombuffer(s1.content, "<u8").reshape(40, 32, 48)
    got1 = _voxels(client.get(f"/api/node/{u}/seg/sparsevol/{label}?scale=1").content)
    assert got1 == {(int(x) + 16, int(y), int(z) + 8) for z, y, x in np.argwhere(lvl == label)}


def test_merge_cleave_split_over_http(client, seg) -> None:  # type: ignore[no-untyped-def]
    u, vol = seg
    labels, counts = np.unique(vol[vol != 0], return_counts=True)
    a, b, c = (int(v) for v in labels[np.argsort(counts)[-3:]])
    r = client.post(f"/api/node/{u}/seg/merge?u=alice&app=test", json=[a, b, c])
    assert r.status_code == 200, r.text
    mut = r.json()["MutationID"]
    assert client.get(f"/api/node/{u}/seg/supervoxels/{a}").json() == sorted([a, b, c])
    assert client.get(f"/api/node/{u}/seg/size/{b}").status_code == 404
    assert client.request("GET", f"/api/node/{u}/seg/mapping", json=[b, c, a]).json() == [a, a, a]
    assert client.get(f"/api/node/{u}/seg/label/40_5_20").json()["Label"] in labels.tolist()
    raw = np.frombuffer(client.get(f"/api/node/{u}/seg/raw/0_1_2/64_64_64/32_0_16").content, "<u8")
    exp = vol.copy()
    exp[(vol == b) | (vol == c)] = a
    assert (raw.reshape(vol.shape) == exp).all()
    sv = np.frombuffer(
        client.get(f"/api/node/{u}/seg/raw/0_1_2/64_64_64/32_0_16?supervoxels=true").content, "<u8"
    )
    assert (sv.reshape(vol.shape) == vol).all()
    lastmod = client.get(f"/api/node/{u}/seg/lastmod/{a}").json()
    assert lastmod["mutation id"] == mut and lastmod["last mod user"] == "alice"
    text = client.get(f"/api/node/{u}/seg/mappings").text
    assert f"{b} {a}\n" in text and f"{c} {a}\n" in text
    # cleave c back out
    r = client.post(f"/api/node/{u}/seg/cleave/{a}", json=[c])
    assert r.status_code == 200, r.text
    new = r.json()["CleavedLabel"]
    assert client.get(f"/api/node/{u}/seg/size/{new}").json() == {"voxels": int((vol == c).sum())}
    # split: the voxels of body a with z < 30 (voxel coordinates include the offset)
    body = (vol == a) | (vol == b)
    part = body.copy()
    part[14:] = False
    pts = np.argwhere(part)
    runs = Runs(pts + np.array([16, 0, 32]), np.ones(len(pts), np.int64))
    r = client.post(f"/api/node/{u}/seg/split/{a}", content=encode_rles(runs))
    assert r.status_code == 200, r.text
    got = r.json()
    split_label = got["label"]
    assert _voxels(client.get(f"/api/node/{u}/seg/sparsevol/{split_label}").content) == _expected(
        vol, part
    )
    assert _voxels(client.get(f"/api/node/{u}/seg/sparsevol/{a}").content) == _expected(
        vol, body & ~part
    )
    muts = client.get(f"/api/node/{u}/seg/mutations").json()
    # DVID's log holds the completion records
    assert [m["Action"] for m in muts] == ["merge-complete", "cleave-complete", "split-complete"]
    assert set(got) == {"label", "MutationID"} and got["MutationID"] == muts[-1]["MutationID"]
    # DVID: supervoxel ids are immutable; both parts of each split supervoxel get new ids
    svsplits = muts[-1]["SVSplits"]
    touched = sorted(int(k) for k in svsplits)
    assert touched == sorted(set(np.unique(vol[part]).tolist()) & {a, b})
    untouched = sorted({a, b} - set(touched))
    remains = sorted(v["Remain"] for v in svsplits.values())
    splits_ = sorted(v["Split"] for v in svsplits.values())
    assert splits_ == [split_label + 1 + 2 * i for i in range(len(touched))]
    sv_of = lambda lbl: client.get(f"/api/node/{u}/seg/supervoxels/{lbl}").json()  # noqa: E731
    assert sv_of(split_label) == splits_ and sv_of(a) == sorted(remains + untouched)
    mapped = client.request(
        "GET", f"/api/node/{u}/seg/mapping", json=[*touched, *splits_, *remains]
    ).json()
    n = len(touched)
    assert mapped == [0] * n + [split_label] * n + [a] * n
    hist = client.get(f"/api/node/{u}/seg/history/{a}/{u}/{u}")
    assert hist.headers["content-type"].startswith("text/plain")
    merged = json.dumps(muts[0]["Labels"], separators=(",", ":"))
    assert hist.text == (  # DVID's entries, each as Go's compact json.Marshal, no separator
        f'{{"Action":"merge","Target":{a},"Labels":{merged}}}'
        f'{{"Action":"cleave","OrigLabel":{a},"CleavedLabel":{new},"CleavedSupervoxels":[{c}]}}'
        f'{{"Action":"split","Target":{a},"NewLabel":{split_label},"Coarse":false}}'
    )
    # from = to: the cleaved body's supervoxel is in body `new` there, which no record
    # merged, cleaved or split (DVID matches records by the bodies at "from")
    assert client.get(f"/api/node/{u}/seg/history/{new}/{u}/{u}").text == ""


def test_bad_mutations_are_refused_and_change_nothing(client, seg) -> None:  # type: ignore[no-untyped-def]
    u, vol = seg
    labels, counts = np.unique(vol[vol != 0], return_counts=True)
    a, b = (int(v) for v in labels[np.argsort(counts)[-2:]])
    before = client.get(f"/api/node/{u}/seg/raw/0_1_2/64_64_64/32_0_16").content
    bad = [
        ("merge", [0, a]),
        ("merge", [a, a]),
        ("merge", [a, 999999]),
        ("merge", "nope"),
        (f"cleave/{a}", [b]),
        (f"cleave/{a}", [a]),  # every supervoxel
        ("renumber", [b, a]),  # onto a label in use
        ("renumber", [5]),
    ]
    for path, body in bad:
        r = client.post(f"/api/node/{u}/seg/{path}", json=body)
        assert r.status_code == 400, (path, body, r.text)
    outside = np.argwhere(vol == b)[:3]
    runs = Runs(outside + np.array([16, 0, 32]), np.ones(3, np.int64))
    r = client.post(f"/api/node/{u}/seg/split/{a}", content=encode_rles(runs))
    assert r.status_code == 400 and "outside" in r.text
    r = client.post(f"/api/node/{u}/seg/split/{a}", content=b"\x00\x03\x00\x00" + b"\x00" * 7)
    assert r.status_code == 400
    r = client.post(f"/api/node/{u}/seg/split/{a}", content=encode_rles(runs)[:-4])
    assert r.status_code == 400
    assert client.get(f"/api/node/{u}/seg/raw/0_1_2/64_64_64/32_0_16").content == before
    assert client.get(f"/api/node/{u}/seg/mutations").json() == []
    assert client.get(f"/api/node/{u}/seg/mappings").text == ""


def test_label_allocation_as_dvid(client, lm) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/node/{lm}/seg/maxlabel")
    assert r.status_code == 400 and "No maximum label found" in r.text
    assert client.post(f"/api/node/{lm}/seg/set-nextlabel/0").status_code == 400
    assert client.post(f"/api/node/{lm}/seg/set-nextlabel/100?ceiling=110").status_code == 200
    assert client.post(f"/api/node/{lm}/seg/nextlabel/5").json() == {"start": 101, "end": 105}
    assert client.get(f"/api/node/{lm}/seg/maxlabel").json() == {"maxlabel": 105}
    assert client.post(f"/api/node/{lm}/seg/nextlabel/10").status_code == 400  # past the ceiling
    assert client.post(f"/api/node/{lm}/seg/nextlabel/5").json() == {"start": 106, "end": 110}
    assert client.post(f"/api/node/{lm}/seg/set-nextlabel/200?ceiling=0").status_code == 200
    assert client.post(f"/api/node/{lm}/seg/nextlabel/2").json() == {"start": 201, "end": 202}
    info = client.get(f"/api/node/{lm}/seg/info").json()["Extended"]
    assert info["NextLabel"] == 202 and info["MaxRepoLabel"] == 202


@pytest.fixture
def lm(client, repo):  # type: ignore[no-untyped-def]
    u = repo.root_uuid
    r = client.post(f"/api/repo/{u}/instance", json={"typename": "labelmap", "dataname": "seg"})
    assert r.status_code == 200, r.text
    return u


def test_post_index_and_indices_round_trip(client, seg) -> None:  # type: ignore[no-untyped-def]
    u, vol = seg
    labels = np.unique(vol[vol != 0])
    a, b = int(labels[0]), int(labels[1])
    raw = client.get(f"/api/node/{u}/seg/index/{a}").content
    assert client.post(f"/api/node/{u}/seg/index/777", content=raw).status_code == 200
    assert decode_index(client.get(f"/api/node/{u}/seg/index/777").content).num_voxels == int(
        (vol == a).sum()
    )
    both = client.request("GET", f"/api/node/{u}/seg/indices", json=[a, b]).content
    assert client.post(f"/api/node/{u}/seg/indices", content=both).status_code == 200
    assert client.post(f"/api/node/{u}/seg/index/777", content=b"").status_code == 200  # delete
    assert client.get(f"/api/node/{u}/seg/index/777").status_code == 404
    assert client.post(f"/api/node/{u}/seg/index/5", content=b"\xff\xff").status_code == 400
