"""Tests for imageblk.sampling: orthogonal slices, arb planes, isotropic resizing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl.datatypes.imageblk.sampling import (
    ArbPlan,
    arb_plan,
    isotropic_read_size,
    isotropic_resize,
    normalize_plane,
    resize_area,
    resize_nearest,
    sample_arb,
    slice_box,
    squeeze_slice,
)
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box

Vec = Sequence[float]
ALIASES = {
    "xy": ["xy", "XY", "0_1", "0,1"],
    "xz": ["xz", "0_2", "0,2"],
    "yz": ["yz", "1_2", "1,2"],
}
RNG = np.random.default_rng(42)
VOL_BOX = Box((-3, 2, -5), (13, 22, 19))  # z, y, x; includes negative coordinates
VOL = RNG.integers(0, 256, size=VOL_BOX.shape, dtype=np.uint8)
LABELS = RNG.integers(0, 2**64, size=VOL_BOX.shape, dtype=np.uint64)


def _direct(
    vol: np.ndarray, plane: str, offset_xyz: tuple[int, int, int], w: int, h: int
) -> np.ndarray:
    """The slice as plain numpy indexing of the ZYX volume held in VOL_BOX."""
    x, y, z = (o - s for o, s in zip(offset_xyz, VOL_BOX.start[::-1], strict=True))
    if plane == "xy":
        return vol[z, y : y + h, x : x + w]
    if plane == "xz":
        return vol[z : z + h, y, x : x + w]
    return vol[z : z + h, y : y + w, x]


# ---------------------------------------------------------------- orthogonal slices


def test_normalize_plane() -> None:
    for name, aliases in ALIASES.items():
        assert all(normalize_plane(a) == name for a in aliases)
    for bad in ("xyz", "0_1_2", "arb", "zx", ""):
        with pytest.raises(BadRequestError):
            normalize_plane(bad)


@given(st.sampled_from(sorted(ALIASES)), st.data())
def test_slice_matches_numpy(plane: str, data: st.DataObject) -> None:
    alias = data.draw(st.sampled_from(ALIASES[plane]))
    w, h = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    z0, y0, x0 = VOL_BOX.start
    nz, ny, nx = VOL_BOX.shape
    cols, rows = {"xy": (nx, ny), "xz": (nx, nz), "yz": (ny, nz)}[plane]
    w, h = min(w, cols), min(h, rows)
    ox = data.draw(st.integers(x0, x0 + nx - (w if plane != "yz" else 1)))
    oy = data.draw(st.integers(y0, y0 + ny - {"xy": h, "xz": 1, "yz": w}[plane]))
    oz = data.draw(st.integers(z0, z0 + nz - (1 if plane == "xy" else h)))
    box = slice_box(alias, (ox, oy, oz), (w, h))
    assert box.offset_xyz == (ox, oy, oz)
    assert box.nvoxels == w * h
    img = squeeze_slice(alias, VOL[box.slices_in(VOL_BOX)])
    assert img.shape == (h, w)
    assert np.array_equal(img, _direct(VOL, plane, (ox, oy, oz), w, h))


def test_slice_orientation_example() -> None:
    # xz: columns run along x, rows along z (DVID's width=x, height=z).
    assert slice_box("xz", (10, 20, 30), (4, 3)) == Box((30, 20, 10), (33, 21, 14))
    assert slice_box("yz", (10, 20, 30), (4, 3)) == Box((30, 20, 10), (33, 24, 11))
    vol = np.arange(3 * 1 * 4).reshape(3, 1, 4)
    assert squeeze_slice("xz", vol).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_slice_errors() -> None:
    with pytest.raises(BadRequestError):
        slice_box("xy", (0, 0, 0), (0, 4))
    with pytest.raises(BadRequestError):
        slice_box("xy", (0, 0, 0), (4, 4, 1))
    with pytest.raises(BadRequestError, match="thickness 1"):
        squeeze_slice("xy", np.zeros((2, 3, 3)))


# ---------------------------------------------------------------- arb: axis-aligned


def _arb_axis_aligned(
    plane: str, offset: tuple[int, int, int], w: int, h: int, vs: tuple[float, float, float]
) -> ArbPlan:
    cols, rows = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}[plane]
    tl = np.array(offset, float) * vs
    tr, bl = tl.copy(), tl.copy()
    tr[cols] += (w - 1) * vs[cols]
    bl[rows] += (h - 1) * vs[rows]
    assert vs[cols] == vs[rows]
    return arb_plan(tuple(tl), tuple(tr), tuple(bl), vs[cols], vs)


@pytest.mark.parametrize("interpolate", [True, False])
@settings(deadline=None, max_examples=60)
@given(plane=st.sampled_from(["xy", "xz", "yz"]), data=st.data())
def test_arb_axis_aligned_equals_slice(plane: str, interpolate: bool, data: st.DataObject) -> None:
    w, h = data.draw(st.integers(2, 9)), data.draw(st.integers(2, 9))
    vs = {"xy": (4.0, 4.0, 40.0), "xz": (8.0, 3.0, 8.0), "yz": (1.0, 6.25, 6.25)}[plane]
    (z0, y0, x0), (nz, ny, nx) = VOL_BOX.start, VOL_BOX.shape
    need = {"xy": (w, h, 1), "xz": (w, 1, h), "yz": (1, w, h)}[plane]
    offset = (
        data.draw(st.integers(x0, x0 + nx - need[0])),
        data.draw(st.integers(y0, y0 + ny - need[1])),
        data.draw(st.integers(z0, z0 + nz - need[2])),
    )
    plan = _arb_axis_aligned(plane, offset, w, h, vs)
    assert (plan.width, plan.height) == (w, h)
    assert plan.box == slice_box(plane, offset, (w, h))  # exact points need no extra voxels
    vol = VOL if interpolate else LABELS
    got = sample_arb(plan, vol, VOL_BOX, interpolate)
    assert got.dtype == vol.dtype
    assert np.array_equal(got, _direct(vol, plane, offset, w, h))
    # Reading only plan.box gives the same answer.
    part = vol[plan.box.slices_in(VOL_BOX)]
    assert np.array_equal(sample_arb(plan, part, plan.box, interpolate), got)


def test_arb_reversed_directions_flip() -> None:
    plan = arb_plan((10, 9, 4), (2, 9, 4), (10, 3, 4), 1.0, (1, 1, 1))  # right-to-left, bottom-up
    got = sample_arb(plan, VOL, VOL_BOX, False)
    expected = _direct(VOL, "xy", (2, 3, 4), 9, 7)[::-1, ::-1]
    assert np.array_equal(got, expected)


def test_arb_size_rule() -> None:
    # width = floor(|tr - tl| / res) + 1; tl and tr are both pixel centres.
    plan = arb_plan((0, 0, 0), (10, 0, 0), (0, 4.5, 0), 1.0, (1, 1, 1))
    assert (plan.width, plan.height) == (11, 5)
    assert np.allclose(plan.points_zyx[0, -1], (0, 0, 10))
    assert np.allclose(plan.points_zyx[-1, 0], (0, 4.5, 0))
    assert plan.points_zyx.shape == (5, 11, 3)


# ---------------------------------------------------------------- arb: oblique vs slow reference


def _reference_arb(
    tl_: Vec,
    tr_: Vec,
    bl_: Vec,
    res: float,
    vs_: Vec,
    vol: np.ndarray,
    vol_box: Box,
    interpolate: bool,
) -> np.ndarray:
    """Slow per-pixel port of DVID's GetArbitraryImage/neighborhood/trilinearInterpUint8."""
    tl, tr, bl, vs = (np.asarray(v, float) for v in (tl_, tr_, bl_, vs_))
    nx = math.floor(np.linalg.norm(tr - tl) / res + 1e-9)
    ny = math.floor(np.linalg.norm(bl - tl) / res + 1e-9)
    incr_x, incr_y = (tr - tl) / nx, (bl - tl) / ny
    out = np.zeros((ny + 1, nx + 1), vol.dtype)

    def value(x: int, y: int, z: int) -> int:
        p = (z, y, x)
        if not vol_box.contains(p):
            return 0
        return int(vol[tuple(a - b for a, b in zip(p, vol_box.start, strict=True))])

    for j in range(ny + 1):
        for i in range(nx + 1):
            v = (tl + i * incr_x + j * incr_y) / vs
            v = [float(round(c)) if abs(c - round(c)) < 1e-6 else c for c in v]
            lo = [math.floor(c) for c in v]
            hi = [math.ceil(c) for c in v]
            d = [(c - a) if a != b else 0.0 for c, a, b in zip(v, lo, hi, strict=True)]
            xs, ys, zs = ((lo[k], hi[k]) for k in range(3))
            c = [value(xs[q & 1], ys[(q >> 1) & 1], zs[q >> 2]) for q in range(8)]
            if not interpolate:
                q = (d[0] > 0.5) + 2 * (d[1] > 0.5) + 4 * (d[2] > 0.5)
                out[j, i] = c[q]
                continue
            xd, yd, zd = d
            c00 = float(c[0]) * (1 - xd) + float(c[1]) * xd
            c10 = float(c[2]) * (1 - xd) + float(c[3]) * xd
            c01 = float(c[4]) * (1 - xd) + float(c[5]) * xd
            c11 = float(c[6]) * (1 - xd) + float(c[7]) * xd
            c0, c1 = c00 * (1 - yd) + c10 * yd, c01 * (1 - yd) + c11 * yd
            out[j, i] = min(255, math.floor(c0 * (1 - zd) + c1 * zd + 0.5))
    return out


