"""Voxels to ROI blocks, pure numpy: which blocks of an ROI's grid hold a set voxel.

Two uses: a mask volume posted as an ROI (:func:`mask_spans`, DVID's block-aligned
rule: offset and size are multiples of the block size), and the blocks a label body
touches (:func:`blocks_hit`, per stored label block, see ``api/roibody.py``).
Both reduce voxels to blocks a whole axis at a time (``logical_or.reduceat``), never
voxel by voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dvidctl.datatypes.roi import spans as sp
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN


def _xyz(zyx: Sequence[int]) -> str:
    return ",".join(str(int(v)) for v in reversed(tuple(zyx)))


def scale_cell(block_zyx: Sequence[int], scale: int) -> tuple[int, int, int]:
    """An ROI block's edge in voxels of pyramid level ``scale`` (block size / 2**scale).

    Raises:
        BadRequestError: If ``scale`` is negative or a voxel of that scale would
            straddle two blocks (``2**scale`` does not divide the block size).
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 0:
        raise BadRequestError(f"scale must be a non-negative integer, not {scale!r}")
    f = 1 << int(scale)
    if any(int(b) % f for b in block_zyx):
        raise BadRequestError(
            f"scale {scale} is too coarse for the ROI's {_xyz(block_zyx)} blocks: "
            f"a voxel of scale {scale} spans {f} voxels per axis",
            hint="use a scale s where 2**s divides the block size",
        )
    z, y, x = (int(b) // f for b in block_zyx)
    return z, y, x


def blocks_hit(hit: np.ndarray, origin_zyx: Sequence[int], cell_zyx: Sequence[int]) -> np.ndarray:
    """Blocks of a grid of ``cell_zyx`` voxels that hold a true voxel of ``hit``.

    Args:
        hit: A 3D boolean array (ZYX).
        origin_zyx: The voxel coordinate of ``hit[0, 0, 0]`` (any alignment).
        cell_zyx: The grid's block edge in the same voxels; block ``b`` holds voxels
            ``b * cell .. (b + 1) * cell - 1``.

    Returns:
        The block coordinates, ``(n, 3)`` int64 ZYX, z-major.
    """
    grid = np.asarray(hit, dtype=bool)
    first = []
    for axis in range(3):
        o, c, n = int(origin_zyx[axis]), int(cell_zyx[axis]), grid.shape[axis]
        if n == 0:
            return np.empty((0, 3), dtype=np.int64)
        b0, b1 = o // c, (o + n - 1) // c
        starts = np.maximum(np.arange(b0, b1 + 1, dtype=np.int64) * c - o, 0)
        if len(starts) < n:  # else every voxel is its own block: nothing to reduce
            grid = np.logical_or.reduceat(grid, starts, axis=axis)
        first.append(b0)
    out: np.ndarray = np.argwhere(grid).astype(np.int64) + np.asarray(first, dtype=np.int64)
    return out


def mask_spans(mask: Any, offset_zyx: Sequence[int], block_zyx: Sequence[int]) -> np.ndarray:
    """Normalised spans of the blocks where a block-aligned mask has a non-zero voxel.

    Args:
        mask: A 3D (or 2D: one z plane) bool or integer array, ZYX.
        offset_zyx: The voxel coordinate of ``mask[0, 0, 0]``.
        block_zyx: The ROI's block size, ZYX.

    Raises:
        BadRequestError: Not a 2D/3D bool or integer array, an offset or size that
            is not a multiple of the block size (as DVID's block-aligned writes), or
            blocks outside int32.
    """
    m = np.asarray(mask)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.dtype.kind not in "biu":
        raise BadRequestError(
            f"a mask must be a 3D bool or integer array, got {m.dtype} with shape {m.shape}"
        )
    off = [int(v) for v in offset_zyx]
    bs = [int(v) for v in block_zyx]
    if any(o % b for o, b in zip(off, bs, strict=True)) or any(
        n % b for n, b in zip(m.shape, bs, strict=True)
    ):
        raise BadRequestError(
            f"mask offset {_xyz(off)} and size {_xyz(m.shape)} must be multiples of the "
            f"ROI's block size {_xyz(bs)} (block-aligned, as DVID)",
            hint="pad or crop the mask to whole blocks",
        )
    nb = [n // b for n, b in zip(m.shape, bs, strict=True)]
    first = [o // b for o, b in zip(off, bs, strict=True)]
    if any(f < INT32_MIN or f + n - 1 > INT32_MAX for f, n in zip(first, nb, strict=True)):
        raise BadRequestError("mask blocks must have int32 block coordinates")
    parts = []
    for k in range(nb[0]):  # one layer of blocks at a time: no full-size temporary
        layer = m[k * bs[0] : (k + 1) * bs[0]].reshape(bs[0], nb[1], bs[1], nb[2], bs[2])
        yx = np.argwhere(np.any(layer, axis=(0, 2, 4)))
        if len(yx):
            parts.append(np.column_stack([np.full(len(yx), first[0] + k), yx + first[1:]]))
    if not parts:
        return sp.empty()
    return sp.from_blocks(np.concatenate(parts))
