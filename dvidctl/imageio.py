"""Array files for the CLI and 2D images for HTTP.

``read_array``/``write_array`` pick the format from the file suffix:

=============  ==========================================================
``.npy``       any numeric dtype, any shape (``allow_pickle=False``)
``.tif/.tiff`` 2D images and 3D ZYX stacks of grayscale values
``.png``       2D only: uint8 (8-bit gray) or uint16 (16-bit gray)
``.jpg/.jpeg`` 2D uint8 only (lossy)
anything else  raw little-endian bytes in ZYX order, X fastest; ``-`` is
               stdin/stdout. Reading raw bytes needs ``dtype`` and ``shape_zyx``.
=============  ==========================================================

``encode_image``/``decode_image`` turn 2D arrays into PNG/JPEG bodies for the
HTTP API. Like DVID (``dvid/image.go``), a uint64 label image is sent as a
16-bit RGBA PNG whose pixel bytes are the labels' little-endian bytes (Go's
``image.NRGBA64`` over the raw buffer); Pillow cannot write or read those, so
this module has its own tiny PNG codec for that one layout.

Every problem with a file or body raises :class:`~dvidctl.errors.BadRequestError`
(or its subclass ``CorruptDataError`` when the bytes do not decode).
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.geometry import check_voxel_budget
from dvidctl.png64 import PNG_SIGNATURE, decode_png64, encode_png64

PathLike = str | os.PathLike[str]
Shape = tuple[int, ...]

DEFAULT_JPEG_QUALITY = 80  # DVID's dvid.DefaultJPEGQuality, used for HTTP bodies
FILE_JPEG_QUALITY = 95  # for files written by the CLI
_FORMATS = {"": "png", "png": "png", "jpg": "jpeg", "jpeg": "jpeg"}
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg"}


# ---------------------------------------------------------------- format strings


def parse_image_format(spec: str) -> tuple[str, int | None]:
    """Parse DVID's ``png``, ``jpg``, ``jpeg`` or ``jpg:90`` into ``(format, quality)``.

    An empty string means PNG. JPEG without a quality gets DVID's default (80).

    Raises:
        BadRequestError: For another format or a quality outside 1..100.
    """
    name, _, qual = spec.strip().lower().partition(":")
    fmt = _FORMATS.get(name)
    if fmt is None:
        raise BadRequestError(f"unknown image format {spec!r}", hint="use png, jpg or jpg:QUALITY")
    if fmt == "png":
        if qual:
            raise BadRequestError(f"image format {spec!r}: png takes no quality")
        return fmt, None
    if not qual:
        return fmt, DEFAULT_JPEG_QUALITY
    if not qual.isdigit() or not 1 <= int(qual) <= 100:
        raise BadRequestError(f"JPEG quality in {spec!r} must be an integer from 1 to 100")
    return fmt, int(qual)


# ---------------------------------------------------------------- 2D images


def _check_2d(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 2 or 0 in arr.shape:
        raise BadRequestError(f"{what} needs a non-empty 2D array, got shape {arr.shape}")


def encode_image(arr2d: np.ndarray, fmt: str = "png", quality: int | None = None) -> bytes:
    """Encode a 2D array (rows, cols) as a PNG or JPEG body.

    Args:
        arr2d: uint8 or uint16 grayscale, or uint64 labels (PNG only, DVID packing).
        fmt: ``png``, ``jpg``, ``jpeg`` or ``jpg:Q``.
        quality: JPEG quality 1..100; overrides a quality given in ``fmt``.

    Raises:
        BadRequestError: For a dtype the format cannot hold, or a bad format string.
    """
    name, q = parse_image_format(fmt)
    _check_2d(arr2d, f"a {name.upper()} image")
    dt = arr2d.dtype
    if name == "jpeg":
        if dt != np.uint8:
            raise BadRequestError(f"JPEG images hold only uint8 values, not {dt}", hint="use png")
        q = quality if quality is not None else q
        if q is None or not 1 <= q <= 100:
            raise BadRequestError(f"JPEG quality must be 1..100, got {q}")
        return _pil_encode(arr2d, "JPEG", quality=q)
    if dt == np.uint64:
        return encode_png64(arr2d)
    if dt not in (np.uint8, np.uint16):
        raise BadRequestError(f"PNG images hold uint8, uint16 or uint64 labels, not {dt}")
    return _pil_encode(arr2d, "PNG")


def _pil_encode(arr2d: np.ndarray, fmt: str, **options: int) -> bytes:
    from PIL import Image  # imported on use: PIL and tifffile cost ~0.1 s at start-up

    img = Image.fromarray(np.ascontiguousarray(arr2d, dtype=arr2d.dtype.newbyteorder("=")))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt, **options)
    except (OSError, ValueError) as exc:
        raise BadRequestError(f"cannot encode {arr2d.shape} image as {fmt}: {exc}") from None
    return buf.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Decode a PNG or JPEG body into a 2D array (rows, cols).

    8-bit gray gives uint8, 16-bit gray gives uint16, a 16-bit RGB(A) PNG gives
    uint64 labels (DVID packing).

    Raises:
        CorruptDataError: If the bytes are not a grayscale PNG/JPEG or a label PNG.
    """
    return _decode(data, "image body", labels=True)[1]