OBLIQUE = [
    # tl, tr, bl (real-world XYZ), res, voxel size
    ((0.0, 8.0, 4.0), (11.0, 12.5, 7.0), (3.0, 18.0, 1.0), 0.9, (1.0, 1.0, 1.0)),
    ((-20.0, 40.0, -10.0), (60.0, 60.0, 30.0), (-30.0, 120.0, 20.0), 7.0, (4.0, 4.0, 3.0)),
    ((3.3, 5.1, 2.2), (14.9, 7.7, 9.4), (1.0, 19.0, 5.0), 1.7, (1.0, 1.0, 1.0)),
    (
        (-10.0, 0.0, -6.0),
        (30.0, 30.0, 20.0),
        (-8.0, 40.0, 0.0),
        2.5,
        (1.0, 1.0, 1.0),
    ),  # partly outside
]


@pytest.mark.parametrize("interpolate", [True, False])
@pytest.mark.parametrize(("tl", "tr", "bl", "res", "vs"), OBLIQUE)
def test_arb_oblique_matches_reference(
    tl: Vec, tr: Vec, bl: Vec, res: float, vs: Vec, interpolate: bool
) -> None:
    vol = VOL if interpolate else LABELS
    plan = arb_plan(tl, tr, bl, res, vs, itemsize=vol.dtype.itemsize)
    got = sample_arb(plan, vol, VOL_BOX, interpolate)
    assert np.array_equal(got, _reference_arb(tl, tr, bl, res, vs, vol, VOL_BOX, interpolate))
    if not interpolate:
        assert set(got.ravel().tolist()) <= set(vol.ravel().tolist()) | {0}


