"""Geometry helpers: ``x_y_z`` strings, ZYX boxes, block ranges and size limits.

Arrays are ZYX inside dvidctl; DVID strings and JSON are XYZ. This module is
where the two meet:

* :func:`parse_xyz` reads ``1,2,3`` / ``1_2_3`` / ``1 2 3`` into an **XYZ** tuple;
  :func:`format_xyz` writes one back as ``1_2_3``; :func:`parse_points` checks a list
  of XYZ points.
* :class:`Box` stores ``start``/``stop`` in **ZYX** (``stop`` exclusive) and
  offers ``from_xyz``/``offset_xyz``/``size_xyz`` for the edge.
* :func:`iter_block_coords` lists block coordinates (ZYX, z-major) without a
  Python loop.
* :func:`check_voxel_budget` refuses absurd requests before anything is allocated.

Block arithmetic uses floor division for starts and ceiling division for stops,
so negative coordinates work (voxel -1 is in block -1 for any block size).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from dvidctl.errors import BadRequestError

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
GIB = 2**30
DEFAULT_BUDGET_CAP = 8 * GIB

_SEPARATORS = re.compile(r"\s*[,_]\s*|\s+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_AXES = "xyz"

Triple = tuple[int, int, int]


def _split(text: str, n: int, name: str) -> list[str]:
    """Split ``text`` on ``,``, ``_`` or whitespace and check the count."""
    if not isinstance(text, str):
        raise BadRequestError(f"{name} must be a string like '1_2_3', got {type(text).__name__}")
    parts = _SEPARATORS.split(text.strip())
    if parts == [""]:
        raise BadRequestError(f"{name} is empty", hint=f"give {n} numbers like {_example(n)}")
    if len(parts) != n or "" in parts:
        raise BadRequestError(
            f"{name} {text!r} must have exactly {n} numbers, got {len([p for p in parts if p])}",
            hint=f"write it like {_example(n)}",
        )
    return parts


def _example(n: int) -> str:
    return "_".join(str(10 * (i + 1)) for i in range(n))


def parse_xyz(
    text: str, n: int = 3, *, name: str = "offset", allow_negative: bool = True
) -> tuple[int, ...]:
    """Parse ``"1,2,3"``, ``"1_2_3"`` or ``"1 2 3"`` into an XYZ integer tuple.

    Args:
        text: The string, in DVID (XYZ) order.
        n: How many numbers are expected (3 for offsets, 2 for 2D sizes).
        name: What the value is, used in error messages (``"offset"``, ``"size"``).
        allow_negative: If False, negative numbers are refused (use for sizes).

    Returns:
        The numbers in the order given (XYZ).

    Raises:
        BadRequestError: On a non-integer, a wrong count, a negative number where
            none is allowed, or a value outside the signed 32-bit range DVID uses.
    """
    values = []
    for axis, part in enumerate(_split(text, n, name)):
        if not _INTEGER.fullmatch(part):
            raise BadRequestError(
                f"{name} {text!r}: {part!r} is not an integer",
                hint=f"write it like {_example(n)}",
            )
        value = int(part, 10)
        label = _AXES[axis] if n <= 3 else str(axis)
        if value < 0 and not allow_negative:
            raise BadRequestError(f"{name} {text!r}: {label} must not be negative, got {value}")
        if not INT32_MIN <= value <= INT32_MAX:
            raise BadRequestError(f"{name} {text!r}: {label}={value} is outside the 32-bit range")
        values.append(value)
    return tuple(values)


def parse_floats(text: str, n: int = 3, *, name: str = "point") -> tuple[float, ...]:
    """Parse ``"100.2_90_80.7"`` (or ``,``/space separated) into finite floats.

    Args:
        text: The string, in DVID (XYZ) order.
        n: How many numbers are expected.
        name: What the value is, used in error messages.

    Returns:
        The numbers in the order given.

    Raises:
        BadRequestError: On a non-number, NaN/infinity or a wrong count.
    """
    values = []
    for part in _split(text, n, name):
        try:
            value = float(part)
        except ValueError:
            raise BadRequestError(f"{name} {text!r}: {part!r} is not a number") from None
        if not math.isfinite(value):
            raise BadRequestError(f"{name} {text!r}: {part!r} is not a finite number")
        values.append(value)
    return tuple(values)


def parse_points(points_xyz: object, *, floats: bool = False) -> np.ndarray:
    """Voxel points ``[[x, y, z], ...]`` as an ``(n, 3)`` int64 XYZ array (``(0, 3)`` for none).

    Args:
        points_xyz: A list of 3-lists or an ``(n, 3)`` array.
        floats: Accept floats too, floored to the voxel that holds them (ROI point
            queries); by default only integers are points (label lookups).

    Raises:
        BadRequestError: Not ``(n, 3)`` numbers of the accepted kind, not finite, or
            outside the signed 32-bit range.
    """
    import numpy as np  # on use: the server starts without numpy

    try:
        p = np.asarray(points_xyz)
    except ValueError:
        raise BadRequestError("points must be a list of [x, y, z]") from None
    if p.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    kinds = "iuf" if floats else "iu"
    if p.ndim != 2 or p.shape[1] != 3 or p.dtype.kind not in kinds:
        what = "numeric" if floats else "integer"
        raise BadRequestError(
            f"points must be an (n, 3) {what} XYZ array, got {p.dtype} {p.shape}",
            hint="send [[x, y, z], ...] voxel coordinates",
        )
    if p.dtype.kind == "f":
        if not np.isfinite(p).all():
            raise BadRequestError("points must be finite numbers")
        p = np.floor(p)
    if p.min() < INT32_MIN or p.max() > INT32_MAX:
        raise BadRequestError("point coordinates must fit in int32")
    return p.astype(np.int64)


def format_xyz(values: Sequence[int]) -> str:
    """Format numbers as a DVID ``x_y_z`` string (no reordering is done)."""
    return "_".join(str(int(v)) for v in values)


def _triple(values: Sequence[int], what: str) -> Triple:
    """Return ``values`` as a tuple of three Python ints."""
    if len(values) != 3:
        raise BadRequestError(f"{what} needs 3 values, got {len(values)}")
    a, b, c = (int(v) for v in values)
    return (a, b, c)


def _floordiv(a: Triple, b: Triple) -> Triple:
    return (a[0] // b[0], a[1] // b[1], a[2] // b[2])


def _ceildiv(a: Triple, b: Triple) -> Triple:
    return (-(-a[0] // b[0]), -(-a[1] // b[1]), -(-a[2] // b[2]))


def _positive_shape(block_shape: Sequence[int]) -> Triple:
    shape = _triple(block_shape, "block shape")
    if min(shape) <= 0:
        raise BadRequestError(f"block shape must be positive, got {shape}")
    return shape


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of voxels in ZYX order; ``stop`` is exclusive.

    Attributes:
        start: First voxel, ``(z, y, x)``.
        stop: One past the last voxel, ``(z, y, x)``; ``stop >= start`` per axis.
    """

    start: Triple
    stop: Triple

    def __post_init__(self) -> None:
        """Normalize to tuples of Python ints and check ``stop >= start``."""
        start = _triple(self.start, "box start")
        stop = _triple(self.stop, "box stop")
        if any(b < a for a, b in zip(start, stop, strict=True)):
            raise BadRequestError(f"box stop {stop} is before start {start} (ZYX)")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "stop", stop)

    @classmethod
    def from_xyz(cls, offset_xyz: Sequence[int], size_xyz: Sequence[int]) -> Box:
        """Build a box from DVID's XYZ offset and XYZ size."""
        ox, oy, oz = _triple(offset_xyz, "offset")
        sx, sy, sz = _triple(size_xyz, "size")
        if min(sx, sy, sz) < 0:
            raise BadRequestError(f"size must not be negative, got {(sx, sy, sz)} (XYZ)")
        return cls((oz, oy, ox), (oz + sz, oy + sy, ox + sx))

    @classmethod
    def from_shape(cls, shape_zyx: Sequence[int], start: Sequence[int] = (0, 0, 0)) -> Box:
        """Build a box from a ZYX start and a ZYX shape."""
        s = _triple(start, "start")
        n = _triple(shape_zyx, "shape")
        return cls(s, (s[0] + n[0], s[1] + n[1], s[2] + n[2]))

    @property
    def shape(self) -> Triple:
        """Size along each axis, ZYX (the numpy array shape)."""
        a, b = self.start, self.stop
        return (b[0] - a[0], b[1] - a[1], b[2] - a[2])

    @property
    def size_xyz(self) -> Triple:
        """Size along each axis, XYZ (for DVID strings)."""
        z, y, x = self.shape
        return (x, y, z)

    @property
    def offset_xyz(self) -> Triple:
        """First voxel, XYZ (for DVID strings)."""
        z, y, x = self.start
        return (x, y, z)

    @property
    def nvoxels(self) -> int:
        """Number of voxels in the box."""
        z, y, x = self.shape
        return z * y * x

    @property
    def is_empty(self) -> bool:
        """True if the box holds no voxel."""
        return self.nvoxels == 0

    def intersect(self, other: Box) -> Box | None:
        """Return the overlap of two boxes, or None if they share no voxel."""
        start = tuple(max(a, b) for a, b in zip(self.start, other.start, strict=True))
        stop = tuple(min(a, b) for a, b in zip(self.stop, other.stop, strict=True))
        if any(e <= s for s, e in zip(start, stop, strict=True)):
            return None
        return Box(_triple(start, "start"), _triple(stop, "stop"))

    def union(self, other: Box) -> Box:
        """Return the smallest box containing both boxes (empty boxes are ignored)."""
        if other.is_empty:
            return self
        if self.is_empty:
            return other
        start = tuple(min(a, b) for a, b in zip(self.start, other.start, strict=True))
        stop = tuple(max(a, b) for a, b in zip(self.stop, other.stop, strict=True))
        return Box(_triple(start, "start"), _triple(stop, "stop"))

    def contains(self, other: Box | Sequence[int]) -> bool:
        """Return True if a box lies inside this one, or a ZYX point is in it."""
        if isinstance(other, Box):
            return all(a <= b for a, b in zip(self.start, other.start, strict=True)) and all(
                b <= a for a, b in zip(self.stop, other.stop, strict=True)
            )
        point = _triple(other, "point")
        return all(s <= p < e for s, p, e in zip(self.start, point, self.stop, strict=True))

    def translate(self, delta_zyx: Sequence[int]) -> Box:
        """Return the box moved by ``delta_zyx``."""
        d = _triple(delta_zyx, "delta")
        return Box(
            (self.start[0] + d[0], self.start[1] + d[1], self.start[2] + d[2]),
            (self.stop[0] + d[0], self.stop[1] + d[1], self.stop[2] + d[2]),
        )

    def slices_in(self, other: Box) -> tuple[slice, slice, slice]:
        """Return numpy slices that select this box inside ``other``'s array.

        Raises:
            BadRequestError: If this box is not inside ``other``.
        """
        if not other.contains(self):
            raise BadRequestError(f"{self} is not inside {other}")
        o = other.start
        return (
            slice(self.start[0] - o[0], self.stop[0] - o[0]),
            slice(self.start[1] - o[1], self.stop[1] - o[1]),
            slice(self.start[2] - o[2], self.stop[2] - o[2]),
        )

    def block_range(self, block_shape_zyx: Sequence[int]) -> tuple[Triple, Triple]:
        """Return ``(bstart, bstop)``: the ZYX block coordinates touched, stop exclusive.

        Uses floor division for the start and ceiling division for the stop, so it
        is correct for negative coordinates. An empty box gives an empty range.
        """
        bs = _positive_shape(block_shape_zyx)
        bstart = _floordiv(self.start, bs)
        if self.is_empty:
            return bstart, bstart
        return bstart, _ceildiv(self.stop, bs)

    def aligned_to(self, block_shape_zyx: Sequence[int]) -> Box:
        """Return the smallest block-aligned box that contains this box."""
        bs = _positive_shape(block_shape_zyx)
        bstart, bstop = _floordiv(self.start, bs), _ceildiv(self.stop, bs)
        return Box(
            (bstart[0] * bs[0], bstart[1] * bs[1], bstart[2] * bs[2]),
            (bstop[0] * bs[0], bstop[1] * bs[1], bstop[2] * bs[2]),
        )

    def is_aligned(self, block_shape_zyx: Sequence[int]) -> bool:
        """Return True if start and stop both fall on block boundaries."""
        bs = _positive_shape(block_shape_zyx)
        return all(
            s % b == 0 and e % b == 0 for s, e, b in zip(self.start, self.stop, bs, strict=True)
        )

    def scaled_down(self, levels: int) -> Box:
        """Return the box covering this one at ``levels`` coarser scale (factor 2 each).

        Voxel ``v`` at scale 0 is voxel ``floor(v / 2**levels)`` at the coarser scale,
        so the start is floored and the stop ceiled.
        """
        if levels < 0:
            raise BadRequestError(f"scale levels must not be negative, got {levels}")
        f = 2**levels
        return Box(_floordiv(self.start, (f, f, f)), _ceildiv(self.stop, (f, f, f)))

    def __str__(self) -> str:
        """Describe the box in DVID terms (XYZ size and offset)."""
        return f"box size {format_xyz(self.size_xyz)} at offset {format_xyz(self.offset_xyz)} (XYZ)"


