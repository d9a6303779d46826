"""roi type keys: one key per span, value empty (DVID ``datatype/roi``, class ``keyROI``).

A span key is 17 bytes::

    class 90 | z | y | x0 | length

``z``, ``y`` and ``x0`` are block coordinates as DVID's 12-byte "IZYX" (each
int32 stored as ``uint32(v - MinInt32)`` big-endian, i.e. the sign bit flipped,
z first), and ``length`` is the number of blocks along x as uint32 BE. Byte
order is therefore z, then y, then x0, then length: a scan walks spans in the
order DVID returns them. Keys are fixed-length, so the type key space is
prefix-free.
"""

from __future__ import annotations

import struct

import numpy as np

from dvidctl.errors import CorruptDataError

CLASS_ROI = 90
_PREFIX = bytes([CLASS_ROI])
KEY_LEN = 17
_FLIP = 1 << 31
_SPAN = struct.Struct(">IIII")

#: Scan bounds covering every span key of an instance.
ALL_START = _PREFIX
ALL_STOP = bytes([CLASS_ROI + 1])


def tkey(z: int, y: int, x0: int, length: int) -> bytes:
    """Type key of the span ``(z, y, x0 .. x0 + length - 1)`` (block coordinates)."""
    return _PREFIX + _SPAN.pack(z + _FLIP, y + _FLIP, x0 + _FLIP, length)


def row_start(z: int, y: int | None = None) -> bytes:
    """Smallest type key with block ``z`` (and ``y``, if given): a scan bound."""
    if y is None:
        return _PREFIX + struct.pack(">I", z + _FLIP)
    return _PREFIX + struct.pack(">II", z + _FLIP, y + _FLIP)


def row_stop(z: int, y: int | None = None) -> bytes:
    """Exclusive scan bound after every key with block ``z`` (and ``y``, if given)."""
    if y is None:
        return row_start(z + 1) if z + 1 < _FLIP else ALL_STOP
    if y + 1 < _FLIP:
        return row_start(z, y + 1)
    return row_stop(z)


def encode_spans(spans: np.ndarray) -> list[bytes]:
    """Type keys of valid spans ``[z, y, x0, x1]`` (as :func:`.spans.parse_spans` checks).

    The caller guarantees int32 coordinates and lengths that fit a uint32.
    """
    if len(spans) == 0:
        return []
    s = np.asarray(spans, dtype=np.int64)
    packed = np.empty((len(s), 4), dtype=">u4")
    packed[:, 0] = s[:, 0] + _FLIP
    packed[:, 1] = s[:, 1] + _FLIP
    packed[:, 2] = s[:, 2] + _FLIP
    packed[:, 3] = s[:, 3] - s[:, 2] + 1
    raw = packed.tobytes()
    return [_PREFIX + raw[i : i + 16] for i in range(0, len(raw), 16)]


def decode_keys(tkeys: list[bytes]) -> np.ndarray:
    """Spans ``[z, y, x0, x1]`` (int64, ``(n, 4)``) of span type keys, in the given order.

    Raises:
        CorruptDataError: If a key is not a 17-byte span key of class 90.
    """
    if not tkeys:
        return np.empty((0, 4), dtype=np.int64)
    for tk in tkeys:
        if len(tk) != KEY_LEN or tk[0] != CLASS_ROI:
            raise CorruptDataError(f"stored roi key {bytes(tk).hex()} is not a 17-byte span key")
    raw = np.frombuffer(b"".join(bytes(tk[1:]) for tk in tkeys), dtype=">u4").reshape(-1, 4)
    out = raw.astype(np.int64)
    out[:, :3] -= _FLIP
    length = out[:, 3].copy()
    if (length == 0).any():
        raise CorruptDataError("stored roi span key has length 0")
    out[:, 3] = out[:, 2] + length - 1
    return out


def describe(tk: bytes) -> str:
    """Readable form of a roi type key: ``span z=.. y=.. x=x0..x1``."""
    if len(tk) != KEY_LEN or tk[0] != CLASS_ROI:
        return tk.hex()
    z, y, x0, n = _SPAN.unpack(tk[1:])
    x = x0 - _FLIP
    return f"span z={z - _FLIP} y={y - _FLIP} x={x}..{x + n - 1}"
