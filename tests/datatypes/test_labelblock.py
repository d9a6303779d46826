"""Tests for dvidctl.datatypes.imageblk.labelblock (DVID compressed label Blocks)."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvidctl.datatypes.imageblk.labelblock import (
    LabelBlockError,
    decode_label_block,
    encode_label_block,
    gunzip_label_block,
    label_block_labels,
    label_block_shape,
)
from dvidctl.datatypes.imageblk.wire import gzip_label_block
from tests.testdata import find_testdata

MAX_U64 = np.uint64(2**64 - 1)
SAMPLES = {  # file -> sha256 of the decompressed volume (testdata README)
    "fib19-64x64x64-sample1.dat.gz": (
        "112f124dbf2c5256389d1481e41e6d436e201c0a7fcff0ea3e0880f809373304"
    ),
    "fib19-64x64x64-sample2.dat.gz": (
        "26d17789e8cc53bb0015ccc8551a919d0d04137e50ac22af886d615e714fe117"
    ),
    "cx-64x64x64-sample1.dat.gz": (
        "f04efb84708f80141d7abd307d2b08a6a8a64613b99f1249e3c078d95841651a"
    ),
    "cx-64x64x64-sample2.dat.gz": (
        "cdb7170f5a993cfe25d33fbdc1dcf3853cd9dfba178411b232ee4abfb8b2e75a"
    ),
}
BLOCK_SHA = "34b960406c837c9beff901506eedd0e7e447f69306843308ea8ad96773022e6e"
STREAM_BLOCK_SHA = "5b1aee216d5ef65ad7d4e4fe47ea6ff565b422cd12e308716af346352d82a7c2"
STREAM_VOLUME_SHA = "7846ee6c650b1d2f9491c74de0fa8e037fbd4e984d55f8d21eef2271b43c9841"


def dvid_testdata() -> Path:
    """The DVID test data directory (see tests/testdata.py)."""
    return find_testdata()


def load_sample(name: str) -> np.ndarray:
    raw = gzip.decompress((dvid_testdata() / name).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == SAMPLES[name]
    return np.frombuffer(raw, "<u8").reshape(64, 64, 64)


# ---------------------------------------------------------------------------------------------
# Slow, obviously-correct reference decoder written from DVID_API.md 6.3 / compressed.go
# (per-voxel MSB-first reads like Go's getPackedValue). Used to check that our encoder's bytes
# are readable by a DVID-style reader, independently of decode_label_block.


def reference_decode(buf: bytes) -> np.ndarray:
    gx, gy, gz, n = struct.unpack_from("<4I", buf, 0)
    labels = struct.unpack_from(f"<{n}Q", buf, 16)
    vol = np.zeros((gz * 8, gy * 8, gx * 8), np.uint64)
    if n == 1:
        vol[...] = labels[0]
        return vol
    pos = 16 + 8 * n
    nsb = gx * gy * gz
    ns = struct.unpack_from(f"<{nsb}H", buf, pos)
    pos += 2 * nsb
    indices = struct.unpack_from(f"<{sum(ns)}I", buf, pos)
    values = buf[pos + 4 * sum(ns) :]
    bitpos = 0
    ipos = 0
    sb = 0
    for sz in range(gz):
        for sy in range(gy):
            for sx in range(gx):
                count = ns[sb]
                bits = 0 if count < 2 else (count - 1).bit_length()
                sb_labels = [labels[indices[ipos + i]] for i in range(count)]
                ipos += count
                for z in range(8):
                    for y in range(8):
                        for x in range(8):
                            if count == 0:
                                lab = 0
                            elif count == 1:
                                lab = sb_labels[0]
                            else:
                                v = 0
                                for _ in range(bits):
                                    bit = (values[bitpos >> 3] >> (7 - (bitpos & 7))) & 1
                                    v = (v << 1) | bit
                                    bitpos += 1
                                lab = sb_labels[v]
                            vol[sz * 8 + z, sy * 8 + y, sx * 8 + x] = lab
                if bitpos % 8:
                    bitpos += 8 - bitpos % 8
                sb += 1
    return vol


def expected_size(vol: np.ndarray) -> int:
    """Size of a minimal encoding: one table entry per distinct label, minimal bits."""
    nz, ny, nx = vol.shape
    labels = np.unique(vol)
    if labels.size == 1:
        return 24
    rows = (
        vol.reshape(nz // 8, 8, ny // 8, 8, nx // 8, 8).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 512)
    )
    ns = [np.unique(r).size for r in rows]
    bits = [0 if c < 2 else (c - 1).bit_length() for c in ns]
    return 16 + 8 * labels.size + 2 * len(ns) + 4 * sum(ns) + sum(64 * b for b in bits)


def header_ns(buf: bytes) -> list[int]:
    gx, gy, gz, n = struct.unpack_from("<4I", buf, 0)
    return list(struct.unpack_from(f"<{gx * gy * gz}H", buf, 16 + 8 * n))


def roundtrip(vol: np.ndarray) -> bytes:
    enc = encode_label_block(vol)
    np.testing.assert_array_equal(decode_label_block(enc), vol)
    assert len(enc) == expected_size(vol)
    np.testing.assert_array_equal(label_block_labels(enc), np.unique(vol))
    assert label_block_shape(enc) == vol.shape
    return enc


# ----------------------------------------------------------------------------- golden data


def test_golden_block_decodes_to_sample1() -> None:
    blk = gzip.decompress((dvid_testdata() / "fib19-64x64x64-sample1-block.dat.gz").read_bytes())
    assert len(blk) == 22512
    assert hashlib.sha256(blk).hexdigest() == BLOCK_SHA
    expected = load_sample("fib19-64x64x64-sample1.dat.gz")
    vol = decode_label_block(blk)
    assert vol.dtype == np.uint64 and vol.shape == (64, 64, 64)
    np.testing.assert_array_equal(vol, expected)
    np.testing.assert_array_equal(label_block_labels(blk), np.unique(expected))
    assert label_block_labels(blk).size == 18


def test_reference_decoder_agrees_on_golden_block() -> None:
    blk = gzip.decompress((dvid_testdata() / "fib19-64x64x64-sample1-block.dat.gz").read_bytes())
    np.testing.assert_array_equal(
        reference_decode(blk), load_sample("fib19-64x64x64-sample1.dat.gz")
    )


def test_stream_1block_payload() -> None:
    data = (dvid_testdata() / "stream_1block.dat").read_bytes()
    bx, by, bz, n = struct.unpack_from("<4i", data, 0)
    assert (bx, by, bz, n) == (0, 0, 0, 114168) and len(data) == 16 + n
    payload = data[16:]
    assert hashlib.sha256(gzip.decompress(payload)).hexdigest() == STREAM_BLOCK_SHA
    vol = gunzip_label_block(payload)
    assert hashlib.sha256(vol.astype("<u8").tobytes()).hexdigest() == STREAM_VOLUME_SHA
    np.testing.assert_array_equal(label_block_labels(gzip.decompress(payload)), np.arange(10))
    assert int((vol == 0).sum()) == 26084
    enc = roundtrip(vol)
    assert set(header_ns(enc)) == {10}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_roundtrip(name: str) -> None:
    vol = load_sample(name)
    enc = roundtrip(vol)
    np.testing.assert_array_equal(gunzip_label_block(gzip_label_block(vol)), vol)
    if name.startswith("fib19-64x64x64-sample1"):
        # DVID's own encoding of this volume; ours must be no larger.
        blk = gzip.decompress(
            (dvid_testdata() / "fib19-64x64x64-sample1-block.dat.gz").read_bytes()
        )
        assert len(enc) <= len(blk)


def test_decode_into_reused_dirty_buffer() -> None:
    out = np.full((64, 64, 64), 12345, np.uint64)
    for name in sorted(SAMPLES):
        vol = load_sample(name)
        res = decode_label_block(encode_label_block(vol), out=out)
        assert res is out
        np.testing.assert_array_equal(out, vol)


# ----------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("label", [0, 1, 449, 2**63, 2**64 - 1])
@pytest.mark.parametrize("shape", [(8, 8, 8), (64, 64, 64), (16, 8, 32)])
def test_solid_block(label: int, shape: tuple[int, int, int]) -> None:
    vol = np.full(shape, label, np.uint64)
    enc = roundtrip(vol)
    assert enc == struct.pack("<4IQ", shape[2] // 8, shape[1] // 8, shape[0] // 8, 1, label)


def test_sub_blocks_all_solid_but_different() -> None:
    vol = np.zeros((16, 16, 16), np.uint64)
    vol[8:] = 7
    vol[:8, 8:, 8:] = MAX_U64
    enc = roundtrip(vol)
    assert header_ns(enc) == [1] * 8
    np.testing.assert_array_equal(reference_decode(enc), vol)


def test_block_with_zero_labels() -> None:
    rng = np.random.default_rng(1)
    vol = rng.choice(np.array([0, 5, 2**40], np.uint64), size=(16, 24, 8))
    vol[:8] = 0
    enc = roundtrip(vol)
    np.testing.assert_array_equal(reference_decode(enc), vol)
    assert label_block_labels(enc)[0] == 0


@pytest.mark.parametrize(
    "n", [1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 511, 512]
)
def test_bit_width_edges(n: int) -> None:
    """A sub-block with n labels uses bit_length(n-1) bits; neighbours stay solid."""
    rng = np.random.default_rng(n)
    vol = np.full((8, 16, 16), 3, np.uint64)
    labels = rng.permutation(np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    sub = np.resize(labels, 512)
    rng.shuffle(sub)
    vol[:, 8:, :8] = sub.reshape(8, 8, 8)
    enc = roundtrip(vol)
    assert header_ns(enc)[2] == n
    bits = 0 if n < 2 else (n - 1).bit_length()
    assert expected_size(vol) == len(enc)
    assert bits <= 9
    np.testing.assert_array_equal(reference_decode(enc), vol)


def test_worst_case_512_labels_every_sub_block() -> None:
    vol = np.arange(64**3, dtype=np.uint64).reshape(64, 64, 64) * np.uint64(2**40 + 1)
    enc = roundtrip(vol)
    assert set(header_ns(enc)) == {512}
    assert len(enc) == 16 + 8 * 64**3 + 2 * 512 + 4 * 64**3 + 512 * 64 * 9


def test_high_labels_use_argsort_path() -> None:
    rng = np.random.default_rng(7)
    vol = rng.integers(2**63, 2**64 - 1, size=(16, 16, 16), dtype=np.uint64, endpoint=True)
    vol[:8, :8, :8] = rng.choice(vol[8:].ravel()[:40], size=(8, 8, 8))
    roundtrip(vol)


@st.composite
def label_volumes(draw: st.DrawFn) -> np.ndarray:
    shape = tuple(8 * draw(st.integers(1, 4)) for _ in range(3))
    pool = draw(
        st.lists(
            st.one_of(st.integers(0, 20), st.integers(0, 2**64 - 1), st.just(2**64 - 1)),
            min_size=1,
            max_size=40,
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    coarse = draw(st.sampled_from([1, 2, 4, 8]))
    rng = np.random.default_rng(seed)
    small = tuple(max(1, s // coarse) for s in shape)
    grid = rng.choice(np.array(pool, dtype=np.uint64), size=small)
    vol = grid.repeat(coarse, 0).repeat(coarse, 1).repeat(coarse, 2)
    return np.ascontiguousarray(vol[: shape[0], : shape[1], : shape[2]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(label_volumes())
def test_hypothesis_roundtrip(vol: np.ndarray) -> None:
    enc = roundtrip(vol)
    out = np.full(vol.shape, 99, np.uint64)
    np.testing.assert_array_equal(decode_label_block(enc, out=out), vol)


@settings(max_examples=20, deadline=None)
@given(label_volumes())
def test_hypothesis_reference_decoder_reads_our_encoding(vol: np.ndarray) -> None:
    if vol.size > 8 * 16 * 16:
        vol = np.ascontiguousarray(vol[:8, :16, :16])
    np.testing.assert_array_equal(reference_decode(encode_label_block(vol)), vol)


def test_non_cubic_and_dtypes() -> None:
    rng = np.random.default_rng(3)
    vol = rng.integers(0, 6, size=(16, 8, 32)).astype(np.int32)
    enc = encode_label_block(vol)
    np.testing.assert_array_equal(decode_label_block(enc), vol.astype(np.uint64))
    assert decode_label_block(memoryview(enc)).shape == (16, 8, 32)
    assert decode_label_block(bytearray(enc)).shape == (16, 8, 32)
    big_endian = vol.astype(">u8")
    np.testing.assert_array_equal(decode_label_block(encode_label_block(big_endian)), vol)
    fortran = np.asfortranarray(vol.astype(np.uint64))
    np.testing.assert_array_equal(decode_label_block(encode_label_block(fortran)), vol)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8), np.uint64),
        np.zeros((8, 8, 12), np.uint64),
        np.zeros((8, 8, 0), np.uint64),
        np.zeros((8, 8, 1032), np.uint64),
        np.zeros((8, 8, 8), np.float64),
        np.full((8, 8, 8), -1, np.int64),
    ],
)
def test_encode_rejects_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_label_block(bad)


# ----------------------------------------------------------------------- Ns == 0, hand-made


def hand_block(ns: list[int], labels: list[int], indices: list[int], values: bytes) -> bytes:
    head = struct.pack("<4I", 2, 1, 1, len(labels)) + struct.pack(f"<{len(labels)}Q", *labels)
    return (
        head
        + struct.pack(f"<{len(ns)}H", *ns)
        + struct.pack(f"<{len(indices)}I", *indices)
        + values
    )


def test_ns_zero_sub_block_decodes_to_zero() -> None:
    blk = hand_block([0, 1], [0, 77], [1], b"")
    out = np.full((8, 8, 16), 5, np.uint64)
    vol = decode_label_block(blk, out=out)
    assert (vol[:, :, :8] == 0).all() and (vol[:, :, 8:] == 77).all()
    np.testing.assert_array_equal(label_block_labels(blk), [0, 77])
    np.testing.assert_array_equal(reference_decode(blk), vol)


def test_unsorted_table_and_unused_entries() -> None:
    # 3 labels in sub-block 0 (2 bits, values 0,1,2 repeating); the table is in arbitrary order
    # and has an unused entry (0).
    vals = np.resize(np.array([0, 1, 2], np.uint8), 512)
    packed = np.packbits(np.unpackbits(vals[:, None], axis=1)[:, 6:].ravel()).tobytes()
    blk = hand_block([3, 1], [900, 0, 5, 31], [3, 0, 2, 2], packed)
    vol = decode_label_block(blk)
    np.testing.assert_array_equal(vol, reference_decode(blk))
    np.testing.assert_array_equal(label_block_labels(blk), [5, 31, 900])
    assert (vol[:, :, 8:] == 5).all()
    assert vol[0, 0, 0] == 31 and vol[0, 0, 1] == 900 and vol[0, 0, 2] == 5


def test_trailing_bytes_ignored_like_dvid() -> None:
    vol = load_sample("cx-64x64x64-sample2.dat.gz")
    np.testing.assert_array_equal(decode_label_block(encode_label_block(vol) + b"\0" * 7), vol)


# ----------------------------------------------------------------------------- malformed input


@pytest.fixture(scope="module")
def small_encoding() -> bytes:
    rng = np.random.default_rng(11)
    vol = rng.integers(0, 5, size=(8, 8, 16), dtype=np.uint64)
    vol[:, :, 8:] = 3
    return encode_label_block(vol)


def test_every_truncation_raises(small_encoding: bytes) -> None:
    for cut in range(len(small_encoding)):
        with pytest.raises(LabelBlockError):
            decode_label_block(small_encoding[:cut])
        with pytest.raises(LabelBlockError):
            label_block_labels(small_encoding[:cut])


def test_solid_truncation_and_zero_labels() -> None:
    with pytest.raises(LabelBlockError, match="at least 24"):
        decode_label_block(struct.pack("<4I", 1, 1, 1, 1) + b"\0" * 7)
    with pytest.raises(LabelBlockError, match="0 labels"):
        decode_label_block(struct.pack("<4IQ", 1, 1, 1, 0, 5))
    with pytest.raises(LabelBlockError, match="truncated"):
        decode_label_block(struct.pack("<4IQ", 1, 1, 1, 2, 5))


@pytest.mark.parametrize("grid", [(0, 1, 1), (1, 129, 1), (1, 1, 2**31)])
def test_bad_grid(grid: tuple[int, int, int]) -> None:
    with pytest.raises(LabelBlockError, match="out of range"):
        decode_label_block(struct.pack("<4IQ", *grid, 1, 5))


def test_index_out_of_range(small_encoding: bytes) -> None:
    n = struct.unpack_from("<I", small_encoding, 12)[0]
    ns = header_ns(small_encoding)
    pos = 16 + 8 * n + 2 * len(ns)
    for value in (n, n + 1, 2**32 - 1):
        bad = small_encoding[:pos] + struct.pack("<I", value) + small_encoding[pos + 4 :]
        with pytest.raises(LabelBlockError, match="out of range"):
            decode_label_block(bad)
        with pytest.raises(LabelBlockError, match="out of range"):
            label_block_labels(bad)


def test_packed_value_out_of_range() -> None:
    # Ns = 3 needs 2 bits; the value 3 has no index.
    blk = hand_block([3, 1], [1, 2, 3], [0, 1, 2, 0], b"\xff" * 128)
    with pytest.raises(LabelBlockError, match="packed value"):
        decode_label_block(blk)


def test_too_many_sub_block_labels() -> None:
    blk = hand_block([513, 1], [1, 2], [0] * 514, b"\0" * 64 * 10)
    with pytest.raises(LabelBlockError, match="513"):
        decode_label_block(blk)


def test_not_bytes_like() -> None:
    with pytest.raises(LabelBlockError):
        decode_label_block("not bytes")  # type: ignore[arg-type]


def test_out_validation() -> None:
    enc = encode_label_block(np.zeros((8, 8, 16), np.uint64) + np.arange(16, dtype=np.uint64))
    with pytest.raises(LabelBlockError, match="shape"):
        decode_label_block(enc, out=np.empty((8, 16, 8), np.uint64))
    with pytest.raises(ValueError):
        decode_label_block(enc, out=np.empty((8, 8, 16), np.int64))
    with pytest.raises(ValueError):
        decode_label_block(enc, out=np.empty((8, 8, 32), np.uint64)[:, :, ::2])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_blocks_never_crash(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    vol = rng.integers(0, data.draw(st.integers(1, 40)), size=(8, 16, 8), dtype=np.uint64)
    buf = bytearray(encode_label_block(vol))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf)))]
    try:
        out = decode_label_block(bytes(buf))
    except LabelBlockError:
        return
    assert out.dtype == np.uint64 and out.ndim == 3
    # Whatever decoded must be what a DVID-style reader sees, when it is small enough to check.
    if out.size <= 4096:
        np.testing.assert_array_equal(out, reference_decode(bytes(buf)))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(buf: bytes) -> None:
    try:
        decode_label_block(buf)
        label_block_labels(buf)
    except LabelBlockError:
        pass


# ----------------------------------------------------------------------------- gzip


def test_gzip_helpers() -> None:
    vol = load_sample("fib19-64x64x64-sample2.dat.gz")
    payload = gzip_label_block(vol)
    assert gzip.decompress(payload) == encode_label_block(vol)
    out = np.empty((64, 64, 64), np.uint64)
    assert gunzip_label_block(memoryview(payload), out=out) is out
    np.testing.assert_array_equal(out, vol)
    # Multi-member gzip is one stream of concatenated data.
    enc = encode_label_block(vol)
    two = gzip.compress(enc[:100]) + gzip.compress(enc[100:])
    np.testing.assert_array_equal(gunzip_label_block(two), vol)


@pytest.mark.parametrize("payload", [b"", b"not gzip at all", zlib.compress(b"x" * 30)])
def test_gunzip_rejects_garbage(payload: bytes) -> None:
    with pytest.raises(LabelBlockError):
        gunzip_label_block(payload)


def test_gunzip_rejects_truncated() -> None:
    payload = gzip_label_block(load_sample("cx-64x64x64-sample1.dat.gz"))
    with pytest.raises(LabelBlockError):
        gunzip_label_block(payload[: len(payload) // 2])
