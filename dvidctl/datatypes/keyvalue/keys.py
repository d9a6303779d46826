"""keyvalue type keys: class byte 177, the key bytes, a 0x00 terminator (as DVID).

A large value (:mod:`~dvidctl.datatypes.keyvalue.chunks`) is stored as a small
manifest under its key's type key and its pieces under type keys of class 178::

    178 | key bytes | 0x00 | piece index (u32 BE) | xxh3-128 digest of the piece

so the pieces of one key are adjacent, in piece order (a streaming write hands
them over in key order), never inside a listing of keys (class 177), and a piece
type key names its bytes: every stored version of it holds the same bytes.

Also the checks of keys and values that local and remote instances both apply.
"""

from __future__ import annotations

import struct

from dvidctl.errors import BadRequestError

CLASS_KV = 177
#: Pieces of large values (after every class-177 key of the instance).
CLASS_PIECE = 178
_PREFIX = bytes([CLASS_KV])
_PIECE_PREFIX = bytes([CLASS_PIECE])
_U32 = struct.Struct(">I")
#: Bytes of a piece type key after its key's terminator: index and digest.
_PIECE_TAIL = 4 + 16


def check_key(key: str) -> str:
    """Validate a key: a non-empty string without ``/`` or NUL (DVID's rule)."""
    if not isinstance(key, str) or not key:
        raise BadRequestError("a keyvalue key must be a non-empty string")
    if "/" in key or "\x00" in key:
        raise BadRequestError(f"keyvalue key {key!r} contains '/' or NUL, which DVID keys cannot")
    return key


def check_value(key: str, value: object) -> bytes:
    """Validate the value of ``key``: bytes-like (bytes, bytearray, memoryview)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise BadRequestError(
            f"the value of keyvalue key {key!r} must be bytes, not {type(value).__name__}"
        )
    return bytes(value)


def tkey(key: str) -> bytes:
    """Type key of ``key``."""
    return _PREFIX + check_key(key).encode() + b"\x00"


def key_of(tk: bytes) -> str:
    """Inverse of :func:`tkey`."""
    return tk[1:-1].decode()


def range_bounds(first: str | None, last: str | None) -> tuple[bytes, bytes]:
    """Scan bounds ``[start, stop)`` for keys with ``first <= key <= last`` (inclusive)."""
    start = _PREFIX + (check_key(first).encode() + b"\x00" if first is not None else b"")
    stop = (
        _PREFIX + check_key(last).encode() + b"\x01" if last is not None else bytes([CLASS_KV + 1])
    )
    return start, stop


def piece_prefix(key: str) -> bytes:
    """The type-key prefix of every piece of ``key``'s large values."""
    return _PIECE_PREFIX + check_key(key).encode() + b"\x00"


def piece_tkey(key: str, index: int, digest: bytes) -> bytes:
    """Type key of piece ``index`` (with xxh3-128 ``digest``) of ``key``'s value."""
    return piece_prefix(key) + _U32.pack(index) + digest


def is_piece(tk: bytes) -> bool:
    """Whether ``tk`` is the type key of a piece of a large value."""
    return tk[:1] == _PIECE_PREFIX


def split_piece(tk: bytes) -> tuple[str, int, bytes]:
    """``(key, index, digest)`` of a piece type key."""
    tail = len(tk) - _PIECE_TAIL
    return tk[1 : tail - 1].decode(), int(_U32.unpack_from(tk, tail)[0]), tk[tail + 4 :]


def describe(tk: bytes) -> str:
    """Readable form of a keyvalue type key."""
    if tk[:1] == _PREFIX:
        return key_of(tk)
    if is_piece(tk) and len(tk) > _PIECE_TAIL + 2:
        key, index, _ = split_piece(tk)
        return f"{key} (piece {index})"
    return tk.hex()
