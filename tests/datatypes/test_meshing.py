"""Body meshes: zmesh's marching cubes on a labelmap, and neuroglancer's legacy ngmesh bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelmap import surface
from dvidctl.datatypes.labelmap.ngmesh import Mesh, decode_ngmesh, encode_ngmesh
from dvidctl.errors import BadRequestError

CENTER_XYZ = (50, 40, 40)  # voxels, z includes the write offset of 10
RADIUS = 12
VOXEL_XYZ = (4.0, 5.0, 6.0)  # nm: anisotropic, so a swapped axis shows


@pytest.fixture
def sphere_repo():  # type: ignore[no-untyped-def]
    repo = Repository.memory()
    repo.new_instance(
        "labelmap",
        "seg",
        {"BlockSize": "32,32,32", "MaxDownresLevel": "2", "VoxelSize": "4,5,6"},
    )
    zz, yy, xx = np.mgrid[0:64, 0:80, 0:96]
    vol = np.zeros((64, 80, 96), np.uint64)
    cx, cy, cz = CENTER_XYZ
    vol[(xx - cx) ** 2 + (yy - cy) ** 2 + (zz + 10 - cz) ** 2 <= RADIUS**2] = 7
    vol[:4, :4, :4] = 9
    repo.head.instance("seg").put_subvolume(vol, (10, 0, 0))
    yield repo
    repo.close()


def test_a_sphere_meshes_to_its_voxel_faces_in_nanometres(sphere_repo) -> None:  # type: ignore[no-untyped-def]
    seg = sphere_repo.head.instance("seg")
    blocks = surface.body_blocks(seg, [7, 9, 12345])
    assert blocks[12345] == set()
    assert blocks[9] == {(0, 0, 0)}
    mesh, scale = surface.mesh_body(seg, 7, blocks[7])
    assert scale == 0
    lo, hi = mesh.bounds
    # voxels c-r .. c+r: the surface runs from face c-r to face c+r+1, times the voxel size
    want_lo = [(c - RADIUS) * v for c, v in zip(CENTER_XYZ, VOXEL_XYZ, strict=True)]
    want_hi = [(c + RADIUS + 1) * v for c, v in zip(CENTER_XYZ, VOXEL_XYZ, strict=True)]
    np.testing.assert_allclose(lo, want_lo)
    np.testing.assert_allclose(hi, want_hi)
    # closed surface: every edge is shared by exactly two triangles
    f = mesh.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert set(counts.tolist()) == {2}


def test_a_body_too_big_for_max_voxels_is_meshed_at_a_coarser_scale(sphere_repo) -> None:  # type: ignore[no-untyped-def]
    seg = sphere_repo.head.instance("seg")
    blocks = surface.body_blocks(seg, [7])[7]
    mesh, scale = surface.mesh_body(seg, 7, blocks, max_voxels=40**3)
    assert scale == 1
    lo, hi = mesh.bounds
    # within one scale-1 voxel (2 voxels) of the exact surface
    for axis, (c, v) in enumerate(zip(CENTER_XYZ, VOXEL_XYZ, strict=True)):
        assert abs(lo[axis] - (c - RADIUS) * v) <= 2 * v
        assert abs(hi[axis] - (c + RADIUS + 1) * v) <= 2 * v
    with pytest.raises(BadRequestError, match="every scale"):
        surface.mesh_body(seg, 7, blocks, max_voxels=10**3)


def test_simplify_reduces_triangles_and_keeps_the_bounds_within_a_voxel(sphere_repo) -> None:  # type: ignore[no-untyped-def]
    seg = sphere_repo.head.instance("seg")
    blocks = surface.body_blocks(seg, [7])[7]
    full, _ = surface.mesh_body(seg, 7, blocks)
    small, _ = surface.mesh_body(seg, 7, blocks, simplify=4)
    assert len(small.faces) < len(full.faces) / 2
    np.testing.assert_allclose(small.bounds[0], full.bounds[0], atol=max(VOXEL_XYZ))


def test_ngmesh_bytes_are_neuroglancers_legacy_fragment(sphere_repo) -> None:  # type: ignore[no-untyped-def]
    seg = sphere_repo.head.instance("seg")
    mesh, _ = surface.mesh_body(seg, 9, surface.body_blocks(seg, [9])[9])
    data = encode_ngmesh(mesh)
    n = struct.unpack_from("<I", data)[0]
    assert n == len(mesh.vertices)
    assert len(data) == 4 + 12 * n + 12 * len(mesh.faces)
    xyz = np.frombuffer(data, "<f4", 3 * n, 4).reshape(n, 3)
    tri = np.frombuffer(data, "<u4", offset=4 + 12 * n).reshape(-1, 3)
    np.testing.assert_array_equal(xyz, mesh.vertices)
    np.testing.assert_array_equal(tri, mesh.faces)
    back = decode_ngmesh(data)
    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    # the 4^3 cube at the origin, offset z by 10
    np.testing.assert_allclose(back.bounds[0], [0, 0, 60])
    np.testing.assert_allclose(back.bounds[1], [16, 20, 84])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\x00", struct.pack("<I", 2) + b"\x00" * 12, struct.pack("<I", 0) + b"\x00" * 5],
)
def test_malformed_ngmesh_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequestError):
        decode_ngmesh(data)


def test_a_face_naming_a_missing_vertex_is_refused() -> None:
    with pytest.raises(BadRequestError, match="vertex 3"):
        Mesh(np.zeros((3, 3)), np.array([[0, 1, 3]]))


def test_label_zero_is_not_a_body(sphere_repo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadRequestError, match="1 .. 2"):
        surface.body_blocks(sphere_repo.head.instance("seg"), [0])
