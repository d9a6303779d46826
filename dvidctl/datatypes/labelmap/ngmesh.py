"""neuroglancer's legacy mesh fragment format, as DVID's ``{label}.ngmesh`` keys hold it.

neuroglancer's DVID source reads a body's mesh from
``GET /api/node/{uuid}/{seg}_meshes/key/{label}.ngmesh`` and decodes it as one
legacy "precomputed" fragment, little-endian::

    uint32                 n, the number of vertices
    float32 [n][3]         vertex positions x, y, z (nanometres: voxel coordinate x voxel size)
    uint32  [m][3]         triangles: vertex indices, to the end of the value

Nothing else is stored (no normals, no header). Vertices are in the physical
space of the labelmap: voxel ``(i, j, k)`` spans ``[i, i+1] x [j, j+1] x [k, k+1]``
times the voxel size, so a body's surface lies on voxel faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvidctl.errors import BadRequestError

_LE_U32 = np.dtype("<u4")
_LE_F32 = np.dtype("<f4")


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: ``vertices`` ``(n, 3)`` float32 XYZ nm, ``faces`` ``(m, 3)`` uint32."""

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        f = np.ascontiguousarray(self.faces, dtype=np.uint32).reshape(-1, 3)
        if f.size and int(f.max()) >= len(v):
            raise BadRequestError(f"a face names vertex {int(f.max())} of {len(v)}")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(min xyz, max xyz)`` of the vertices (zeros for an empty mesh)."""
        if not len(self.vertices):
            return np.zeros(3, np.float32), np.zeros(3, np.float32)
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def encode_ngmesh(mesh: Mesh) -> bytes:
    """The legacy fragment bytes of ``mesh``."""
    n = np.array([len(mesh.vertices)], _LE_U32)
    return b"".join(
        (n.tobytes(), mesh.vertices.astype(_LE_F32).tobytes(), mesh.faces.astype(_LE_U32).tobytes())
    )


def decode_ngmesh(data: bytes | bytearray | memoryview) -> Mesh:
    """Parse legacy fragment bytes (as neuroglancer's ``decodeFragmentChunk``)."""
    buf = memoryview(data).cast("B")
    if len(buf) < 4:
        raise BadRequestError(f"an ngmesh needs at least 4 bytes, got {len(buf)}")
    n = int(np.frombuffer(buf, _LE_U32, 1)[0])
    end = 4 + 12 * n
    if len(buf) < end or (len(buf) - end) % 12:
        raise BadRequestError(
            f"an ngmesh of {n} vertices needs 4 + {12 * n} bytes and whole triangles, "
            f"got {len(buf)} bytes"
        )
    vertices = np.frombuffer(buf, _LE_F32, 3 * n, 4).reshape(n, 3)
    faces = np.frombuffer(buf, _LE_U32, (len(buf) - end) // 4, end).reshape(-1, 3)
    return Mesh(vertices, faces)


__all__ = ["Mesh", "decode_ngmesh", "encode_ngmesh"]
