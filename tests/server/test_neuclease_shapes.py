"""neuclease's labelmap calls, request for request (neuclease/dvid/labelmap/_labelmap.py,
_labelindex.py, rle.py), against a real ``dvidctl serve`` (uvicorn on loopback, RocksDB).

neuclease itself is not installed (it needs pandas, vigra and more); each helper below
sends exactly what the neuclease function of the same name sends and parses the answer
the way it does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from dvidctl.api.repository import Repository
from dvidctl.datatypes.labelmap.indexproto import decode_index, decode_indices
from dvidctl.datatypes.labelmap.mutlog import mutation_seq
from dvidctl.datatypes.labelmap.sparsevol import Runs, encode_rles
from dvidctl.server.runner import BackgroundServer, open_state
from dvidctl.server.state import ServerSettings


def parse_rle_response(body: bytes) -> np.ndarray:
    """neuclease.dvid.rle.parse_rle_response(..., format='coords'): ZYX voxels."""
    items = np.frombuffer(body[12:], np.int32).reshape(-1, 4)
    starts_zyx, lengths = items[:, :3][:, ::-1], items[:, 3]
    reps = np.repeat(starts_zyx, lengths, axis=0)
    reps[:, 2] += np.arange(len(reps)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return reps


@pytest.fixture
def nc(tmp_path) -> Iterator[tuple[httpx.Client, str, np.ndarray]]:  # type: ignore[no-untyped-def]
    Repository.init(tmp_path / "r", alias="nc").close()
    state = open_state([tmp_path / "r"], tmp_path / "store", ServerSettings())
    with BackgroundServer(state) as srv, httpx.Client(timeout=30) as session:
        server = srv.url
        uuid = session.get(f"{server}/api/repos/info").json()
        uuid = next(iter(uuid))
        inst = {"typename": "labelmap", "dataname": "segmentation", "MaxDownresLevel": "1"}
        assert session.post(f"{server}/api/repo/{uuid}/instance", json=inst).status_code == 200
        base = f"{server}/api/node/{uuid}/segmentation"
        vol = np.zeros((64, 64, 128), np.uint64)
        vol[:, :, :40], vol[:, :, 40:80], vol[:, :, 80:] = 101, 102, 103
        vol[:, 32:, 80:] = 104
        r = session.post(f"{base}/raw/0_1_2/128_64_64/0_0_0", content=vol.tobytes())
        assert r.status_code == 200, r.text
        yield session, base, vol
    state.close()


def test_neuclease_reads(nc) -> None:  # type: ignore[no-untyped-def]
    session, base, vol = nc
    # fetch_maxlabel / fetch_nextlabel
    assert session.get(f"{base}/maxlabel").json()["maxlabel"] == 104
    assert session.get(f"{base}/nextlabel").json()["nextlabel"] == 105
    # fetch_size / fetch_sizes
    supervoxels = str(False).lower()
    assert session.get(f"{base}/size/101?supervoxels={supervoxels}").json()["voxels"] == int(
        (vol == 101).sum()
    )
    sizes = session.request("GET", f"{base}/sizes?supervoxels=false", json=[101, 104, 999]).json()
    assert sizes == [int((vol == 101).sum()), int((vol == 104).sum()), 0]
    # fetch_listlabels(sizes=True)
    r = session.get(f"{base}/listlabels", params={"start": 102, "number": 2, "sizes": "true"})
    pairs = np.frombuffer(r.content, np.uint64).reshape(-1, 2)
    assert pairs.tolist() == [[102, int((vol == 102).sum())], [103, int((vol == 103).sum())]]
    # fetch_sparsevol with box_zyx (neuclease turns the half-open box into inclusive bounds)
    box_zyx = np.asarray([(10, 20, 30), (20, 40, 60)]) - [(0, 0, 0), (1, 1, 1)]
    params = {"scale": str(0)}
    params.update(
        dict(zip(["minz", "miny", "minx", "maxz", "maxy", "maxx"], box_zyx.flat, strict=True))
    )
    r = session.get(f"{base}/sparsevol/101", params=params)
    want = np.argwhere(vol[10:20, 20:40, 30:60] == 101) + (10, 20, 30)
    np.testing.assert_array_equal(parse_rle_response(r.content), want)
    # fetch_sparsevol_coarse, fetch_sparsevol_head
    coarse = parse_rle_response(
        session.get(f"{base}/sparsevol-coarse/104?supervoxels=false").content
    )
    assert coarse.tolist() == [[0, 0, 1]]  # block coords ZYX (64^3 blocks)
    assert session.head(f"{base}/sparsevol/104?supervoxels=false").status_code == 200
    assert session.head(f"{base}/sparsevol/999?supervoxels=false").status_code == 204
    # fetch_supervoxels, fetch_labelindex (protobuf), fetch_lastmod
    assert np.array(
        session.get(f"{base}/supervoxels/103", params={}).json(), np.uint64
    ).tolist() == [103]
    idx = decode_index(session.get(f"{base}/index/103", params=None).content)
    assert idx.label == 103 and idx.num_voxels == int((vol == 103).sum())
    assert session.get(f"{base}/index/999").status_code == 404
    assert set(session.get(f"{base}/lastmod/103").json()) == {
        "mutation id",
        "last mod user",
        "last mod time",
        "last mod app",
    }


def test_neuclease_mutations(nc) -> None:  # type: ignore[no-untyped-def]
    session, base, vol = nc
    # post_merge: json=[main_label] + other_labels
    r = session.post(f"{base}/merge", json=[101, 102])
    assert r.status_code == 200 and "MutationID" in r.json()
    # _fetch_mapping: GET with a JSON body
    assert session.request("GET", f"{base}/mapping", json=[101, 102, 5], params={}).json() == [
        101,
        101,
        0,
    ]
    # fetch_mappings(format='binary') and the text form neuclease reads with read_csv(sep=' ')
    a = np.frombuffer(
        session.get(f"{base}/mappings", params={"format": "binary"}).content, np.uint64
    )
    assert a.reshape(-1, 2).tolist() == [[102, 101]]
    assert session.get(f"{base}/mappings").text == "102 101\n"
    # post_cleave: json=supervoxel_ids -> r.json()["CleavedLabel"]
    cleaved = session.post(f"{base}/cleave/101", json=[102]).json()["CleavedLabel"]
    assert cleaved == 105
    # DVID's addCleaveToMapping also maps the new body id, as a supervoxel, to 0
    assert session.get(f"{base}/mappings").text == "102 105\n105 0\n"
    got = session.request("GET", f"{base}/mapping", json=[105, 102], params={"nolookup": "true"})
    assert got.json() == [0, 105]
    # post_split_supervoxel: RLE bytes, split/remain params, -> SplitSupervoxel, RemainSupervoxel
    part = vol == 103
    part[:32] = False
    pts = np.argwhere(part)
    rle = encode_rles(Runs(pts, np.ones(len(pts), np.int64)))
    r = session.post(
        f"{base}/split-supervoxel/103", content=rle, params={"split": "500", "remain": "501"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["SplitSupervoxel"], r.json()["RemainSupervoxel"]) == (500, 501)
    assert session.get(f"{base}/supervoxels/103").json() == [500, 501]
    assert session.request("GET", f"{base}/mapping", json=[103, 500], params={}).json() == [0, 103]
    # renumber: json=[new, old, ...]; history
    assert session.post(f"{base}/renumber", json=[900, 104]).status_code == 200
    assert session.get(f"{base}/size/900").json()["voxels"] == int((vol == 104).sum())
    uuid = base.split("/")[-2]
    hist = session.get(f"{base}/history/101/{uuid}/{uuid}")
    # DVID's exact body: Go's compact json.Marshal of each entry, one after another
    assert hist.text == (
        '{"Action":"merge","Target":101,"Labels":[102]}'
        '{"Action":"cleave","OrigLabel":101,"CleavedLabel":105,"CleavedSupervoxels":[102]}'
    )
    assert session.get(f"{base}/history/7777/{uuid}/{uuid}").text == ""  # unknown: nothing
    assert session.get(f"{base}/history/0/{uuid}/{uuid}").status_code == 400
    muts = session.get(f"{base}/mutations").json()
    ids = [m["MutationID"] for m in muts]
    assert [mutation_seq(i) for i in ids] == [1, 2, 3, 4] and len({i & 0xFFFFF for i in ids}) == 1


# neuclease.dvid.kafka.kafka_msgs_to_df: DVID's Go time string, parsed by a regex
_GO_TIME = re.compile(r"(\d\d\d\d-\d\d-\d\d) (\d\d:\d\d:\d\d.\d+) (.\d\d\d\d) .*")
# neuclease's labelmap_kafka_msgs_to_df asserts every action is one of these
_KNOWN_ACTIONS = {
    "post-maxlabel",
    "post-nextlabel",
    *(
        f"{a}{c}"
        for a in ("cleave", "merge", "split", "split-supervoxel", "renumber")
        for c in ("", "-complete")
    ),
}


def _msgs_to_rows(msgs: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    """The fields labelmap_kafka_msgs_to_df reads, by action, as it reads them."""
    assert set(m["Action"] for m in msgs) <= _KNOWN_ACTIONS
    rows = []
    for msg in msgs:
        assert _GO_TIME.match(msg["Timestamp"]), msg["Timestamp"]
        action = msg["Action"]
        if action == "cleave-complete":
            rows.append((action, msg["OrigLabel"], msg["CleavedLabel"], msg["CleavedSupervoxels"]))
        elif action == "merge-complete":
            rows.append((action, msg["Target"], msg["Labels"]))
        elif action == "split-complete":
            svs = [(int(t), sr["Split"], sr["Remain"]) for t, sr in msg["SVSplits"].items()]
            rows.append((action, msg["Target"], svs))
        elif action == "split-supervoxel-complete":
            sv = (msg["Supervoxel"], msg["SplitSupervoxel"], msg["RemainSupervoxel"])
            rows.append((action, msg["Body"], sv))
        elif action == "renumber-complete":
            rows.append((action, msg["NewLabel"], [msg["OrigLabel"]]))
    return rows


def _rle(mask: np.ndarray) -> bytes:
    pts = np.argwhere(mask)
    return encode_rles(Runs(pts, np.ones(len(pts), np.int64)))


def test_neuclease_proofreading_calls(nc) -> None:  # type: ignore[no-untyped-def]
    session, base, vol = nc
    uuid = base.split("/")[-2]
    # fetch_label / fetch_labels (GET labels with a JSON body of XYZ points)
    coord_zyx = (5, 40, 90)  # in 104
    coord_str = "_".join(map(str, coord_zyx[::-1]))
    assert session.get(f"{base}/label/{coord_str}", params={}).json()["Label"] == 104
    coords_xyz = np.array([(0, 0, 0), (5, 5, 50), (63, 63, 127)])[:, ::-1].tolist()
    r = session.request("GET", f"{base}/labels", json=coords_xyz, params={})
    assert np.array(r.json(), np.uint64).tolist() == [101, 102, 104]
    # post_merge, then labels read through the mapping unless supervoxels=true
    assert session.post(f"{base}/merge", json=[101, 102]).status_code == 200
    params = {"supervoxels": "true", "scale": "0"}
    assert session.request("GET", f"{base}/labels", json=coords_xyz, params={}).json() == [
        101,
        101,
        104,
    ]
    assert session.request("GET", f"{base}/labels", json=coords_xyz, params=params).json() == [
        101,
        102,
        104,
    ]
    half = "_".join(str(v // 2) for v in coord_zyx[::-1])  # the point at scale 1
    lbl = session.get(f"{base}/label/{half}", params={"supervoxels": "true", "scale": "1"})
    assert lbl.json()["Label"] == 104
    # _fetch_sizes with supervoxels
    n = {v: int((vol == v).sum()) for v in (101, 102, 103, 104)}
    got = session.request("GET", f"{base}/sizes?supervoxels=true", json=[101, 102]).json()
    assert got == [n[101], n[102]]
    assert session.request("GET", f"{base}/sizes?supervoxels=false", json=[101, 102]).json() == [
        n[101] + n[102],
        0,
    ]
    # post_cleave
    cleaved = session.post(f"{base}/cleave/101", json=[102]).json()["CleavedLabel"]
    # post_split_supervoxel with downres=False and both ids
    part = vol == 103
    part[:, :, :100] = False
    r = session.post(
        f"{base}/split-supervoxel/103",
        content=_rle(part),
        params={"downres": "false", "split": "700", "remain": "701"},
    )
    assert r.json()["SplitSupervoxel"] == 700 and r.json()["RemainSupervoxel"] == 701
    assert session.get(f"{base}/maxlabel").json()["maxlabel"] >= 701  # given ids raise it
    # split/{body}: DVID gives both parts of every split supervoxel new ids
    part = vol == 104
    part[:32] = False
    r = session.post(f"{base}/split/104", content=_rle(part))
    assert r.status_code == 200, r.text
    new_body = r.json()["label"]
    sv_split, sv_remain = new_body + 1, new_body + 2
    # fetch_mutations (dag_filter='leaf-only': one GET of /mutations), as neuclease reads it
    msgs = session.get(f"{base}/mutations", params={}).json()
    rows = _msgs_to_rows(msgs)
    assert rows == [
        ("merge-complete", 101, [102]),
        ("cleave-complete", 101, cleaved, [102]),
        ("split-supervoxel-complete", 103, (103, 700, 701)),
        ("split-complete", 104, [(104, sv_split, sv_remain)]),
    ]
    # fetch_supervoxel_splits_from_dvid: [uuid, [[mutid, old, remain, split], ...], ...]
    got = session.get(f"{base}/supervoxel-splits").json()
    events = dict(zip(got[::2], got[1::2], strict=True))
    ids = [m["MutationID"] for m in msgs]
    assert events == {uuid: [[ids[2], 103, 701, 700], [ids[3], 104, sv_remain, sv_split]]}
    # fetch_labelindices: GET indices with a JSON body -> protobuf LabelIndices
    idxs = decode_indices(
        session.request("GET", f"{base}/indices", json=[101, 103, new_body, 5]).content
    )
    assert [i.label for i in idxs] == [101, 103, new_body]
    assert sorted(np.unique(idxs[1].svs).tolist()) == [700, 701]
    assert idxs[2].num_voxels == int(part.sum()) and np.unique(idxs[2].svs).tolist() == [sv_split]
    # fetch_mappings (binary) and fetch_complete_mappings' arithmetic
    pairs = np.frombuffer(
        session.get(f"{base}/mappings", params={"format": "binary"}).content, np.uint64
    ).reshape(-1, 2)
    base_mapping = dict(pairs.tolist())
    retired = [e[1] for e in events[uuid]] + [cleaved]
    complete = {**{b: b for b in base_mapping.values() if b}, **{r: 0 for r in retired}}
    complete = {**complete, **base_mapping}
    sv_vol = np.frombuffer(
        session.get(f"{base}/raw/0_1_2/128_64_64/0_0_0?supervoxels=true").content, np.uint64
    ).reshape(vol.shape)
    body_vol = np.frombuffer(
        session.get(f"{base}/raw/0_1_2/128_64_64/0_0_0").content, np.uint64
    ).reshape(vol.shape)
    for sv in np.unique(sv_vol).tolist():
        want = int(body_vol[sv_vol == sv][0])
        assert complete.get(sv, sv) == want, sv
    assert all(complete[r] == 0 for r in (103, 104))
    # fetch_sparsevol_coarse(supervoxels=True) of a new supervoxel; fetch_lastmod
    coarse = parse_rle_response(
        session.get(f"{base}/sparsevol-coarse/{sv_split}?supervoxels=true").content
    )
    assert coarse.tolist() == [[0, 0, 1]]
    assert session.get(f"{base}/sparsevol-coarse/104?supervoxels=true").status_code == 404
    lastmod = session.get(f"{base}/lastmod/{new_body}").json()
    assert lastmod["mutation id"] == ids[3]


def test_neuclease_mutations_of_leaf_and_parents(nc) -> None:  # type: ignore[no-untyped-def]
    """fetch_mutations(dag_filter='leaf-and-parents'): the DAG from /repo/info (fetch_repo_dag),
    then /mutations of each node from the root to the leaf."""
    session, base, vol = nc
    server, uuid = base.split("/api/")[0], base.split("/")[-2]
    assert session.post(f"{base}/merge", json=[101, 102]).status_code == 200
    assert session.post(f"{server}/api/node/{uuid}/commit", json={"note": "m"}).status_code == 200
    leaf = session.post(f"{server}/api/node/{uuid}/newversion", json={}).json()["child"]
    leaf_base = f"{server}/api/node/{leaf}/segmentation"
    assert session.post(f"{leaf_base}/cleave/101", json=[102]).status_code == 200
    # fetch_repo_dag: nodes by VersionID, edges from 'Children'
    info = session.get(f"{server}/api/repo/{leaf}/info").json()
    nodes = {n["VersionID"]: n for n in info["DAG"]["Nodes"].values()}
    by_uuid = {n["UUID"]: n for n in nodes.values()}
    path, cur = [], by_uuid[leaf]
    while True:  # resolve_ref_range('[root, leaf]'): the ancestors, root first
        path.insert(0, cur["UUID"])
        if not cur["Parents"]:
            break
        cur = nodes[cur["Parents"][0]]
    assert path == [uuid, leaf]
    msgs = []
    for u in path:
        r = session.get(f"{server}/api/node/{u}/segmentation/mutations", params={})
        msgs.extend(r.json())
    assert [(m["Action"], m["UUID"]) for m in msgs] == [
        ("merge-complete", uuid),
        ("cleave-complete", leaf),
    ]
    ids = [m["MutationID"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == 2  # ids grow along the path
