"""Surface meshes of label bodies: which blocks hold a body, and marching cubes over them.

The meshing itself is zmesh's (seung-lab's multi-label marching cubes for
connectomics volumes, with quadric simplification). A body is meshed from a
binary mask of its bounding box, padded by one background voxel on every side so
the surface is closed, at the finest scale whose box fits ``max_voxels``.
Vertices come out in nanometres (voxel coordinate x voxel size), voxel ``i``
spanning ``[i, i+1]``: the surface lies on the faces between the body's voxels and
the rest (:mod:`dvidctl.datatypes.labelmap.ngmesh`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import Coord
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.labelmap.ngmesh import Mesh
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap

#: Largest box (voxels) meshed at once; a larger body is meshed at a coarser scale.
DEFAULT_MAX_VOXELS = 256**3
_BATCH = 256  # blocks fetched together


def _batches(coords: Sequence[Coord]) -> Iterator[np.ndarray]:
    for i in range(0, len(coords), _BATCH):
        yield np.asarray(coords[i : i + _BATCH], dtype=np.int64).reshape(-1, 3)


def labels_in_blocks(
    seg: LabelMap, coords: Iterable[Coord] | None = None, wanted: set[int] | None = None
) -> dict[Coord, set[int]]:
    """The labels stored in each scale-0 block (ZYX block coordinates).

    Args:
        seg: The labelmap at its node.
        coords: Blocks to look at (default: every stored scale-0 block); blocks
            not stored (never written, or deleted) are absent from the answer.
        wanted: Only these labels count (default: every label but 0).
    """
    if coords is None:
        todo = [tuple(int(v) for v in c) for c in seg.blocks.block_coords(0).tolist()]
    else:
        todo = sorted({tuple(int(v) for v in c) for c in coords})
    want = None if wanted is None else np.fromiter(wanted, np.uint64, len(wanted))
    block = np.empty(seg.block_shape, np.uint64)
    out: dict[Coord, set[int]] = {}
    for batch in _batches(todo):  # type: ignore[arg-type]
        for coord, payload in seg.blocks.payloads(0, batch).items():
            decode_into(payload, block)
            found = np.unique(block)
            found = found[found != 0] if want is None else found[np.isin(found, want)]
            out[coord] = {int(v) for v in found}
    return out


def body_blocks(
    seg: LabelMap, labels: Iterable[int], coords: Iterable[Coord] | None = None
) -> dict[int, set[Coord]]:
    """Scale-0 blocks holding each of ``labels`` (among ``coords``, default every block)."""
    wanted = {check_label(v) for v in labels}
    out: dict[int, set[Coord]] = {v: set() for v in wanted}
    for coord, found in labels_in_blocks(seg, coords, wanted).items():
        for v in found:
            out[v].add(coord)
    return out


def check_label(label: int) -> int:
    """``label`` as a body id: 1 .. 2^64-1."""
    v = int(label)
    if not 0 < v < 2**64:
        raise BadRequestError(f"a body label is 1 .. 2^64-1, got {label}")
    return v


def block_bounds(seg: LabelMap, blocks: Iterable[Coord]) -> Box:
    """The scale-0 voxel box covering ``blocks``."""
    arr = np.asarray(list(blocks), dtype=np.int64).reshape(-1, 3)
    if not len(arr):
        raise BadRequestError("no blocks to bound")
    bs = np.asarray(seg.block_shape, dtype=np.int64)
    return Box(tuple(arr.min(axis=0) * bs), tuple((arr.max(axis=0) + 1) * bs))


def choose_scale(seg: LabelMap, box: Box, max_voxels: int, scale: int | None = None) -> int:
    """``scale`` (checked), or the finest level at which ``box`` fits ``max_voxels``."""
    if scale is not None:
        return seg.check_scale(scale)
    for s in range(seg.max_downres + 1):
        if np.prod([-(-n // 2**s) + 2 for n in box.shape], dtype=np.int64) <= max_voxels:
            return s
    raise BadRequestError(
        f"body box {box.shape[::-1]} (XYZ voxels) exceeds {max_voxels} voxels at every scale "
        f"up to {seg.max_downres}",
        hint="raise max_voxels (dvidctl mesh --max-voxels), or give the labelmap more "
        "levels (MaxDownresLevel) and run 'dvidctl downres'",
    )


def mesh_body(
    seg: LabelMap,
    label: int,
    blocks: Iterable[Coord],
    *,
    scale: int | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    simplify: int = 0,
) -> tuple[Mesh, int]:
    """Mesh body ``label``, which lies in the scale-0 ``blocks``; returns ``(mesh, scale)``.

    Args:
        seg: The labelmap at its node.
        label: The body.
        blocks: Scale-0 blocks (ZYX) holding every voxel of the body (e.g. from
            :func:`body_blocks`).
        scale: Level to mesh at (default: the finest whose padded box fits ``max_voxels``).
        max_voxels: Largest box read at once.
        simplify: zmesh's ``reduction_factor``: aim for this many times fewer
            triangles, moving no vertex more than a voxel (0: no simplification).
    """
    import zmesh  # a compiled extension: loaded only when meshing

    label = check_label(label)
    if simplify < 0:
        raise BadRequestError(f"simplify must be 0 or more, got {simplify}")
    box0 = block_bounds(seg, blocks)
    s = choose_scale(seg, box0, max_voxels, scale)
    f = 2**s
    start = tuple(a // f - 1 for a in box0.start)  # one background voxel around the body
    stop = tuple(-(-b // f) + 1 for b in box0.stop)
    box = Box(start, stop)
    mask = seg.get_subvolume(box, s) == np.uint64(label)
    res_xyz = np.asarray(seg.voxel_size, dtype=np.float64) * f
    mesher = zmesh.Mesher(tuple(float(r) for r in res_xyz))
    mesher.mesh(mask.view(np.uint8).T)  # XYZ (a Fortran-ordered view)
    if 1 not in mesher.ids():
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3))), s
    m = mesher.get(1, normals=False, reduction_factor=simplify, voxel_centered=True)
    mesher.clear()
    origin = np.asarray(box.start[::-1], dtype=np.float64) * res_xyz
    return Mesh((m.vertices + origin).astype(np.float32), m.faces), s


__all__ = [
    "DEFAULT_MAX_VOXELS",
    "block_bounds",
    "body_blocks",
    "check_label",
    "choose_scale",
    "labels_in_blocks",
    "mesh_body",
]
