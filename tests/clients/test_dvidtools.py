"""dvidtools (PyPI ``dvidtools``, module ``dvid``) against a real ``dvidctl serve``.

Each test calls dvidtools' own public functions, unchanged, over HTTP on loopback
against a RocksDB repository, and checks what they return against numpy. The
instance names are dvidtools' defaults (``dvid.config``): a labelmap
``segmentation`` and the keyvalues named after it (``segmentation_annotations``,
``segmentation_skeletons``, ``segmentation_meshes``), ``rois`` and ``roi_data``.
dvidtools' annotation-based calls (synapses, ``_labelsz``, ``_todo`` elements,
bookmarks) need DVID's annotation datatypes, which dvidctl does not have.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from dvidctl.api.repository import Repository
from dvidctl.server.runner import BackgroundServer, open_state
from dvidctl.server.state import ServerSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import dvid  # dvidtools

BS = 32  # labelmap block size
VOXEL = (8.0, 8.0, 8.0)


@dataclass
class Served:
    server: str
    uuid: str
    vol: np.ndarray  # ZYX, at offset 0
    http: httpx.Client

    def url(self, path: str) -> str:
        return f"{self.server}/api/node/{self.uuid}/{path}"


def _volume() -> np.ndarray:
    vol = np.zeros((64, 64, 96), np.uint64)
    vol[:, :, :32] = 11
    vol[:, :, 32:64] = 12
    vol[:32, :, 64:] = 13
    vol[32:, :, 64:] = 14
    vol[40:44, 10:14, 70:74] = 15  # a small body inside 14
    return vol


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    Repository.init(tmp_path / "r", alias="dt", description="dvidtools").close()
    state = open_state([tmp_path / "r"], tmp_path / "store", ServerSettings())
    with BackgroundServer(state) as srv, httpx.Client(timeout=60) as http:
        uuid = next(iter(http.get(f"{srv.url}/api/repos/info").json()))
        s = Served(srv.url, uuid, _volume(), http)

        def new(typename: str, name: str, **cfg: str) -> None:
            body = {"typename": typename, "dataname": name, **cfg}
            r = http.post(f"{srv.url}/api/repo/{uuid}/instance", json=body)
            assert r.status_code == 200, r.text

        new(
            "labelmap",
            "segmentation",
            BlockSize=f"{BS},{BS},{BS}",
            MaxDownresLevel="2",
            VoxelSize=",".join(map(str, VOXEL)),
        )
        for kv in ("segmentation_annotations", "segmentation_skeletons"):
            new("keyvalue", kv)
        new("roi", "myroi")
        r = http.post(s.url("segmentation/raw/0_1_2/96_64_64/0_0_0"), content=s.vol.tobytes())
        assert r.status_code == 200, r.text
        dvid.setup(server=srv.url, node=uuid, user="tester")
        yield s
        dvid.fetch.DVID_SESSIONS.clear()
    state.close()


def test_segmentation_info_sizes_and_labels(served: Served) -> None:
    vol = served.vol
    info = dvid.get_segmentation_info()
    assert info["Base"]["TypeName"] == "labelmap"
    ext = info["Extended"]
    assert list(ext["BlockSize"]) == [BS] * 3 and list(ext["VoxelSize"]) == list(VOXEL)
    assert ext["MaxDownresLevel"] == 2
    ids = [11, 12, 13, 14, 15, 999]
    want = [int((vol == i).sum()) for i in ids]
    assert dvid.get_sizes(ids, progress=False).tolist() == want
    assert dvid.ids_exist(ids, progress=False).tolist() == [True] * 5 + [False]
    pts_xyz = np.array([[0, 0, 0], [40, 5, 5], [66, 10, 40], [71, 11, 41], [95, 63, 63]])
    want_ids = vol[pts_xyz[:, 2], pts_xyz[:, 1], pts_xyz[:, 0]]
    got = dvid.locs_to_ids(pts_xyz, progress=False)
    assert got.tolist() == want_ids.tolist() == [11, 12, 14, 15, 14]


def test_sparsevols_at_every_scale(served: Served) -> None:
    vol = served.vol
    # scale 0: x/y/z voxel indices, in the order DVID's RLEs give them
    got = dvid.get_sparsevol(15, scale=0, ret_type="INDEX")
    want = np.argwhere(vol == 15)[:, ::-1]
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
    # runs instead of voxels: x, y, z, length
    rles = dvid.get_sparsevol(15, scale=0, voxels=False)
    assert rles.shape == (16, 4) and set(rles[:, 3].tolist()) == {4}
    # a coarser scale: the pyramid
    half = vol[::2, ::2, ::2]  # the bodies here are aligned to even voxels
    got1 = dvid.get_sparsevol(13, scale=1, ret_type="INDEX")
    assert len(got1) == int((half == 13).sum())
    # coarse: block coordinates
    coarse = dvid.get_sparsevol(15, scale="COARSE", ret_type="INDEX")
    assert coarse.tolist() == [[2, 0, 1]]  # x, y, z of the 32³ block holding body 15
    # a bounding box (scale-0 x_min, x_max, y_min, y_max, z_min, z_max): HEAD, then GET
    box = dvid.get_sparsevol(14, scale=0, bbox=[64, 67, 0, 1, 32, 33], ret_type="INDEX")
    assert len(box) == int((vol[32:34, 0:2, 64:68] == 14).sum())
    with pytest.raises(ValueError, match="no sparse volume"):
        dvid.get_sparsevol(15, scale=0, bbox=[0, 3, 0, 3, 0, 3])
    raw = dvid.get_sparsevol(15, scale=0, ret_type="RAW")
    assert isinstance(raw, bytes) and raw[:4] == bytes([0, 3, 0, 0])
    size = dvid.get_sparsevol_size(15)
    assert size["voxels"] == 64 and size["numblocks"] == 1


def test_last_mod_and_lost_ids_after_a_merge(served: Served) -> None:
    http = served.http
    # commit the data, then merge 12 into 11 on the child (as a proofreader would)
    r = http.post(f"{served.server}/api/node/{served.uuid}/commit", json={"note": "data"})
    assert r.status_code == 200, r.text
    child = http.post(f"{served.server}/api/node/{served.uuid}/newversion", json={}).json()
    child_uuid = child["child"]
    r = http.post(
        f"{served.server}/api/node/{child_uuid}/segmentation/merge",
        params={"u": "ann", "app": "neutu"},
        json=[11, 12],
    )
    assert r.status_code == 200, r.text
    mutid = r.json()["MutationID"]
    last = dvid.get_last_mod(11, node=child_uuid)
    assert last["mutation id"] == mutid and last["last mod user"] == "ann"
    assert last["last mod app"] == "neutu"
    # the branch history from the leaf back to the root, and the master leaf
    hist = dvid.get_branch_history(child_uuid)
    assert hist == [child_uuid, served.uuid]
    assert dvid.get_master_node(served.uuid) == child_uuid
    projects = dvid.list_projects()
    assert projects["Alias"].tolist() == ["dt"] and projects["Root"].tolist() == [served.uuid]
    # body 12 is gone at the leaf: dvidtools finds where it was last seen and what it became
    assert dvid.find_lost_ids([12], progress=False, node=child_uuid).tolist() == [served.uuid]
    df = dvid.update_ids([12, 13], scale=1, sample=0.5, progress=False, node=child_uuid)
    assert df["new_id"].tolist() == [11, 13]


def test_rois(served: Served) -> None:
    http = served.http
    spans = [[0, 0, 0, 1], [1, 0, 0, 0]]  # z, y, x0, x1 in ROI blocks (32³)
    assert http.post(served.url("myroi/roi"), json=spans).status_code == 200
    assert dvid.get_roi("myroi", form="BLOCKS").tolist() == spans
    vox = dvid.get_roi("myroi", form="VOXELS")
    assert len(vox) == 3
    # MESH: no rois instance (DVID answers 400 for an unknown instance, as dvidctl), so
    # dvidtools meshes the voxels itself
    mesh = dvid.get_roi("myroi", form="MESH", step_size=1)
    assert len(mesh.vertices) > 0 and mesh.bounds is not None
    # a mesh stored as DVID's ROI conventions have it: rois/key -> roi_data key of an OBJ
    for kv in ("rois", "roi_data"):
        body = {"typename": "keyvalue", "dataname": kv}
        assert http.post(f"{served.server}/api/repo/{served.uuid}/instance", json=body).is_success
    obj = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    assert http.post(served.url("roi_data/key/k1"), content=obj).status_code == 200
    ref = {"->": {"type": "neuroglancer_legacy_mesh", "key": "k1"}}
    assert http.post(served.url("rois/key/myroi"), json=ref).status_code == 200
    assert dvid.get_available_rois() == ["myroi"]
    stored = dvid.get_roi("myroi", form="MESH")
    assert len(stored.vertices) == 3 and len(stored.faces) == 1


def test_annotations_skeletons_and_meshes(served: Served) -> None:
    # body annotations: edit_annotation merges into what is stored
    assert dvid.get_annotation(11, verbose=False) == {}
    dvid.edit_annotation(11, {"status": "Traced", "user": "tester"}, verbose=False)
    dvid.edit_annotation(11, {"comment": "nice"}, verbose=False)
    got = dvid.get_annotation(11)
    assert got["status"] == "Traced" and got["comment"] == "nice"
    # skeletons: SWC stored by a skeletonizer under {body}_swc, with the mutation id in a header
    swc = '# {"mutation id": 7}\n1 0 10 20 30 2 -1\n2 0 11 20 30 2 1\n3 0 12 21 30 2 2\n'
    r = served.http.post(served.url("segmentation_skeletons/key/11_swc"), content=swc)
    assert r.status_code == 200
    assert dvid.has_skeleton([11, 12], progress=False).tolist() == [True, False]
    (sk,) = dvid.get_skeletons(11, output="dataframe", progress=False)
    assert sk[["x", "y", "z"]].values.tolist() == [[10, 20, 30], [11, 20, 30], [12, 21, 30]]
    assert dvid.get_skeleton_mutation(11) == 7
    # meshes: DVID's legacy neuroglancer format under segmentation_meshes/{body}.ngmesh
    verts = np.array([[0, 0, 0], [8, 0, 0], [0, 8, 0]], np.float32)
    faces = np.array([[0, 1, 2]], np.uint32)
    ngmesh = struct.pack("<I", 3) + verts.tobytes() + faces.tobytes()
    for kv in ("segmentation_meshes", "segmentation_meshes_mutid"):
        body = {"typename": "keyvalue", "dataname": kv}
        r = served.http.post(f"{served.server}/api/repo/{served.uuid}/instance", json=body)
        assert r.status_code == 200, r.text
    r = served.http.post(served.url("segmentation_meshes/key/11.ngmesh"), content=ngmesh)
    assert r.status_code == 200
    assert served.http.post(served.url("segmentation_meshes_mutid/key/11"), json=5).is_success
    assert dvid.has_mesh([11, 12], progress=False).tolist() == [True, False]
    (m,) = dvid.get_meshes(11, output="trimesh", progress=False)
    assert sorted(np.asarray(m.vertices).tolist()) == sorted(verts.tolist())
    assert m.mutation_id == 5
    # a mesh dvidtools computes itself from the coarse sparse volume
    local = dvid.mesh_neuron(13, scale="COARSE", progress=False)
    assert len(local.vertices) > 0
    assert json.loads(json.dumps(dvid.get_sparsevol_size(13)))["voxels"] == int(
        (served.vol == 13).sum()
    )


def test_positions_in_bodies(served: Served) -> None:
    vol = served.vol
    # get_body_position: no skeleton, so the eroded coarse sparse volume, then scale-0 voxels
    # of one block (a bounding box, checked with HEAD first)
    x, y, z = (int(v) for v in dvid.get_body_position(14))
    assert vol[z, y, x] == 14
    # snap_to_body: points outside body 15 move to its nearest voxels
    pts = np.array([[0, 0, 0], [71, 11, 41]])  # x, y, z; the second is inside 15
    snapped = dvid.snap_to_body(15, pts)
    assert [int(vol[z, y, x]) for x, y, z in snapped.tolist()] == [15, 15]
    assert snapped[1].tolist() == [71, 11, 41]
    # get_assignment_status reads the 'bookmarks' keyvalue by x_y_z keys
    body = {"typename": "keyvalue", "dataname": "bookmarks"}
    assert served.http.post(f"{served.server}/api/repo/{served.uuid}/instance", json=body)
    served.http.post(served.url("bookmarks/key/20_20_30"), json={"checked": True})
    assert dvid.get_assignment_status((20, 20, 30)) == {"checked": True}
    assert dvid.get_assignment_status((1, 2, 3)) is None
    # a window: keys in the lexicographic keyrange, then filtered to the box
    near = dvid.get_assignment_status((22, 21, 31), window=(10, 10, 10))
    assert near == [{"checked": True}]
