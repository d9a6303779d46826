"""2D sampling of 3D ZYX volumes: orthogonal slices, arbitrary planes, isotropy.

Pure numpy; the caller reads the voxels of the returned :class:`Box` and hands
them back. Conventions follow DVID (``dvid/geometry.go``, ``imageblk/arb_image.go``,
``dvid/image.go``):

* **Orthogonal slices.** A 2D size ``w_h`` spans the plane's first axis (image
  columns) then its second axis (image rows)::

      plane   columns  rows   image shape
      xy      x        y      (h, w)
      xz      x        z      (h, w)
      yz      y        z      (h, w)

* **Arbitrary planes** (``arb``). ``tl``, ``tr``, ``bl`` are real-world XYZ
  points (voxel index x voxel size) of the top-left, top-right and bottom-left
  pixel *centres*. As in DVID's code, ``width = floor(|tr - tl| / res) + 1`` and
  the step is ``(tr - tl) / (width - 1)``, so both ``tl`` and ``tr`` are sampled
  exactly (likewise for the height and ``bl``). Grayscale uses DVID's trilinear
  formula rounded with ``floor(v + 0.5)``; labels use DVID's nearest rule (the
  upper neighbour only when the fraction is > 0.5). Voxels outside the given
  volume box count as 0.
* **Isotropic slices.** DVID reads fewer voxels along the coarser axis
  (:func:`isotropic_read_size`) and stretches the image back: nearest for labels,
  an exact box filter (area average, truncated) for grayscale.

``voxel_size`` is XYZ everywhere here, as in DVID's instance metadata.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box, check_voxel_budget

_PLANES = {
    "xy": "xy", "0_1": "xy", "0,1": "xy",
    "xz": "xz", "0_2": "xz", "0,2": "xz",
    "yz": "yz", "1_2": "yz", "1,2": "yz",
}  # fmt: skip
# XYZ indices of (columns, rows) for each plane.
_PLANE_AXES = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}
_SNAP = 1e-6  # voxel coordinates this close to an integer are treated as integers


def normalize_plane(plane: str) -> str:
    """Return ``xy``, ``xz`` or ``yz`` for any DVID spelling (``0_1``, ``1,2``, ``XZ``...).

    Raises:
        BadRequestError: For anything else (including 3D shapes and ``arb``).
    """
    name = _PLANES.get(plane.strip().lower())
    if name is None:
        raise BadRequestError(
            f"unknown slice orientation {plane!r}", hint="use xy, xz or yz (or 0_1, 0_2, 1_2)"
        )
    return name


def _plane_res(plane: str, voxel_size: Sequence[float]) -> tuple[float, float]:
    """Return the voxel size along the image columns and rows."""
    if len(voxel_size) != 3 or not all(math.isfinite(v) and v > 0 for v in voxel_size):
        raise BadRequestError(
            f"voxel size must be 3 positive numbers (XYZ), got {tuple(voxel_size)}"
        )
    cols, rows = _PLANE_AXES[normalize_plane(plane)]
    return float(voxel_size[cols]), float(voxel_size[rows])


# ---------------------------------------------------------------- orthogonal slices


def slice_box(plane: str, offset_xyz: Sequence[int], size_wh: Sequence[int]) -> Box:
    """Return the one-voxel-thick 3D box that an orthogonal slice reads.

    Args:
        plane: ``xy``, ``xz``, ``yz`` or a DVID alias.
        offset_xyz: First voxel, XYZ (DVID's 3D offset).
        size_wh: Width (columns) and height (rows) of the image.

    Raises:
        BadRequestError: Bad plane, or a size that is not two positive numbers.
    """
    name = normalize_plane(plane)
    if len(size_wh) != 2 or min(size_wh) <= 0:
        raise BadRequestError(f"a 2D slice size must be two positive numbers, got {tuple(size_wh)}")
    w, h = (int(v) for v in size_wh)
    size = {"xy": (w, h, 1), "xz": (w, 1, h), "yz": (1, w, h)}[name]
    return Box.from_xyz(offset_xyz, size)


def squeeze_slice(plane: str, vol3d: np.ndarray) -> np.ndarray:
    """Return the 2D image (rows, cols) of a one-voxel-thick ZYX volume.

    ``xy`` gives rows=y, cols=x; ``xz`` gives rows=z, cols=x; ``yz`` gives rows=z, cols=y.

    Raises:
        BadRequestError: If the volume is not 3D or not one voxel thick across the plane.
    """
    name = normalize_plane(plane)
    axis = {"xy": 0, "xz": 1, "yz": 2}[name]  # ZYX axis that must have length 1
    if vol3d.ndim != 3 or vol3d.shape[axis] != 1:
        raise BadRequestError(
            f"an {name} slice needs a ZYX volume of thickness 1, got shape {vol3d.shape}"
        )
    return vol3d[0] if axis == 0 else (vol3d[:, 0, :] if axis == 1 else vol3d[:, :, 0])


# ---------------------------------------------------------------- arbitrary planes


@dataclass(frozen=True, eq=False)
class ArbPlan:
    """Where the pixels of an arbitrary plane fall in voxel space.

    Attributes:
        width: Image columns.
        height: Image rows.
        points_zyx: ``(height, width, 3)`` float64 voxel coordinates (ZYX) of the pixel centres.
        box: The voxels needed to sample every pixel, including interpolation neighbours.
    """

    width: int
    height: int
    points_zyx: np.ndarray
    box: Box


def _vector(values: Sequence[float], name: str) -> np.ndarray:
    vec = np.asarray(values, dtype=np.float64)
    if vec.shape != (3,) or not np.all(np.isfinite(vec)):
        raise BadRequestError(f"{name} must be 3 finite numbers (XYZ), got {tuple(values)}")
    return vec


def _steps(dist: float, res: float, name: str) -> int:
    """Return DVID's ``floor(dist / res)``, refusing a zero-pixel span."""
    n = math.floor(dist / res + 1e-9)
    if n < 1:
        raise BadRequestError(
            f"arb image {name} spans {dist:g} units, less than one pixel of {res:g}",
            hint="move the corner points apart or use a smaller resolution",
        )
    return n


def arb_plan(
    tl: Sequence[float],
    tr: Sequence[float],
    bl: Sequence[float],
    res: float,
    voxel_size: Sequence[float],
    *,
    itemsize: int = 1,
    limit_bytes: int | None = None,
    check_box: bool = True,
) -> ArbPlan:
    """Plan the sampling of DVID's ``arb/{tl}/{tr}/{bl}/{res}`` image.

    Args:
        tl: Top-left pixel centre, real-world XYZ.
        tr: Top-right pixel centre, real-world XYZ.
        bl: Bottom-left pixel centre, real-world XYZ.
        res: Real-world units per pixel.
        voxel_size: Real-world size of a voxel, XYZ.
        itemsize: Bytes per voxel, for the size check.
        limit_bytes: Size limit for the image and for the voxel box (default: see
            :func:`~dvidctl.geometry.check_voxel_budget`).
        check_box: Also refuse a plane whose bounding box of voxels is above the
            limit (callers that read only the blocks near the plane say False).

    Raises:
        BadRequestError: Non-finite input, ``res <= 0``, a zero-pixel side, or an
            image or voxel box above the size limit.
    """
    p_tl, p_tr, p_bl = _vector(tl, "tl"), _vector(tr, "tr"), _vector(bl, "bl")
    vs = _vector(voxel_size, "voxel size")
    if not (math.isfinite(res) and res > 0) or np.any(vs <= 0):
        raise BadRequestError(f"resolution {res} and voxel size {tuple(vs)} must be positive")
    nx = _steps(float(np.linalg.norm(p_tr - p_tl)), res, "width")
    ny = _steps(float(np.linalg.norm(p_bl - p_tl)), res, "height")
    width, height = nx + 1, ny + 1
    check_voxel_budget(width * height, itemsize, limit_bytes)
    step_x, step_y = (p_tr - p_tl) / nx, (p_bl - p_tl) / ny
    corners = _voxel_points(p_tl, step_x, step_y, vs, np.array([0.0, nx]), np.array([0.0, ny]))
    box = _arb_box(corners)
    if check_box:
        check_voxel_budget(box.nvoxels, itemsize, limit_bytes)  # refuse before the big work
    cols = np.arange(width, dtype=np.float64)
    rows = np.arange(height, dtype=np.float64)
    vox = _voxel_points(p_tl, step_x, step_y, vs, cols, rows)
    return ArbPlan(width, height, vox, _arb_box(vox))


def _voxel_points(
    tl: np.ndarray,
    step_x: np.ndarray,
    step_y: np.ndarray,
    vs: np.ndarray,
    cols: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Return ``(len(rows), len(cols), 3)`` ZYX voxel coordinates, snapped to near integers."""
    real = tl + cols[None, :, None] * step_x + rows[:, None, None] * step_y  # XYZ
    vox = (real / vs)[..., ::-1]
    near = np.rint(vox)
    snapped: np.ndarray = np.where(np.abs(vox - near) < _SNAP, near, vox)
    return np.ascontiguousarray(snapped)


def _arb_box(vox: np.ndarray) -> Box:
    flat = vox.reshape(-1, 3)
    lo = np.floor(flat.min(axis=0))
    hi = np.ceil(flat.max(axis=0)) + 1
    if lo.min() < INT32_MIN or hi.max() > INT32_MAX:
        raise BadRequestError("arb image lies outside the 32-bit voxel coordinate range")
    return Box(tuple(int(v) for v in lo), tuple(int(v) for v in hi))  # type: ignore[arg-type]


def _gather(vol: np.ndarray, vol_box: Box, idx: np.ndarray) -> np.ndarray:
    """Return ``vol`` at absolute ZYX voxel indices ``idx`` (n, 3); 0 outside the box."""
    if vol.size == 0:
        return np.zeros(len(idx), vol.dtype)
    rel = idx - np.asarray(vol_box.start, dtype=np.int64)
    inside = np.all((rel >= 0) & (rel < np.asarray(vol.shape)), axis=1)
    flat = np.ravel_multi_index(tuple(rel.T), vol.shape, mode="clip")
    values: np.ndarray = np.where(inside, np.take(vol.reshape(-1), flat), vol.dtype.type(0))
    return values


#: A ZYX-indexed voxel lookup: ``fetch(idx (n, 3) int64) -> values (n,)``.
Fetch = Callable[[np.ndarray], np.ndarray]
#: Trilinear corners, in DVID's order of use.
_CORNERS = [(dz, dy, dx) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]


def needed_voxels(points_zyx: np.ndarray, interpolate: bool) -> np.ndarray:
    """The voxel indices sampling ``points_zyx`` reads: ``(k, n, 3)``, k = 8 or 1."""
    pts = points_zyx.reshape(-1, 3)
    floor = np.floor(pts)
    base = floor.astype(np.int64)
    if interpolate:
        offsets = np.asarray(_CORNERS, dtype=np.int64)
        return base[None, :, :] + offsets[:, None, :]
    return (base + (pts - floor > 0.5))[None]


def _trilinear(corners: np.ndarray, frac: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """DVID's ``trilinearInterpUint8``, same operation order, for every point at once."""
    c = corners.astype(np.float64)  # (8, n) in _CORNERS order
    zd, yd, xd = frac[:, 0], frac[:, 1], frac[:, 2]
    c00 = c[0] * (1.0 - xd) + c[1] * xd
    c10 = c[2] * (1.0 - xd) + c[3] * xd
    c01 = c[4] * (1.0 - xd) + c[5] * xd
    c11 = c[6] * (1.0 - xd) + c[7] * xd
    c0 = c00 * (1.0 - yd) + c10 * yd
    c1 = c01 * (1.0 - yd) + c11 * yd
    value: np.ndarray = c0 * (1 - zd) + c1 * zd
    if dtype.kind == "f":
        return value.astype(dtype)
    info = np.iinfo(dtype)
    rounded: np.ndarray = np.clip(np.floor(value + 0.5), info.min, info.max)
    return rounded.astype(dtype)


def sample_points(
    points_zyx: np.ndarray, fetch: Fetch, interpolate: bool, dtype: np.dtype
) -> np.ndarray:
    """Sample voxel-space points (any shape ``(..., 3)``) through ``fetch``, one call.

    Grayscale is trilinear (DVID's rounding), labels nearest. Returns ``points.shape[:-1]``.
    """
    shape = points_zyx.shape[:-1]
    idx = needed_voxels(points_zyx, interpolate)
    k, n = idx.shape[0], idx.shape[1]
    values = fetch(idx.reshape(-1, 3)).reshape(k, n)
    if interpolate:
        pts = points_zyx.reshape(-1, 3)
        out = _trilinear(values, pts - np.floor(pts), dtype)
    else:
        out = values[0].astype(dtype, copy=False)
    return out.reshape(shape)


def sample_arb(plan: ArbPlan, vol: np.ndarray, vol_box: Box, interpolate: bool) -> np.ndarray:
    """Sample an arbitrary plane from a ZYX volume.

    Args:
        plan: From :func:`arb_plan`.
        vol: ZYX voxels covering ``vol_box`` (usually ``plan.box``, or part of it).
        vol_box: Where ``vol`` lies.
        interpolate: True for grayscale (trilinear, rounded); False for labels (nearest).

    Returns:
        ``(height, width)`` array of ``vol.dtype``; points outside ``vol_box`` give 0.

    Raises:
        BadRequestError: If ``vol`` does not have ``vol_box``'s shape.
    """
    if vol.ndim != 3 or tuple(vol.shape) != vol_box.shape:
        raise BadRequestError(f"volume shape {vol.shape} does not match box shape {vol_box.shape}")
    return sample_points(
        plan.points_zyx, lambda idx: _gather(vol, vol_box, idx), interpolate, vol.dtype
    )


# ---------------------------------------------------------------- isotropic slices


def _scaled(n: int, num: float, den: float) -> int:
    """DVID's ``int32(float32(n)*num/den + 0.5)`` in float32 arithmetic."""
    f32 = np.float32
    return int(f32(n) * f32(num) / f32(den) + f32(0.5))


def isotropic_read_size(
    plane: str, size_wh: Sequence[int], voxel_size: Sequence[float]
) -> tuple[int, int]:
    """Return the raw slice size (w, h) DVID reads to build an isotropic ``size_wh`` image.

    The finer axis keeps its size; the coarser one shrinks by the resolution ratio
    (DVID's ``dvid.Isotropy2D``).

    Raises:
        BadRequestError: Bad plane or voxel size, or a raw size that rounds to 0.
    """
    res_cols, res_rows = _plane_res(plane, voxel_size)
    w, h = (int(v) for v in size_wh)
    if res_cols < res_rows:
        h = _scaled(h, res_cols, res_rows)
    elif res_rows < res_cols:
        w = _scaled(w, res_rows, res_cols)
    if w < 1 or h < 1:
        raise BadRequestError(
            f"isotropic {plane} image of size {tuple(size_wh)} is too small for this voxel size"
        )
    return w, h


def isotropic_resize(
    img2d: np.ndarray,
    plane: str,
    voxel_size: Sequence[float],
    nearest: bool,
    *,
    size_wh: Sequence[int] | None = None,
) -> np.ndarray:
    """Stretch a raw slice so its pixels are square (DVID's ``isotropic`` endpoint).

    Args:
        img2d: The raw slice, (rows, cols).
        plane: Orientation of the slice, for the voxel sizes of rows and columns.
        voxel_size: XYZ voxel size.
        nearest: True for labels (nearest neighbour), False for grayscale (box filter).
        size_wh: Output (w, h), e.g. the size the client asked for. By default the
            coarser axis is stretched by the resolution ratio, rounded.

    Raises:
        BadRequestError: Bad plane or voxel size, or a dtype that cannot be averaged.
    """
    res_cols, res_rows = _plane_res(plane, voxel_size)
    h, w = img2d.shape
    if size_wh is not None:
        out_w, out_h = (int(v) for v in size_wh)
    else:
        out_w = _scaled(w, res_cols, res_rows) if res_cols > res_rows else w
        out_h = _scaled(h, res_rows, res_cols) if res_rows > res_cols else h
    if min(out_w, out_h, h, w) < 1:
        raise BadRequestError(f"cannot resize a {w}x{h} image to {out_w}x{out_h}")
    if (out_h, out_w) == (h, w):
        return img2d
    return resize_nearest(img2d, out_h, out_w) if nearest else resize_area(img2d, out_h, out_w)


def resize_nearest(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize like DVID's ``resize1x8``: source index ``floor(i * src / dst)``."""
    h, w = img.shape
    rows = np.arange(out_h, dtype=np.int64) * h // out_h
    cols = np.arange(out_w, dtype=np.int64) * w // out_w
    out: np.ndarray = img[np.ix_(rows, cols)]
    return out


def _area_sums(arr: np.ndarray, out_n: int) -> np.ndarray:
    """Area-weighted sums along axis 0 on DVID's ``src x dst`` integer grid.

    Source row ``k`` covers ``[k*out_n, (k+1)*out_n)`` and output row ``j`` covers
    ``[j*n, (j+1)*n)``; each output is ``sum(value * overlap)``.
    """
    n = arr.shape[0]
    prefix = np.concatenate([np.zeros_like(arr[:1]), np.cumsum(arr * out_n, axis=0)])
    t = np.arange(out_n + 1, dtype=np.int64) * n  # output edges on the fine grid
    k = np.minimum(t // out_n, n - 1)
    rest = (t - k * out_n).reshape(-1, *([1] * (arr.ndim - 1)))
    integral: np.ndarray = prefix[k] + rest * arr[k]
    sums: np.ndarray = integral[1:] - integral[:-1]
    return sums


def resize_area(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize like DVID's ``interpolate1x8``: exact box filter, truncated to integers.

    Raises:
        BadRequestError: For integer types wider than 16 bits (labels are never averaged).
    """
    h, w = img.shape
    if img.dtype.kind == "f":
        fsums = _area_sums(_area_sums(img.astype(np.float64), out_h).T, out_w).T
        mean: np.ndarray = fsums / (h * w)
        return mean.astype(img.dtype)
    if img.dtype.kind not in "ui" or img.dtype.itemsize > 2:
        raise BadRequestError(
            f"cannot average {img.dtype} pixels", hint="use nearest-neighbour resizing"
        )
    sums = _area_sums(_area_sums(img.astype(np.int64), out_h).T, out_w).T
    quotient: np.ndarray = sums // (h * w)
    return quotient.astype(img.dtype)


__all__ = [
    "ArbPlan",
    "arb_plan",
    "isotropic_read_size",
    "isotropic_resize",
    "normalize_plane",
    "resize_area",
    "resize_nearest",
    "sample_arb",
    "slice_box",
    "squeeze_slice",
]
