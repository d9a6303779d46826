"""The protobuf wire format (proto3) that DVID's protobuf bodies use: varints and fields.

Shared by the hand-rolled messages of the datatypes (keyvalue's ``KeyValues`` and
``Keys``, labelmap's ``LabelIndex``); each message module keeps its own layout and
says which error a malformed body raises (``error``): a body that arrives in a
request is a bad request, one read from storage is corrupt data.
"""

from __future__ import annotations

from collections.abc import Iterator

from dvidctl.errors import DvidError

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(n: int) -> bytes:
    """``n`` as a varint (a negative int as its two's complement uint64, 10 bytes)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    """The key that starts a field."""
    return varint(field << 3 | wire_type)


def len_prefix(field: int, length: int) -> bytes:
    """The key and length of a length-delimited field whose payload has ``length`` bytes."""
    return varint(field << 3 | LEN) + varint(length)


def read_varint(buf: memoryview, pos: int, error: type[DvidError]) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise error("protobuf message ends inside a varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise error("protobuf varint longer than 10 bytes")


def fields(
    data: bytes | bytearray | memoryview, error: type[DvidError]
) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field number, wire type, value)`` of a message.

    Varint and fixed-width values are ints (fixed ones little-endian), length-delimited
    values memoryview slices of ``data`` (no copy). Anything malformed raises ``error``.
    """
    buf = data if isinstance(data, memoryview) else memoryview(data).cast("B")
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, error)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise error("protobuf field number 0")
        if wt == VARINT:
            v, pos = read_varint(buf, pos, error)
            yield field, wt, v
        elif wt == LEN:
            n, pos = read_varint(buf, pos, error)
            if pos + n > len(buf):
                raise error("protobuf length-delimited field runs past the end")
            yield field, wt, buf[pos : pos + n]
            pos += n
        elif wt in (I64, I32):
            n = 8 if wt == I64 else 4
            if pos + n > len(buf):
                raise error("protobuf fixed-width field runs past the end")
            yield field, wt, int.from_bytes(buf[pos : pos + n], "little")
            pos += n
        else:
            raise error(f"protobuf wire type {wt} is not supported")
