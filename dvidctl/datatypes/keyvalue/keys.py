"""keyvalue type keys: class byte 177, the key bytes, a 0x00 terminator (as DVID).

Also the checks of keys and values that local and remote instances both apply.
"""

from __future__ import annotations

from dvidctl.errors import BadRequestError

CLASS_KV = 177
_PREFIX = bytes([CLASS_KV])


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


def describe(tk: bytes) -> str:
    """Readable form of a keyvalue type key."""
    return key_of(tk) if tk[:1] == _PREFIX else tk.hex()
