"""DVID's ``LabelIndex`` / ``LabelIndices`` protobuf messages, hand-rolled (proto3 wire format).

::

    message SVCount     { map<uint64, uint32> counts = 1; uint64 surface_mutid = 2; }
    message LabelIndex  { map<uint64, SVCount> blocks = 1; uint64 label = 2;
                          uint64 last_mutid = 3; string last_mod_time = 4;
                          string last_mod_user = 5; string last_mod_app = 6; }
    message LabelIndices { repeated LabelIndex indices = 1; }

(DVID's ``labelops.proto``.) No protobuf package is installed and these are three
small messages; unknown fields are skipped as protobuf requires, malformed input
raises :class:`~dvidctl.errors.BadRequestError` (it arrives in request bodies).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dvidctl.datatypes.labelmap.labelindex import LabelIndex, sort_rows
from dvidctl.errors import BadRequestError
from dvidctl.httpkit import protowire

_VARINT, _LEN = protowire.VARINT, protowire.LEN
_varint, _key = protowire.varint, protowire.tag


def _len_field(field: int, body: bytes) -> bytes:
    return protowire.len_prefix(field, len(body)) + body


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Varint and length-delimited fields (no LabelIndex field is fixed-width: skipped)."""
    for field, wt, v in protowire.fields(buf, BadRequestError):
        if wt in (_VARINT, _LEN):
            yield field, wt, v


def encode_index(idx: LabelIndex) -> bytes:
    """``LabelIndex`` bytes of an index."""
    out = bytearray()
    blocks, svs, counts = idx.blocks.tolist(), idx.svs.tolist(), idx.counts.tolist()
    i, n = 0, len(blocks)
    while i < n:
        b = blocks[i]
        sv_body = bytearray()
        while i < n and blocks[i] == b:
            entry = _key(1, _VARINT) + _varint(svs[i]) + _key(2, _VARINT) + _varint(counts[i])
            sv_body += _len_field(1, entry)
            i += 1
        out += _len_field(1, _key(1, _VARINT) + _varint(b) + _len_field(2, bytes(sv_body)))
    for field, v in ((2, idx.label), (3, idx.last_mutid)):
        if v:
            out += _key(field, _VARINT) + _varint(v)
    for field, s in ((4, idx.last_mod_time), (5, idx.last_mod_user), (6, idx.last_mod_app)):
        if s:
            out += _len_field(field, s.encode())
    return bytes(out)


def _text(v: int | memoryview) -> str:
    if not isinstance(v, memoryview):
        raise BadRequestError("LabelIndex string field has the wrong wire type")
    try:
        return bytes(v).decode()
    except UnicodeDecodeError:
        raise BadRequestError("LabelIndex string field is not UTF-8") from None


def decode_index(data: bytes | bytearray | memoryview) -> LabelIndex:
    """A ``LabelIndex`` message as an index (rows sorted)."""
    blocks: list[int] = []
    svs: list[int] = []
    counts: list[int] = []
    idx = LabelIndex(0)
    for field, wt, v in _fields(memoryview(data).cast("B")):
        if field == 1 and isinstance(v, memoryview):
            bid, body = 0, memoryview(b"")
            for f2, _, v2 in _fields(v):
                if f2 == 1 and isinstance(v2, int):
                    bid = v2
                elif f2 == 2 and isinstance(v2, memoryview):
                    body = v2
            for f3, _, v3 in _fields(body):
                if f3 != 1 or not isinstance(v3, memoryview):
                    continue
                sv = cnt = 0
                for f4, _, v4 in _fields(v3):
                    if f4 == 1 and isinstance(v4, int):
                        sv = v4
                    elif f4 == 2 and isinstance(v4, int):
                        cnt = v4 & 0xFFFFFFFF
                blocks.append(bid)
                svs.append(sv)
                counts.append(cnt)
        elif field == 2 and wt == _VARINT:
            idx.label = int(v)  # type: ignore[arg-type]
        elif field == 3 and wt == _VARINT:
            idx.last_mutid = int(v)  # type: ignore[arg-type]
        elif field == 4:
            idx.last_mod_time = _text(v)
        elif field == 5:
            idx.last_mod_user = _text(v)
        elif field == 6:
            idx.last_mod_app = _text(v)
    b, s, c = sort_rows(
        np.asarray(blocks, np.uint64), np.asarray(svs, np.uint64), np.asarray(counts, np.uint64)
    )
    idx.blocks, idx.svs, idx.counts = b, s, c
    return idx


def encode_indices(indices: list[LabelIndex]) -> bytes:
    """``LabelIndices`` bytes."""
    return b"".join(_len_field(1, encode_index(i)) for i in indices)


def decode_indices(data: bytes | bytearray | memoryview) -> list[LabelIndex]:
    """A ``LabelIndices`` message."""
    return [
        decode_index(v)
        for f, _, v in _fields(memoryview(data).cast("B"))
        if f == 1 and isinstance(v, memoryview)
    ]


__all__ = ["decode_index", "decode_indices", "encode_index", "encode_indices"]