def _decode(data: bytes, source: str, *, labels: bool) -> tuple[str, np.ndarray]:
    """Return ``(format, array)`` for PNG/JPEG bytes."""
    if (
        labels
        and data[:8] == PNG_SIGNATURE
        and data[24:25] == b"\x10"
        and data[25:26] in b"\x02\x06"
    ):
        return "png", decode_png64(data, source)  # 16-bit RGB(A): DVID's uint64 packing
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptDataError(f"{source} is not a readable PNG or JPEG image ({exc})") from None
    fmt = _PIL_FORMATS.get(img.format or "")
    if fmt is None:
        raise CorruptDataError(f"{source} is a {img.format} image; only PNG and JPEG are read")
    if img.mode == "L":
        return fmt, np.asarray(img, dtype=np.uint8)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # Pillow opens 16-bit gray PNGs as I;16
        return fmt, np.asarray(img).astype(np.uint16)
    raise BadRequestError(
        f"{source} is a {img.mode} {fmt.upper()} image; only grayscale images hold voxel values",
        hint="convert it to 8- or 16-bit grayscale",
    )


# ---------------------------------------------------------------- array files


def _kind(path: PathLike) -> str:
    if str(path) == "-":
        return "raw"
    suffix = Path(path).suffix.lower()
    return {".npy": "npy", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}.get(
        suffix, "jpeg" if suffix in (".jpg", ".jpeg") else "raw"
    )


def _label(path: PathLike) -> str:
    return "stdin" if str(path) == "-" else str(path)


def read_array(
    path_or_dash: PathLike,
    *,
    dtype: npt.DTypeLike | None = None,
    shape_zyx: Shape | None = None,
) -> np.ndarray:
    """Read an array from a file (format by suffix) or raw bytes from stdin (``-``).

    Args:
        path_or_dash: File path, or ``-`` for raw bytes on stdin.
        dtype: Expected dtype. Required for raw input. For other formats the file
            must hold this dtype, or a narrower integer type that converts losslessly.
        shape_zyx: Expected shape, ZYX. Required for raw input. Leading axes of
            length 1 may be missing or extra (a 2D image fits a ``(1, y, x)`` box).

    Returns:
        A C-contiguous, native-byte-order array. A ``.npy`` file that already is
        one is mapped read-only (``np.load(mmap_mode="r")``), not copied: the
        pages are read as the array is used, and no second copy is made.

    Raises:
        BadRequestError: Missing file, wrong format, dtype or size (one-line message).
    """
    kind, label = _kind(path_or_dash), _label(path_or_dash)
    if kind == "raw":
        return _read_raw(path_or_dash, dtype, shape_zyx)
    if not os.path.isfile(path_or_dash):
        raise BadRequestError(f"no such file: {label}")
    if kind == "npy":
        arr = _read_npy(path_or_dash, label)
    elif kind == "tiff":
        arr = _read_tiff(path_or_dash, label)
    else:
        with _opening(label, "read"):
            raw = Path(path_or_dash).read_bytes()
        fmt, arr = _decode(raw, label, labels=False)
        if fmt != kind:
            raise CorruptDataError(f"{label} is a {fmt.upper()} file, not {kind.upper()}")
    return _conform(arr, dtype, shape_zyx, label)


