"""The shared protobuf wire format (httpkit/protowire.py) and the two message modules on it."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl.datatypes.keyvalue import proto as kvproto
from dvidctl.datatypes.labelmap.indexproto import decode_index, encode_index
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.httpkit import protowire as pw


@pytest.mark.parametrize(
    ("n", "wire"),
    [(0, b"\x00"), (1, b"\x01"), (300, b"\xac\x02"), (2**64 - 1, b"\xff" * 9 + b"\x01")],
)
def test_varints_read_back(n: int, wire: bytes) -> None:
    assert pw.varint(n) == wire
    assert pw.read_varint(memoryview(wire + b"x"), 0, CorruptDataError) == (n, len(wire))


def test_a_negative_int_is_its_uint64() -> None:
    assert pw.varint(-1) == pw.varint(2**64 - 1)


def test_fields_of_every_wire_type() -> None:
    msg = (
        pw.tag(1, pw.VARINT) + pw.varint(150)
        + pw.len_prefix(2, 3) + b"abc"
        + pw.tag(3, pw.I64) + (7).to_bytes(8, "little")
        + pw.tag(4, pw.I32) + (9).to_bytes(4, "little")
    )  # fmt: skip
    got = [
        (f, wt, bytes(v) if isinstance(v, memoryview) else v)
        for f, wt, v in pw.fields(msg, CorruptDataError)
    ]
    assert got == [(1, pw.VARINT, 150), (2, pw.LEN, b"abc"), (3, pw.I64, 7), (4, pw.I32, 9)]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\x08", "inside a varint"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x00\x01", "field number 0"),
        (b"\x12\x05ab", "runs past the end"),
        (b"\x19\x01\x02", "fixed-width field runs past the end"),
        (b"\x0b", "wire type 3"),
    ],
)
@pytest.mark.parametrize("error", [BadRequestError, CorruptDataError])
def test_malformed_bodies_raise_the_callers_error(
    body: bytes, says: str, error: type[BadRequestError]
) -> None:
    with pytest.raises(error, match=says) as info:
        list(pw.fields(body, error))
    assert type(info.value) is error


def test_keyvalue_messages_on_the_shared_format() -> None:
    body = kvproto.encode_key_values([("a", b"1"), ("", None), ("c", b"x" * 300)])
    assert kvproto.decode_key_values(body) == [("a", b"1"), ("", b""), ("c", b"x" * 300)]
    keys = kvproto.encode_keys(["k"], [kvproto.KeyRange("r", 2, 2**40)])
    assert kvproto.decode_keys(keys) == (["k"], [kvproto.KeyRange("r", 2, 2**40)])
    with pytest.raises(CorruptDataError):
        kvproto.decode_key_values(body[:-1])


def test_label_index_skips_fixed_width_fields_and_rejects_bad_bodies() -> None:
    idx = LabelIndex(17)
    idx.blocks = np.array([5, 5, 9], np.uint64)
    idx.svs = np.array([17, 18, 17], np.uint64)
    idx.counts = np.array([3, 4, 100], np.uint64)
    idx.last_mod_user = "me"
    body = encode_index(idx)
    # An unknown fixed-width field (and a known field number sent fixed-width) is skipped.
    extra = pw.tag(9, pw.I64) + bytes(8) + pw.tag(2, pw.I32) + bytes(4)
    for got in (decode_index(body), decode_index(extra + body)):
        assert got.label == 17 and got.last_mod_user == "me"
        assert got.blocks.tolist() == [5, 5, 9] and got.counts.tolist() == [3, 4, 100]
    with pytest.raises(BadRequestError, match="runs past the end") as info:
        decode_index(body[:-1])
    assert not isinstance(info.value, CorruptDataError)
