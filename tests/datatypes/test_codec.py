"""Block codecs (dvidctl/datatypes/codec.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dvidctl.datatypes.imageblk.codec import (
    JPEG,
    LABELBLOCK_ZSTD,
    RAW,
    ZSTD,
    ZSTD_TILED,
    JpegCodec,
    LabelBlockZstdCodec,
    RawCodec,
    ZstdCodec,
    codec_for_config,
    codec_from_dict,
    decode_into,
    decode_region,
    payload_codec,
)
from dvidctl.errors import BadRequestError, CorruptDataError


def _sample(testdata: Path) -> np.ndarray:
    raw = gzip.decompress((testdata / "fib19-64x64x64-sample1.dat.gz").read_bytes())
    return np.frombuffer(raw, "<u8").reshape(64, 64, 64)


@pytest.mark.parametrize(
    "codec", [RawCodec(), ZstdCodec(), ZstdCodec(19, tile=0), LabelBlockZstdCodec(1)]
)
def test_lossless_round_trip_real_labels(codec, testdata_dir: Path) -> None:  # type: ignore[no-untyped-def]
    vol = _sample(testdata_dir)
    payload = codec.encode(vol)
    assert payload_codec(payload) == (ZSTD_TILED if codec == ZstdCodec() else codec.codec_id)
    out = np.full((64, 64, 64), 5, np.uint64)
    assert decode_into(payload, out) is out
    assert np.array_equal(out, vol)


@pytest.mark.parametrize("shape,tile", [((64, 64, 64), 32), ((48, 40, 30), 32), ((20, 70, 9), 16)])
def test_tiled_zstd_regions_match_numpy(shape: tuple[int, int, int], tile: int) -> None:
    rng = np.random.default_rng(sum(shape))
    block = rng.integers(0, 2**40, shape, dtype=np.uint64)
    payload = ZstdCodec(tile=tile).encode(block)
    assert payload[0] == ZSTD_TILED
    full = np.empty(shape, np.uint64)
    assert np.array_equal(decode_into(payload, full), block)
    for _ in range(20):
        lo = [int(rng.integers(0, n)) for n in shape]
        hi = [int(rng.integers(a + 1, n + 1)) for a, n in zip(lo, shape, strict=True)]
        region = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        big = np.zeros((70, 80, 90), np.uint64)
        dst = big[3 : 3 + hi[0] - lo[0], 5 : 5 + hi[1] - lo[1], 7 : 7 + hi[2] - lo[2]]
        decode_region(payload, shape, region, dst)  # type: ignore[arg-type]
        assert np.array_equal(dst, block[region])
    small = np.ones((16, 16, 16), np.uint8)
    assert ZstdCodec(tile=32).encode(small)[0] == ZSTD  # one tile: a plain frame


def test_tiled_zstd_corruption() -> None:
    block = np.arange(64**3, dtype=np.uint16).reshape(64, 64, 64)
    good = ZstdCodec(tile=32).encode(block)
    out = np.empty_like(block)
    for bad in (
        good[:5],
        good[:-1],
        good[:7] + b"\xff" + good[8:],
        bytes([ZSTD_TILED, 0, 0]) + good[3:],
    ):
        with pytest.raises(CorruptDataError):
            decode_into(bad, out)
    with pytest.raises(CorruptDataError):
        decode_into(good, np.empty((64, 32, 64), np.uint16))


def test_zstd_reuses_buffer_for_many_blocks() -> None:
    rng = np.random.default_rng(0)
    out = np.empty((16, 16, 16), np.uint16)
    for _ in range(5):
        b = rng.integers(0, 9, (16, 16, 16), dtype=np.uint16)
        decode_into(ZstdCodec().encode(b), out)
        assert np.array_equal(out, b)


def test_zstd_encodes_non_contiguous_views() -> None:
    big = np.arange(32**3, dtype=np.uint8).reshape(32, 32, 32)
    view = big[::2, 1::2, 3:19]
    out = np.empty(view.shape, np.uint8)
    decode_into(ZstdCodec().encode(view), out)
    assert np.array_equal(out, view)


def test_jpeg_is_close_and_dvid_shaped() -> None:
    z, y, x = np.mgrid[0:8, 0:16, 0:32]
    block = (x * 4 + y * 2 + z).astype(np.uint8)
    payload = JpegCodec(95).encode(block)
    assert payload[0] == JPEG and payload[1:3] == b"\xff\xd8"
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(payload[1:])).size == (32, 16 * 8)
    out = np.empty_like(block)
    decode_into(payload, out)
    assert np.abs(out.astype(int) - block).max() <= 6


def test_dict_round_trip_and_validation() -> None:
    for c in (
        RawCodec(),
        ZstdCodec(7),
        ZstdCodec(2, tile=0),
        JpegCodec(60),
        LabelBlockZstdCodec(2),
    ):
        assert codec_from_dict(c.to_dict()) == c
    with pytest.raises(BadRequestError, match="1..22"):
        ZstdCodec(0)
    with pytest.raises(BadRequestError, match="0..1024"):
        ZstdCodec(tile=-1)
    with pytest.raises(BadRequestError, match="1..100"):
        JpegCodec(101)
    with pytest.raises(BadRequestError, match="unknown block codec"):
        codec_from_dict({"name": "brotli"})
    with pytest.raises(BadRequestError, match="bad parameters"):
        codec_from_dict({"name": "zstd", "speed": 3})


def test_wrong_dtype_for_typed_codecs() -> None:
    with pytest.raises(BadRequestError):
        JpegCodec().encode(np.zeros((8, 8, 8), np.uint16))
    with pytest.raises(BadRequestError):
        LabelBlockZstdCodec().encode(np.zeros((8, 8, 8), np.uint8))


def test_corrupt_payloads() -> None:
    out = np.empty((8, 8, 8), np.uint8)
    good = ZstdCodec().encode(np.ones((8, 8, 8), np.uint8))
    with pytest.raises(CorruptDataError, match="unknown codec"):
        decode_into(b"\x09abc", out)
    with pytest.raises(CorruptDataError, match="empty"):
        decode_into(b"", out)
    with pytest.raises(CorruptDataError):
        decode_into(good[:-3], out)
    with pytest.raises(CorruptDataError, match="not a zstd frame"):
        decode_into(bytes([ZSTD]) + b"garbage!", out)
    with pytest.raises(CorruptDataError, match="needs"):
        decode_into(good, np.empty((4, 8, 8), np.uint8))
    with pytest.raises(CorruptDataError):
        decode_into(bytes([RAW]) + b"\x00" * 10, out)
    with pytest.raises(CorruptDataError):
        decode_into(bytes([LABELBLOCK_ZSTD]) + good[1:], np.empty((8, 8, 8), np.uint64))
    with pytest.raises(CorruptDataError):
        decode_into(bytes([JPEG]) + b"not a jpeg", out)


def test_codec_for_config() -> None:
    u8, u64 = np.dtype(np.uint8), np.dtype(np.uint64)
    assert codec_for_config("none", u8, 32) == RawCodec()
    assert codec_for_config("lz4", u8, 32) == ZstdCodec(3)
    assert codec_for_config("gzip:9", u64, 64) == ZstdCodec(3)
    assert codec_for_config("zstd:5", u64, 64) == ZstdCodec(5)
    assert codec_for_config("jpeg", u8, 32) == JpegCodec(80)
    assert codec_for_config("jpeg:90", u8, 32) == JpegCodec(90)
    assert codec_for_config("labelblock", u64, 64) == LabelBlockZstdCodec(3)
    with pytest.raises(BadRequestError):
        codec_for_config("jpeg", u64, 64)
    with pytest.raises(BadRequestError):
        codec_for_config("labelblock", u8, 64)
    with pytest.raises(BadRequestError):
        codec_for_config("zstd:fast", u8, 64)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64])
def test_copy_rows_matches_numpy_assignment(dtype: type) -> None:
    from dvidctl.datatypes.imageblk.scratch import copy_rows as _copy_rows

    rng = np.random.default_rng(5)
    src_block = rng.integers(0, 200, (8, 9, 10)).astype(dtype)
    cases = [
        (np.s_[1:5, 2:9, 3:10], np.s_[0:4, 0:7, 0:7]),  # rows contiguous in both
        (np.s_[1:5, 2:9, 3:10:2], np.s_[0:4, 0:7, 0:4]),  # a strided source row: fallback
        (np.s_[0:0, :, :], np.s_[0:0, 0:9, 0:10]),  # empty
    ]
    for src_sl, dst_sl in cases:
        out = np.zeros((6, 12, 14), dtype)
        want = out.copy()
        src = src_block[src_sl]
        want[dst_sl] = src
        _copy_rows(out[dst_sl], src)
        assert np.array_equal(out, want)
