"""The four protobuf messages of keyvalue's HTTP API, hand-rolled (proto3 wire format).

::

    message KeyValue  { string key = 1; bytes value = 2; }
    message KeyRange  { string key = 1; uint64 byte_start = 2; uint64 byte_end = 3; }
    message Keys      { repeated string keys = 1; repeated KeyRange key_ranges = 2; }
    message KeyValues { repeated KeyValue kvs = 1; }

Why not the ``protobuf`` package: these messages have five scalar fields in
all, so they are ~100 lines over the shared wire format
(:mod:`dvidctl.httpkit.protowire`), need no protoc step or generated module, and
decode values as zero-copy slices. The decoder skips unknown fields, as protobuf
requires, and raises :class:`~dvidctl.errors.CorruptDataError` on anything
malformed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dvidctl.errors import CorruptDataError
from dvidctl.httpkit import protowire


@dataclass(frozen=True)
class KeyRange:
    """A key with an inclusive byte range of its value."""

    key: str
    byte_start: int = 0
    byte_end: int = 0


def _fields(data: bytes | bytearray | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)``; a malformed body is corrupt data."""
    return protowire.fields(data, CorruptDataError)


def _len_field(
    field: int, payload: bytes | bytearray | memoryview
) -> list[bytes | bytearray | memoryview]:
    return [protowire.len_prefix(field, len(payload)), payload]


def _text(v: int | memoryview, what: str) -> str:
    if not isinstance(v, memoryview):
        raise CorruptDataError(f"protobuf {what} must be length-delimited")
    try:
        return bytes(v).decode()
    except UnicodeDecodeError:
        raise CorruptDataError(f"protobuf {what} is not UTF-8") from None


# ------------------------------------------------------------------ KeyValues
def encode_key_values(items: Iterable[tuple[str, bytes | bytearray | memoryview | None]]) -> bytes:
    """Serialise ``KeyValues`` (a None or empty value omits the value field)."""
    parts: list[bytes | bytearray | memoryview] = []
    for key, value in items:
        inner: list[bytes | bytearray | memoryview] = []
        kb = key.encode()
        if kb:
            inner += _len_field(1, kb)
        if value:
            inner += _len_field(2, value)
        parts += _len_field(1, b"".join(inner))
    return b"".join(parts)


def decode_key_values(data: bytes | bytearray | memoryview) -> list[tuple[str, bytes]]:
    """Parse ``KeyValues`` into ``[(key, value), ...]``."""
    out = []
    for field, _, v in _fields(data):
        if field != 1:
            continue
        if not isinstance(v, memoryview):
            raise CorruptDataError("protobuf KeyValues.kvs must be length-delimited")
        key, value = "", b""
        for f2, _, v2 in _fields(v):
            if f2 == 1:
                key = _text(v2, "KeyValue.key")
            elif f2 == 2:
                if not isinstance(v2, memoryview):
                    raise CorruptDataError("protobuf KeyValue.value must be length-delimited")
                value = bytes(v2)
        out.append((key, value))
    return out


# ----------------------------------------------------------------------- Keys
def encode_keys(keys: Iterable[str], ranges: Iterable[KeyRange] = ()) -> bytes:
    """Serialise ``Keys``."""
    parts: list[bytes | bytearray | memoryview] = []
    for k in keys:
        parts += _len_field(1, k.encode())
    for r in ranges:
        inner: list[bytes | bytearray | memoryview] = []
        if r.key:
            inner += _len_field(1, r.key.encode())
        if r.byte_start:
            inner.append(protowire.tag(2, protowire.VARINT) + protowire.varint(r.byte_start))
        if r.byte_end:
            inner.append(protowire.tag(3, protowire.VARINT) + protowire.varint(r.byte_end))
        parts += _len_field(2, b"".join(inner))
    return b"".join(parts)


def decode_keys(data: bytes | bytearray | memoryview) -> tuple[list[str], list[KeyRange]]:
    """Parse ``Keys`` into ``(keys, key_ranges)``."""
    keys: list[str] = []
    ranges: list[KeyRange] = []
    for field, _, v in _fields(data):
        if field == 1:
            keys.append(_text(v, "Keys.keys"))
        elif field == 2:
            if not isinstance(v, memoryview):
                raise CorruptDataError("protobuf Keys.key_ranges must be length-delimited")
            key, start, end = "", 0, 0
            for f2, _, v2 in _fields(v):
                if f2 == 1:
                    key = _text(v2, "KeyRange.key")
                elif f2 in (2, 3):
                    if isinstance(v2, memoryview):
                        raise CorruptDataError("protobuf KeyRange byte offsets must be varints")
                    if f2 == 2:
                        start = v2
                    else:
                        end = v2
            ranges.append(KeyRange(key, start, end))
    return keys, ranges