def _read_npy(path: PathLike, label: str) -> np.ndarray:
    try:
        mm = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptDataError(f"{label} is not a valid .npy array file ({exc})") from None
    if not isinstance(mm, np.ndarray) or mm.dtype.kind not in "biuf":
        raise BadRequestError(f"{label} does not hold a numeric array")
    check_voxel_budget(mm.size, mm.dtype.itemsize)
    return np.asarray(mm)  # still the mapping: _conform copies only what it must convert


def _quiet_tifffile() -> None:
    """tifffile logs what it finds wrong in a file; we report it as one error instead."""
    logger = logging.getLogger("tifffile")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _read_tiff(path: PathLike, label: str) -> np.ndarray:
    import tifffile

    _quiet_tifffile()
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape, dt = series.axes, series.shape, series.dtype
            if "S" in axes and shape[axes.index("S")] > 1:
                raise BadRequestError(f"{label} is a colour TIFF; only grayscale holds voxels")
            check_voxel_budget(int(np.prod(shape)), np.dtype(dt).itemsize)
            arr = series.asarray()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as exc:
        if isinstance(exc, BadRequestError):
            raise
        raise CorruptDataError(f"{label} is not a readable TIFF file ({exc})") from None
    if arr.ndim > 3:
        arr = arr.reshape([n for n in arr.shape if n != 1] or [1])
    if arr.ndim > 3:
        raise BadRequestError(f"{label} has axes {axes}; expected a 2D image or a 3D stack")
    return arr


def _conform(
    arr: np.ndarray, dtype: npt.DTypeLike | None, shape: Shape | None, label: str
) -> np.ndarray:
    """Check (and losslessly convert) dtype and shape of a file's array."""
    if dtype is not None:
        want = np.dtype(dtype)
        have = arr.dtype
        if have != want:
            lossless = have.kind in "ui" and want.kind in "ui" and np.can_cast(have, want, "safe")
            if not lossless:
                raise BadRequestError(
                    f"{label} holds {have} values but {want} is needed",
                    hint=f"convert the file to {want}",
                )
            arr = arr.astype(want)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        if _strip_ones(arr.shape) != _strip_ones(shape):
            raise BadRequestError(
                f"{label} has shape {tuple(arr.shape)} but shape (z, y, x) {tuple(shape)} is needed"
            )
        arr = arr.reshape(shape)
    return arr.astype(arr.dtype.newbyteorder("="), order="C", copy=False)


def _strip_ones(shape: Shape) -> Shape:
    dims = list(shape)
    while len(dims) > 1 and dims[0] == 1:
        dims.pop(0)
    return tuple(dims)


def _read_raw(path: PathLike, dtype: npt.DTypeLike | None, shape: Shape | None) -> np.ndarray:
    label = _label(path)
    if dtype is None or shape is None:
        raise BadRequestError(
            f"raw input {label} needs a dtype and a shape",
            hint="use a .npy, .tif or .png file, or give the data type and size",
        )
    dt = np.dtype(dtype)
    if dt.kind not in "biuf" or min(shape, default=0) < 0:
        raise BadRequestError(f"cannot read raw {dt} data of shape {shape}")
    n = int(np.prod(shape))
    expected = check_voxel_budget(n, dt.itemsize)
    if str(path) != "-":
        if not os.path.isfile(path):
            raise BadRequestError(f"no such file: {label}")
        actual = os.path.getsize(path)
        if actual != expected:
            raise BadRequestError(_size_message(label, actual, expected, dt, shape))
        with _opening(label, "read"):
            f = open(path, "rb")  # closed by the with below
        with f:
            return _read_exact(f, n, dt, shape, label)
    return _read_exact(sys.stdin.buffer, n, dt, shape, label)


def _size_message(label: str, actual: int | None, expected: int, dt: np.dtype, shape: Shape) -> str:
    """Describe a raw size mismatch; ``actual=None`` means "more than expected"."""
    if actual is None:
        have = f"more than the {expected} bytes"
    else:
        have = f"{actual} bytes, {'more' if actual > expected else 'fewer'} than the {expected}"
    return f"{label} has {have} needed for {dt} of shape (z, y, x) {tuple(shape)}"


