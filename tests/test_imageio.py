"""Tests for dvidctl.imageio: array files by suffix, raw stdin/stdout, PNG/JPEG bodies."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.imageio import (
    decode_image,
    decode_png64,
    encode_image,
    encode_png64,
    parse_image_format,
    read_array,
    write_array,
)

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(1234)


def _random(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return RNG.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return RNG.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64", "int16", "float32"])
@pytest.mark.parametrize("shape", [(5, 7), (3, 5, 7)])
@pytest.mark.parametrize("suffix", [".npy", ".tif", ".tiff", ".raw", ".bin"])
def test_round_trip_volume_formats(
    tmp_path: Path, suffix: str, shape: tuple[int, ...], dtype: str
) -> None:
    arr = _random(shape, dtype)
    path = tmp_path / f"a{suffix}"
    write_array(path, arr)
    raw = suffix in (".raw", ".bin")
    got = read_array(path, dtype=dtype if raw else None, shape_zyx=shape if raw else None)
    assert got.dtype == arr.dtype and got.shape == arr.shape
    assert np.array_equal(got, arr)


def test_npy_is_mapped_not_copied(tmp_path: Path) -> None:
    """A C-order native .npy is read through a read-only mapping: no second copy in memory."""
    arr = _random((4, 5, 6), "uint64")
    np.save(tmp_path / "a.npy", arr)
    got = read_array(tmp_path / "a.npy", dtype="uint64", shape_zyx=(4, 5, 6))
    assert np.array_equal(got, arr) and not got.flags.writeable
    base = got
    while getattr(base, "base", None) is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    # What needs converting is copied (and then is an ordinary array).
    np.save(tmp_path / "f.npy", np.asfortranarray(arr))
    np.save(tmp_path / "be.npy", arr.astype(">u8"))
    np.save(tmp_path / "u1.npy", arr.astype(np.uint8))
    for name, dtype in (("f.npy", None), ("be.npy", None), ("u1.npy", "uint16")):
        got = read_array(tmp_path / name, dtype=dtype)
        assert got.flags.c_contiguous and got.dtype.isnative and got.flags.writeable, name
        assert np.array_equal(got, arr if dtype is None else arr.astype(np.uint8)), name


def test_raw_file_is_little_endian_zyx(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    path = tmp_path / "a.dat"
    write_array(path, arr)
    assert path.read_bytes() == b"".join(struct.pack("<H", v) for v in range(24))
    big = arr.astype(">u2")
    write_array(path, big)
    assert path.read_bytes() == arr.astype("<u2").tobytes()


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("suffix", [".png", ".PNG"])
def test_round_trip_png(tmp_path: Path, suffix: str, dtype: str) -> None:
    arr = _random((9, 13), dtype)
    path = tmp_path / f"a{suffix}"
    write_array(path, arr)
    got = read_array(path, dtype=dtype)
    assert got.dtype == arr.dtype and np.array_equal(got, arr)


def test_png_fits_thin_box(tmp_path: Path) -> None:
    arr = _random((9, 13), "uint8")
    write_array(tmp_path / "a.png", arr[None])  # (1, y, x) is written as 2D
    got = read_array(tmp_path / "a.png", dtype="uint8", shape_zyx=(1, 9, 13))
    assert got.shape == (1, 9, 13) and np.array_equal(got[0], arr)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_round_trip_jpeg(tmp_path: Path, suffix: str) -> None:
    y, x = np.mgrid[0:32, 0:48]
    arr = (2 * x + y).astype(np.uint8)  # smooth, so JPEG error stays small
    path = tmp_path / f"a{suffix}"
    write_array(path, arr)
    got = read_array(path, dtype="uint8")
    assert got.shape == arr.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - arr).max() <= 4


def test_tiff_stack_is_zyx(tmp_path: Path) -> None:
    arr = _random((7, 5, 6), "uint8")
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, arr)  # written by another tool, pages along z
    assert np.array_equal(read_array(path, shape_zyx=(7, 5, 6)), arr)


def test_lossless_upcast_allowed(tmp_path: Path) -> None:
    arr = _random((3, 4, 5), "uint32")
    write_array(tmp_path / "l.tif", arr)
    got = read_array(tmp_path / "l.tif", dtype="uint64")
    assert got.dtype == np.uint64 and np.array_equal(got, arr)


# ---------------------------------------------------------------- stdin / stdout


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_raw_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    arr = _random((2, 3, 4), "uint64")
    monkeypatch.setattr(sys, "stdin", _FakeStdin(arr.astype("<u8").tobytes()))
    assert np.array_equal(read_array("-", dtype="uint64", shape_zyx=(2, 3, 4)), arr)


@pytest.mark.parametrize(
    ("delta", "fragment"),
    [(-1, "stdin has 23 bytes, fewer than the 24 needed"), (1, "more than the 24 bytes needed")],
)
def test_raw_stdin_wrong_size(monkeypatch: pytest.MonkeyPatch, delta: int, fragment: str) -> None:
    monkeypatch.setattr(sys, "stdin", _FakeStdin(bytes(24 + delta)))
    with pytest.raises(BadRequestError, match=fragment) as info:
        read_array("-", dtype="uint8", shape_zyx=(2, 3, 4))
    assert "uint8 of shape (z, y, x) (2, 3, 4)" in str(info.value)
    assert "\n" not in str(info.value)


def test_raw_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    arr = _random((2, 3, 4), "uint16")
    write_array("-", arr)
    assert capsysbinary.readouterr().out == arr.astype("<u2").tobytes()


def test_raw_stdin_stdout_subprocess() -> None:
    arr = _random((3, 4, 5), "uint32")
    script = (
        "import sys; from dvidctl.imageio import read_array, write_array; "
        "a = read_array('-', dtype='uint32', shape_zyx=(3, 4, 5)); write_array('-', a[::-1])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=arr.tobytes(),
        capture_output=True,
        env=env,
        check=True,
    ).stdout
    assert out == np.ascontiguousarray(arr[::-1]).astype("<u4").tobytes()


# ---------------------------------------------------------------- bad input


def test_raw_needs_dtype_and_shape(tmp_path: Path) -> None:
    (tmp_path / "a.raw").write_bytes(bytes(8))
    with pytest.raises(BadRequestError, match="needs a dtype and a shape"):
        read_array(tmp_path / "a.raw")
    with pytest.raises(BadRequestError, match="needs a dtype and a shape"):
        read_array("-", dtype="uint8")


def test_raw_file_wrong_size(tmp_path: Path) -> None:
    (tmp_path / "a.raw").write_bytes(bytes(10))
    with pytest.raises(BadRequestError, match="has 10 bytes, fewer than the 16 needed"):
        read_array(tmp_path / "a.raw", dtype="uint16", shape_zyx=(1, 2, 4))


def test_missing_file(tmp_path: Path) -> None:
    for name in ("nope.npy", "nope.tif", "nope.png", "nope.raw"):
        with pytest.raises(BadRequestError, match="no such file"):
            read_array(tmp_path / name, dtype="uint8", shape_zyx=(1, 1, 1))


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".png", ".jpg"])
def test_garbage_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"g{suffix}"
    path.write_bytes(b"this is not an array file at all")
    with pytest.raises(CorruptDataError) as info:
        read_array(path)
    assert isinstance(info.value, BadRequestError) and "\n" not in str(info.value)


def test_suffix_lies(tmp_path: Path) -> None:
    arr = _random((8, 8), "uint8")
    (tmp_path / "a.png").write_bytes(encode_image(arr, "jpg"))
    with pytest.raises(CorruptDataError, match="is a JPEG file, not PNG"):
        read_array(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(encode_image(arr, "png"))
    with pytest.raises(CorruptDataError, match="is a PNG file, not JPEG"):
        read_array(tmp_path / "b.jpg")
    np.save(tmp_path / "c.npy", arr)
    os.replace(tmp_path / "c.npy", tmp_path / "c.tif")
    with pytest.raises(CorruptDataError):
        read_array(tmp_path / "c.tif")


def test_pickled_npy_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadRequestError):
        read_array(tmp_path / "o.npy")


def test_wrong_dtype_and_shape(tmp_path: Path) -> None:
    write_array(tmp_path / "a.npy", _random((2, 3, 4), "uint16"))
    with pytest.raises(BadRequestError, match="holds uint16 values but uint8 is needed"):
        read_array(tmp_path / "a.npy", dtype="uint8")
    with pytest.raises(
        BadRequestError, match=r"has shape \(2, 3, 4\) but shape \(z, y, x\) \(2, 4, 3\)"
    ):
        read_array(tmp_path / "a.npy", shape_zyx=(2, 4, 3))
    write_array(tmp_path / "s.npy", _random((2, 3), "int32"))
    with pytest.raises(BadRequestError, match="holds int32"):
        read_array(tmp_path / "s.npy", dtype="uint64")


def test_colour_images_refused(tmp_path: Path) -> None:
    Image.new("RGB", (4, 3), (1, 2, 3)).save(tmp_path / "c.png")
    with pytest.raises(BadRequestError, match="RGB PNG image"):
        read_array(tmp_path / "c.png")
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((3, 4, 3), np.uint8), photometric="rgb")
    with pytest.raises(BadRequestError, match="colour TIFF"):
        read_array(tmp_path / "c.tif")


@pytest.mark.parametrize(
    ("name", "arr", "fragment"),
    [
        ("l.png", np.zeros((4, 4), np.uint64), "uint64 labels cannot be stored in a PNG"),
        ("f.png", np.zeros((4, 4), np.float32), "PNG files hold uint8 or uint16"),
        ("v.png", np.zeros((2, 4, 4), np.uint8), "one 2D image"),
        ("w.jpg", np.zeros((4, 4), np.uint16), "JPEG files hold uint8"),
        ("v.jpg", np.zeros((2, 4, 4), np.uint8), "one 2D image"),
        ("x.tif", np.zeros((2, 2, 2, 2), np.uint8), "2D or 3D"),
    ],
)
def test_unwritable(tmp_path: Path, name: str, arr: np.ndarray, fragment: str) -> None:
    with pytest.raises(BadRequestError) as info:
        write_array(tmp_path / name, arr)
    assert fragment in f"{info.value} {info.value.hint}"
    assert not (tmp_path / name).exists()


# ---------------------------------------------------------------- HTTP bodies


def test_parse_image_format() -> None:
    assert parse_image_format("") == ("png", None)
    assert parse_image_format("PNG") == ("png", None)
    assert parse_image_format("jpg") == ("jpeg", 80)
    assert parse_image_format("jpeg:90") == ("jpeg", 90)
    for bad in ("gif", "jpg:0", "jpg:101", "jpg:x", "png:5"):
        with pytest.raises(BadRequestError):
            parse_image_format(bad)


def test_encode_decode_gray() -> None:
    for dtype in ("uint8", "uint16"):
        arr = _random((6, 11), dtype)
        body = encode_image(arr, "png")
        assert body.startswith(b"\x89PNG")
        assert np.array_equal(decode_image(body), arr) and decode_image(body).dtype == arr.dtype


def test_jpeg_quality_matters() -> None:
    arr = _random((64, 64), "uint8")
    low, high = encode_image(arr, "jpg:10"), encode_image(arr, "jpg:95")
    assert low.startswith(b"\xff\xd8") and len(low) < len(high)
    assert encode_image(arr, "jpg:10", quality=95) == high
    assert decode_image(high).shape == (64, 64)
    with pytest.raises(BadRequestError, match="uint8"):
        encode_image(arr.astype(np.uint16), "jpg")
    with pytest.raises(BadRequestError, match="2D"):
        encode_image(arr[None], "png")


@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**64 - 1))
def test_label_png_round_trip(h: int, w: int, seed: int) -> None:
    labels = np.random.default_rng(seed % 2**32).integers(0, 2**64, size=(h, w), dtype=np.uint64)
    labels[0, 0] = seed
    assert np.array_equal(decode_image(encode_image(labels, "png")), labels)


def test_label_png_is_dvid_layout() -> None:
    labels = np.array([[1, 2**40 + 3]], np.uint64)
    body = encode_png64(labels)
    w, h, depth, ctype = struct.unpack(">IIBB", body[16:26])
    assert (w, h, depth, ctype) == (2, 1, 16, 6)
    with Image.open(io.BytesIO(body)) as img:  # readable by ordinary PNG readers
        assert img.size == (2, 1)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered_png(pix: np.ndarray, ctype: int, filters: list[int]) -> bytes:
    """Slow reference PNG writer that applies the given filter to each row."""
    h, w, bpp = pix.shape
    out = bytearray()
    prev = [0] * (w * bpp)
    for r in range(h):
        row = pix[r].reshape(-1).tolist()
        ft = filters[r]
        out.append(ft)
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][ft]
            out.append((x - pred) & 0xFF)
        prev = row

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 7), st.integers(1, 7), st.booleans(), st.data())
def test_label_png_all_filters(h: int, w: int, alpha: bool, data: st.DataObject) -> None:
    labels = np.random.default_rng(h * 10 + w).integers(0, 2**64, size=(h, w), dtype=np.uint64)
    if not alpha:
        labels |= np.uint64(0xFFFF) << np.uint64(48)  # RGB PNGs imply alpha 0xFFFF
    pix = labels.astype("<u8").view(np.uint8).reshape(h, w, 8)
    filters = data.draw(st.lists(st.integers(0, 4), min_size=h, max_size=h))
    body = _filtered_png(pix if alpha else pix[:, :, :6], 6 if alpha else 2, filters)
    assert np.array_equal(decode_png64(body), labels)
    assert np.array_equal(decode_image(body), labels)


def test_label_png_corrupt() -> None:
    body = encode_png64(np.ones((3, 3), np.uint64))
    with pytest.raises(CorruptDataError):
        decode_image(body[:40])
    with pytest.raises(CorruptDataError):
        decode_image(b"not an image")
    with pytest.raises(CorruptDataError, match="not a non-interlaced 16-bit"):
        decode_png64(encode_image(np.zeros((2, 2), np.uint8)))
