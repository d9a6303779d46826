"""update_meshes: {label}.ngmesh keys in NAME_meshes, rebuilt when the body's blocks change."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api import meshes
from dvidctl.datatypes.labelmap.ngmesh import decode_ngmesh
from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError

BS = 16


def _cube(repo: Repository, label: int, lo_xyz: tuple[int, int, int], n: int) -> None:
    x, y, z = lo_xyz
    repo.head.instance("seg").put_subvolume(np.full((n, n, n), label, np.uint64), (z, y, x))


@pytest.fixture
def repo():  # type: ignore[no-untyped-def]
    r = Repository.memory()
    r.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "VoxelSize": "8,8,8"})
    _cube(r, 5, (2, 2, 2), 6)  # block (0,0,0)
    _cube(r, 6, (40, 20, 20), 10)  # blocks x 2..3, y 1, z 1
    yield r
    r.close()


def _mesh(repo: Repository, label: int):  # type: ignore[no-untyped-def]
    kv = repo.head.instance("seg_meshes")
    return decode_ngmesh(kv.get(f"{label}.ngmesh"))


def test_named_bodies_are_meshed_into_the_meshes_instance(repo: Repository) -> None:
    report = meshes.update_meshes(repo.head, "seg", [5])
    assert set(report.built) == {5} and report.meshes == "seg_meshes"
    assert repo.instance_record("seg_meshes").typename == "keyvalue"
    lo, hi = _mesh(repo, 5).bounds
    np.testing.assert_allclose(lo, [16, 16, 16])
    np.testing.assert_allclose(hi, [64, 64, 64])
    manifest = json.loads(repo.head.instance("seg_meshes").get(meshes.MANIFEST_KEY))
    assert manifest["node"] == repo.head.uuid
    assert manifest["labels"]["5"]["blocks"] == [[0, 0, 0]]
    again = meshes.update_meshes(repo.head, "seg", [5])
    assert again.built == {} and again.unchanged == [5]


def test_a_write_at_the_same_open_node_makes_the_touched_body_stale(repo: Repository) -> None:
    meshes.update_meshes(repo.head, "seg", [5, 6])
    assert meshes.update_meshes(repo.head, "seg").built == {}
    _cube(repo, 6, (60, 20, 20), 2)  # body 6 grows within its blocks
    status = meshes.mesh_status(repo.head, "seg")["labels"]
    assert status["6"]["stale"] and not status["5"]["stale"]
    report = meshes.update_meshes(repo.head, "seg")
    assert set(report.built) == {6}
    assert _mesh(repo, 6).bounds[1][0] == 62 * 8


def test_after_commit_changes_are_found_from_the_delta_index(repo: Repository) -> None:
    meshes.update_meshes(repo.head, "seg", [5, 6])
    repo.commit("meshed")
    _cube(repo, 5, (20, 2, 2), 4)  # body 5 grows into block (1,0,0), which held nothing
    assert meshes.mesh_status(repo.head, "seg")["labels"]["5"]["stale"]
    report = meshes.update_meshes(repo.head, "seg")
    assert set(report.built) == {5}
    manifest = json.loads(repo.head.instance("seg_meshes").get(meshes.MANIFEST_KEY))
    assert manifest["labels"]["5"]["blocks"] == [[0, 0, 0], [1, 0, 0]]
    assert _mesh(repo, 5).bounds[1][0] == 24 * 8


def test_a_body_that_is_gone_loses_its_mesh(repo: Repository) -> None:
    meshes.update_meshes(repo.head, "seg", [5, 6])
    _cube(repo, 0, (40, 20, 20), 10)
    report = meshes.update_meshes(repo.head, "seg")
    assert report.removed == [6] and report.built == {}
    assert not repo.head.instance("seg_meshes").exists("6.ngmesh")
    assert list(meshes.mesh_status(repo.head, "seg")["labels"]) == ["5"]


def test_a_stale_body_not_named_stays_stale(repo: Repository) -> None:
    meshes.update_meshes(repo.head, "seg", [5, 6])
    repo.commit("meshed")
    _cube(repo, 6, (50, 20, 20), 3)  # body 6 grows
    _cube(repo, 7, (100, 100, 100), 3)
    report = meshes.update_meshes(repo.head, "seg", [7])
    assert set(report.built) == {7} and report.stale == [6]
    repo.commit("more")
    # the manifest moved to the new node; body 6 is still known to be stale
    assert meshes.mesh_status(repo.head, "seg")["labels"]["6"]["stale"]
    assert set(meshes.update_meshes(repo.head, "seg").built) == {6}


def test_each_branch_keeps_its_own_meshes(repo: Repository) -> None:
    meshes.update_meshes(repo.head, "seg", [5])
    repo.commit("base")
    repo.branch("edit", note="edit", from_ref=None)
    repo.checkout("edit")
    _cube(repo, 5, (2, 2, 2), 8)
    meshes.update_meshes(repo.head, "seg")
    assert _mesh(repo, 5).bounds[1][0] == 80
    repo.checkout("master")
    assert not meshes.mesh_status(repo.head, "seg")["labels"]["5"]["stale"]
    assert _mesh(repo, 5).bounds[1][0] == 64


def test_all_meshes_every_body(repo: Repository) -> None:
    report = meshes.update_meshes(repo.head, "seg", all_labels=True)
    assert set(report.built) == {5, 6}
    assert meshes.update_meshes(repo.head, "seg", all_labels=True).built == {}
    assert set(meshes.update_meshes(repo.head, "seg", all_labels=True, force=True).built) == {5, 6}


def test_refusals(repo: Repository) -> None:
    with pytest.raises(NotFoundError, match="label 99"):
        meshes.update_meshes(repo.head, "seg", [99])
    with pytest.raises(NotFoundError, match="label 99"):
        meshes.compute_mesh(repo.head, "seg", 99)
    repo.new_instance("keyvalue", "kv")
    with pytest.raises(BadRequestError, match="not a labelmap"):
        meshes.update_meshes(repo.head, "kv", [5])
    repo.commit("locked")
    locked = repo.node("HEAD~1")
    with pytest.raises(LockedNodeError):
        meshes.update_meshes(locked, "seg", [5])
    mesh, scale = meshes.compute_mesh(locked, "seg", 5)  # reading is fine
    assert scale == 0 and len(mesh.faces) > 0