@settings(deadline=None, max_examples=25)
@given(st.lists(st.floats(-10, 30, allow_nan=False), min_size=9, max_size=9), st.floats(0.5, 3.0))
def test_arb_random_planes_match_reference(coords: list[float], res: float) -> None:
    tl, tr, bl = coords[0:3], coords[3:6], coords[6:9]
    for a, b in ((tl, tr), (tl, bl)):
        if np.linalg.norm(np.subtract(a, b)) < res * 1.01:
            return
    plan = arb_plan(tl, tr, bl, res, (1, 1, 1))
    got = sample_arb(plan, VOL, VOL_BOX, True)
    assert np.array_equal(got, _reference_arb(tl, tr, bl, res, (1, 1, 1), VOL, VOL_BOX, True))
    # The plan's box holds every voxel the interpolation touches.
    inner = VOL_BOX.intersect(plan.box)
    if inner is not None:
        part = np.zeros(plan.box.shape, VOL.dtype)
        part[inner.slices_in(plan.box)] = VOL[inner.slices_in(VOL_BOX)]
        assert np.array_equal(sample_arb(plan, part, plan.box, True), got)


def test_arb_outside_volume_is_zero() -> None:
    plan = arb_plan((1000, 1000, 1000), (1010, 1003, 1000), (1000, 1010, 1004), 1.0, (1, 1, 1))
    assert not sample_arb(plan, VOL, VOL_BOX, True).any()
    assert not sample_arb(plan, LABELS, VOL_BOX, False).any()
    empty = Box((0, 0, 0), (0, 0, 0))
    assert not sample_arb(plan, np.zeros((0, 0, 0), np.uint8), empty, True).any()


@pytest.mark.parametrize(
    ("tl", "tr", "bl", "res", "vs"),
    [
        ((0, 0, 0), (0.5, 0, 0), (0, 5, 0), 1.0, (1, 1, 1)),  # zero width
        ((0, 0, 0), (5, 0, 0), (0, 0, 0), 1.0, (1, 1, 1)),  # zero height
        ((0, 0, 0), (5, 0, 0), (0, 5, 0), 0.0, (1, 1, 1)),
        ((0, 0, 0), (5, 0, 0), (0, 5, 0), -1.0, (1, 1, 1)),
        ((0, 0, 0), (5, 0, 0), (0, 5, 0), float("nan"), (1, 1, 1)),
        ((0, 0, float("inf")), (5, 0, 0), (0, 5, 0), 1.0, (1, 1, 1)),
        ((0, 0, 0), (5, 0, 0), (0, 5, 0), 1.0, (1, 0, 1)),
        ((0, 0), (5, 0, 0), (0, 5, 0), 1.0, (1, 1, 1)),
        ((0, 0, 0), (1e7, 0, 0), (0, 1e7, 0), 1.0, (1, 1, 1)),  # absurd size
        ((0, 0, 0), (4000, 0, 4000), (0, 4000, 4000), 2.0, (1, 1, 1)),  # huge oblique box
    ],
)
def test_arb_refuses(tl: Vec, tr: Vec, bl: Vec, res: float, vs: Vec) -> None:
    with pytest.raises(BadRequestError):
        arb_plan(tl, tr, bl, res, vs, limit_bytes=2**30)