_CHUNK = 1 << 24


def _read_exact(stream: BinaryIO, n: int, dt: np.dtype, shape: Shape, label: str) -> np.ndarray:
    """Read exactly ``n`` little-endian items from ``stream``, refusing short or long input."""
    arr = np.empty(n, dt.newbyteorder("<"))
    buf = arr.view(np.uint8).data
    got = 0
    while got < len(buf):
        k = stream.readinto(buf[got : got + _CHUNK])  # type: ignore[attr-defined]
        if not k:
            raise BadRequestError(_size_message(label, got, len(buf), dt, shape))
        got += k
    if stream.read(1):
        raise BadRequestError(_size_message(label, None, len(buf), dt, shape))
    return arr.reshape(shape).astype(dt.newbyteorder("="), copy=False)


def write_array(path_or_dash: PathLike, arr: np.ndarray, *, quality: int | None = None) -> None:
    """Write an array to a file (format by suffix) or raw bytes to stdout (``-``).

    Args:
        path_or_dash: File path, or ``-`` for raw little-endian bytes on stdout.
        arr: The array, ZYX for volumes, (rows, cols) for images.
        quality: JPEG quality 1..100 (default 95); ignored by other formats.

    Raises:
        BadRequestError: If the format cannot hold this array (e.g. uint64 as PNG).
    """
    kind, label = _kind(path_or_dash), _label(path_or_dash)
    if kind == "raw":
        little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        data = little.reshape(-1).view(np.uint8).data
        if str(path_or_dash) == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with _opening(label, "write"):
                with open(path_or_dash, "wb") as f:
                    f.write(data)
    elif kind == "npy":
        with _opening(label, "write"):
            with open(path_or_dash, "wb") as f:
                np.save(f, arr, allow_pickle=False)
    elif kind == "tiff":
        if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
            raise BadRequestError(
                f"{label}: TIFF files hold 2D or 3D numeric arrays, not {arr.dtype} {arr.shape}"
            )
        import tifffile

        with _opening(label, "write"):
            tifffile.imwrite(path_or_dash, arr, photometric="minisblack")
    else:
        image = _image_file_bytes(arr, kind, label, quality)
        with _opening(label, "write"):
            Path(path_or_dash).write_bytes(image)


@contextmanager
def _opening(label: str, verb: str) -> Iterator[None]:
    """Turn an OSError on the user's file ``label`` into a one-line BadRequestError."""
    try:
        yield
    except OSError as exc:
        raise BadRequestError(
            f"cannot {verb} {label}: {exc.strerror or exc}",
            hint="name a file in an existing, writable directory" if verb == "write" else None,
        ) from None


def parse_dtype(text: str) -> np.dtype:
    """A numeric dtype from its name (``uint8``, ``<u2``, ...); BadRequestError otherwise."""
    try:
        dt = np.dtype(text)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in "biuf":
        raise BadRequestError(
            f"unknown or non-numeric dtype {text!r}",
            hint="e.g. uint8, uint16, uint64, float32",
        )
    return dt


def _image_file_bytes(arr: np.ndarray, kind: str, label: str, quality: int | None) -> bytes:
    img = arr.reshape(_strip_ones(arr.shape)) if arr.ndim > 2 else arr
    if img.ndim != 2:
        raise BadRequestError(
            f"{label}: {kind.upper()} files hold one 2D image, not shape {arr.shape}",
            hint="use .tif or .npy for 3D volumes",
        )
    if kind == "png" and img.dtype not in (np.uint8, np.uint16):
        raise BadRequestError(
            f"{label}: PNG files hold uint8 or uint16 values, not {img.dtype}",
            hint="use .tif or .npy (uint64 labels cannot be stored in a PNG file)",
        )
    if kind == "jpeg" and img.dtype != np.uint8:
        raise BadRequestError(
            f"{label}: JPEG files hold uint8 values, not {img.dtype}", hint="use .png or .tif"
        )
    return encode_image(img, kind, FILE_JPEG_QUALITY if quality is None else quality)


__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "decode_image",
    "decode_png64",
    "encode_image",
    "encode_png64",
    "parse_image_format",
    "read_array",
    "write_array",
]