def iter_block_coords(bstart: Sequence[int], bstop: Sequence[int]) -> np.ndarray:
    """Return every block coordinate in ``[bstart, bstop)`` as an ``(n, 3)`` int32 array.

    Coordinates are ZYX and ordered z-major (z, then y, then x), the order of
    DVID's ZYX block keys.

    Raises:
        BadRequestError: If a coordinate does not fit in int32.
    """
    import numpy as np  # on use: the server starts without numpy

    a = _triple(bstart, "block start")
    b = _triple(bstop, "block stop")
    for v in a + b:
        if not INT32_MIN <= v <= INT32_MAX + 1:
            raise BadRequestError(f"block coordinate {v} is outside the 32-bit range")
    ranges = [np.arange(lo, max(lo, hi), dtype=np.int64) for lo, hi in zip(a, b, strict=True)]
    grid = np.meshgrid(*ranges, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1).astype(np.int32)


def physical_memory_bytes() -> int | None:
    """Return the machine's physical memory in bytes, or None if unknown."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return int(pages) * int(page_size)


def default_budget_bytes() -> int:
    """Return the default limit: min(8 GiB, half of physical memory)."""
    mem = physical_memory_bytes()
    return DEFAULT_BUDGET_CAP if mem is None else min(DEFAULT_BUDGET_CAP, mem // 2)


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_voxel_budget(nvoxels: int, itemsize: int, limit_bytes: int | None = None) -> int:
    """Refuse a request whose array would be too large, before allocating it.

    Args:
        nvoxels: Number of elements that would be allocated.
        itemsize: Bytes per element.
        limit_bytes: Largest allowed size; default min(8 GiB, half of physical memory).

    Returns:
        The number of bytes the request needs.

    Raises:
        BadRequestError: If the request needs more than the limit, or is negative.
    """
    if nvoxels < 0 or itemsize <= 0:
        raise BadRequestError(f"invalid request size: {nvoxels} voxels of {itemsize} bytes")
    limit = default_budget_bytes() if limit_bytes is None else limit_bytes
    nbytes = int(nvoxels) * int(itemsize)
    if nbytes > limit:
        raise BadRequestError(
            f"request of {nvoxels} voxels x {itemsize} bytes = {_human(nbytes)} "
            f"exceeds the allowed {_human(limit)}",
            hint="ask for a smaller box, or split the request into pieces",
        )
    return nbytes


__all__ = [
    "Box",
    "check_voxel_budget",
    "default_budget_bytes",
    "format_xyz",
    "iter_block_coords",
    "parse_floats",
    "parse_xyz",
    "physical_memory_bytes",
]
