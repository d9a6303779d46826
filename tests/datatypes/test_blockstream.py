"""Tests for dvidctl.datatypes.imageblk.blockstream (DVID block streams, DVID_API.md 5.3)."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl.datatypes.imageblk.blockstream import (
    BlockStreamError,
    block_stream_bytes,
    encode_block_header,
    encode_block_stream,
    iter_block_stream,
)
from dvidctl.datatypes.imageblk.labelblock import gunzip_label_block
from tests.testdata import find_testdata

STREAM_VOLUME_SHA = "7846ee6c650b1d2f9491c74de0fa8e037fbd4e984d55f8d21eef2271b43c9841"
INT32 = st.integers(-(2**31), 2**31 - 1)


def dvid_testdata() -> Path:
    """The DVID test data directory (see tests/testdata.py)."""
    return find_testdata()


def test_stream_1block() -> None:
    data = (dvid_testdata() / "stream_1block.dat").read_bytes()
    blocks = list(iter_block_stream(data))
    assert len(blocks) == 1
    coord, payload = blocks[0]
    assert coord == (0, 0, 0)
    assert isinstance(payload, memoryview) and len(payload) == 114168
    vol = gunzip_label_block(payload)
    assert vol.shape == (64, 64, 64)
    assert hashlib.sha256(vol.astype("<u8").tobytes()).hexdigest() == STREAM_VOLUME_SHA
    np.testing.assert_array_equal(np.unique(vol), np.arange(10))
    # Re-encoding the record reproduces the file byte for byte.
    assert block_stream_bytes([(coord, payload)]) == data


def test_golden_block_as_posted_by_dvid_tests() -> None:
    """DVID's tests post the block file with a 16-byte header (0,0,0,len)."""
    payload = (dvid_testdata() / "fib19-64x64x64-sample1-block.dat.gz").read_bytes()
    body = struct.pack("<4i", 0, 0, 0, len(payload)) + payload
    [(coord, got)] = list(iter_block_stream(body))
    assert coord == (0, 0, 0) and bytes(got) == payload
    assert gunzip_label_block(got).shape == (64, 64, 64)
    assert gzip.decompress(bytes(got))[:16] == struct.pack("<4I", 8, 8, 8, 18)


def test_roundtrip_and_pieces() -> None:
    items = [((1, -2, 3), b"abc"), ((-(2**31), 2**31 - 1, 0), b""), ((5, 5, 5), bytes(range(256)))]
    pieces = list(encode_block_stream(items))
    assert pieces[0] == struct.pack("<4i", 1, -2, 3, 3)
    assert pieces[1] is items[0][1]  # payloads pass through uncopied
    assert len(pieces) == 5  # the empty payload yields only its header
    body = block_stream_bytes(items)
    assert body == b"".join(pieces)
    got = [(c, bytes(p)) for c, p in iter_block_stream(body)]
    assert got == items


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_input_types(kind: type) -> None:
    body = block_stream_bytes([((0, 1, 2), b"xyz")])
    [(coord, payload)] = list(iter_block_stream(kind(body)))
    assert coord == (0, 1, 2) and bytes(payload) == b"xyz"


def test_numpy_and_multibyte_memoryview() -> None:
    body = block_stream_bytes([((7, 8, 9), b"12345678")])
    arr = np.frombuffer(body, np.uint32)
    [(coord, payload)] = list(iter_block_stream(memoryview(arr)))
    assert coord == (7, 8, 9) and bytes(payload) == b"12345678"


def test_empty_stream() -> None:
    assert list(iter_block_stream(b"")) == []
    assert block_stream_bytes([]) == b""


@pytest.mark.parametrize("extra", range(1, 16))
def test_truncated_header(extra: int) -> None:
    body = block_stream_bytes([((0, 0, 0), b"ok")]) + b"\x01" * extra
    it = iter_block_stream(body)
    assert next(it)[0] == (0, 0, 0)  # records before the damage are still delivered
    with pytest.raises(BlockStreamError, match="truncated header"):
        next(it)


def test_truncated_payload_and_negative_length() -> None:
    with pytest.raises(BlockStreamError, match="truncated payload"):
        list(iter_block_stream(struct.pack("<4i", 1, 2, 3, 10) + b"short"))
    with pytest.raises(BlockStreamError, match="negative"):
        list(iter_block_stream(struct.pack("<4i", 1, 2, 3, -1)))


def test_every_prefix_parses_or_raises() -> None:
    items = [((1, 2, 3), b"a" * 5), ((4, 5, 6), b""), ((7, 8, 9), b"bb")]
    body = block_stream_bytes(items)
    boundaries = {0, 21, 37, len(body)}
    for cut in range(len(body) + 1):
        if cut in boundaries:
            assert len(list(iter_block_stream(body[:cut]))) == sorted(boundaries).index(cut)
        else:
            with pytest.raises(BlockStreamError):
                list(iter_block_stream(body[:cut]))


def test_error_kind() -> None:
    err = BlockStreamError("x")
    assert isinstance(err, ValueError) and err.kind == "bad-stream"


@pytest.mark.parametrize(
    "coord,length", [((2**31, 0, 0), 0), ((0, -(2**31) - 1, 0), 0), ((0, 0, 0), -1), ((0, 0), 0)]
)
def test_header_rejects_out_of_range(coord: tuple[int, ...], length: int) -> None:
    with pytest.raises(BlockStreamError):
        encode_block_header(coord, length)  # type: ignore[arg-type]


def test_not_bytes_like() -> None:
    with pytest.raises(BlockStreamError):
        list(iter_block_stream("text"))  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.tuples(INT32, INT32, INT32), st.binary(max_size=64)), max_size=8))
def test_hypothesis_roundtrip(items: list[tuple[tuple[int, int, int], bytes]]) -> None:
    body = block_stream_bytes(items)
    assert len(body) == sum(16 + len(p) for _, p in items)
    assert [(c, bytes(p)) for c, p in iter_block_stream(body)] == items


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_random_bytes_parse_or_raise(body: bytes) -> None:
    try:
        total = sum(16 + len(p) for _, p in iter_block_stream(body))
    except BlockStreamError:
        return
    assert total == len(body)
