"""The record of a pending bulk write (:mod:`.bulk` step 2): its non-``data`` ops, checked.

Format 2 (written)::

    "DVB2" | name length u32 | name | n u32 |
    n x cf index u8 | n x key length u32 | n x value length i32 (-1: a delete) |
    keys joined | values joined | crc32 u32

Lengths are big-endian. The columns are built with numpy and the keys and values
joined once, so a write of a million delta entries costs a few passes in C, not a
``struct.pack`` per op. Format 1 (``"DVB1"``: ops one after another, each
``cf u8 | key length u32 | key | flag u8 (| value length u32 | value)``) is still
read: a marker left by an older version finishes at the next open.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable

from dvidctl.errors import CorruptDataError
from dvidctl.store.engine import COLUMN_FAMILIES

Op = tuple[str, bytes, bytes | None]

_MAGIC_V1 = b"DVB1"
_MAGIC = b"DVB2"
_NAME_RE = re.compile(r"[0-9a-f]{16}-[0-9]+-[0-9]+\.sst")
_U32 = struct.Struct(">I")
_CF_INDEX = {cf: i for i, cf in enumerate(COLUMN_FAMILIES)}


def encode_marker(sst_name: str, ops: Iterable[Op]) -> bytes:
    """The format-2 record of ``ops`` for the table file ``sst_name``."""
    import numpy as np  # here: opening a repository (recovery included) needs no numpy

    ops = list(ops)
    name = sst_name.encode()
    cf_index = _CF_INDEX
    keys = [k for _, k, _ in ops]
    vals = [v for _, _, v in ops]
    klen = np.array([len(k) for k in keys], np.int64).astype(">u4")
    vlen = np.array([-1 if v is None else len(v) for v in vals], np.int64).astype(">i4")
    body = b"".join(
        [
            _MAGIC,
            _U32.pack(len(name)),
            name,
            _U32.pack(len(ops)),
            bytes([cf_index[cf] for cf, _, _ in ops]),
            klen.tobytes(),
            vlen.tobytes(),
            b"".join(keys),
            b"".join([v for v in vals if v is not None]),
        ]
    )
    return body + _U32.pack(zlib.crc32(body))


def decode_marker(raw: bytes) -> tuple[str, list[Op]]:
    """Inverse of :func:`encode_marker` (either format); :class:`CorruptDataError` when bad."""
    try:
        body, (crc,) = raw[:-4], struct.unpack(">I", raw[-4:])
        if raw[:4] not in (_MAGIC, _MAGIC_V1) or zlib.crc32(body) != crc:
            raise ValueError("bad magic or checksum")
        pos = 4
        (n,) = _U32.unpack_from(body, pos)
        name = body[pos + 4 : pos + 4 + n].decode()
        pos += 4 + n
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"bad file name {name!r}")
        (count,) = _U32.unpack_from(body, pos)
        pos += 4
        if raw[:4] == _MAGIC_V1:
            ops, pos = _ops_v1(body, pos, count)
        else:
            ops, pos = _ops_v2(body, pos, count)
        if pos != len(body):
            raise ValueError("trailing bytes")
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise CorruptDataError(
            f"a pending bulk-write record does not decode ({exc})",
            hint="the database is damaged; restore it from a copy",
        ) from None
    return name, ops


def _ops_v2(body: bytes, pos: int, count: int) -> tuple[list[Op], int]:
    import numpy as np

    if pos + 9 * count > len(body):
        raise ValueError("columns run past the end")
    cfs = body[pos : pos + count]
    pos += count
    klen = np.frombuffer(body, ">u4", count, pos).astype(np.int64)
    pos += 4 * count
    vlen = np.frombuffer(body, ">i4", count, pos).astype(np.int64)
    pos += 4 * count
    if max(cfs, default=0) >= len(COLUMN_FAMILIES) or (vlen < -1).any():
        raise ValueError("bad column family or value length")
    kend = pos + np.cumsum(klen)
    vend = int(kend[-1]) if count else pos
    vend_at = vend + np.cumsum(np.maximum(vlen, 0))
    end = int(vend_at[-1]) if count else pos
    if end > len(body):
        raise ValueError("keys or values run past the end")
    kstart, vstart = kend - klen, vend_at - np.maximum(vlen, 0)
    ops: list[Op] = [
        (COLUMN_FAMILIES[c], body[ks:ke], None if vl < 0 else body[vs:ve])
        for c, ks, ke, vl, vs, ve in zip(
            cfs,
            kstart.tolist(),
            kend.tolist(),
            vlen.tolist(),
            vstart.tolist(),
            vend_at.tolist(),
            strict=True,
        )
    ]
    return ops, end


def _ops_v1(body: bytes, pos: int, count: int) -> tuple[list[Op], int]:
    ops: list[Op] = []
    for _ in range(count):
        cfi, n = struct.unpack_from(">BI", body, pos)
        key = body[pos + 5 : pos + 5 + n]
        pos += 5 + n
        value = None
        if body[pos]:
            (n,) = struct.unpack_from(">I", body, pos + 1)
            value = body[pos + 5 : pos + 5 + n]
            pos += 5 + n
        else:
            pos += 1
        ops.append((COLUMN_FAMILIES[cfi], key, value))
    return ops, pos


def encode_marker_v1(sst_name: str, ops: Iterable[Op]) -> bytes:
    """The format-1 record (what older versions wrote; tests check it is still read)."""
    name = sst_name.encode()
    ops = list(ops)
    parts = [_MAGIC_V1, _U32.pack(len(name)), name, _U32.pack(len(ops))]
    for cf, key, value in ops:
        parts.append(struct.pack(">BI", _CF_INDEX[cf], len(key)))
        parts.append(key)
        if value is None:
            parts.append(b"\x00")
        else:
            parts.append(struct.pack(">BI", 1, len(value)))
            parts.append(value)
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))