def test_sample_arb_shape_mismatch() -> None:
    plan = arb_plan((0, 0, 0), (3, 0, 0), (0, 3, 0), 1.0, (1, 1, 1))
    with pytest.raises(BadRequestError):
        sample_arb(plan, VOL[:-1], VOL_BOX, True)


# ---------------------------------------------------------------- isotropic


def _reference_nearest(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    h, w = img.shape
    out = np.zeros((out_h, out_w), img.dtype)
    for y in range(out_h):
        for x in range(out_w):
            out[y, x] = img[y * h // out_h, x * w // out_w]
    return out


def _reference_area(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Port of DVID's interpolate1x8 (moustachio box filter)."""
    dy, dx = img.shape
    hh, ww = out_h, out_w
    total = [0] * (ww * hh)
    for y in range(dy):
        for x in range(dx):
            val = int(img[y, x])
            py, remy = y * hh, hh
            while remy > 0:
                qy = min(dy - py % dy, remy)
                px, remx = x * ww, ww
                index = (py // dy) * ww + px // dx
                while remx > 0:
                    qx = min(dx - px % dx, remx)
                    total[index] += val * qx * qy
                    index += 1
                    px += qx
                    remx -= qx
                py += qy
                remy -= qy
    return np.array([t // (dx * dy) for t in total], img.dtype).reshape(hh, ww)


@settings(deadline=None, max_examples=60)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 30),
    st.integers(1, 30),
    st.sampled_from(["uint8", "uint16"]),
)
def test_resize_matches_dvid(h: int, w: int, out_h: int, out_w: int, dtype: str) -> None:
    img = np.random.default_rng(h * 100 + w).integers(
        0, np.iinfo(dtype).max, (h, w), dtype=dtype, endpoint=True
    )
    assert np.array_equal(resize_nearest(img, out_h, out_w), _reference_nearest(img, out_h, out_w))
    assert np.array_equal(resize_area(img, out_h, out_w), _reference_area(img, out_h, out_w))


def test_resize_area_refuses_labels() -> None:
    with pytest.raises(BadRequestError):
        resize_area(np.zeros((2, 2), np.uint64), 4, 4)
    floats = resize_area(np.array([[1.0, 3.0]], np.float32), 1, 1)
    assert floats.dtype == np.float32 and floats[0, 0] == 2.0


def test_isotropic_read_size() -> None:
    vs = (8.0, 8.0, 40.0)
    assert isotropic_read_size("xy", (100, 50), vs) == (100, 50)
    assert isotropic_read_size("xz", (100, 100), vs) == (100, 20)  # z is 5x coarser
    assert isotropic_read_size("yz", (64, 13), vs) == (64, 3)  # int(13/5 + 0.5)
    assert isotropic_read_size("xz", (100, 100), (40.0, 1.0, 8.0)) == (20, 100)
    with pytest.raises(BadRequestError):
        isotropic_read_size("xz", (10, 1), (1.0, 1.0, 10.0))  # rounds to 0 rows
    with pytest.raises(BadRequestError):
        isotropic_read_size("xz", (10, 10), (1.0, 0.0, 10.0))


def test_isotropic_resize_round_trip_to_request() -> None:
    vs = (8.0, 8.0, 40.0)
    raw_w, raw_h = isotropic_read_size("xz", (20, 40), vs)
    raw = VOL[:raw_h, 0, :raw_w]
    gray = isotropic_resize(raw, "xz", vs, nearest=False, size_wh=(20, 40))
    assert gray.shape == (40, 20) and gray.dtype == np.uint8
    assert np.array_equal(gray, _reference_area(raw, 40, 20))
    lab = LABELS[:raw_h, 0, :raw_w]
    big = isotropic_resize(lab, "xz", vs, nearest=True)
    assert big.shape == (raw_h * 5, raw_w)
    assert np.array_equal(big[::5], lab)
    assert isotropic_resize(lab, "xy", vs, nearest=True) is lab  # already isotropic
