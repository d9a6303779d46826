"""Block type keys of the voxel datatypes, and their metadata keys (DVID's imageblk layout).

Block type key (14 bytes, ARCHITECTURE.md "Key layout")::

    class (u8) | scale (u8) | z | y | x        each int32, sign bit flipped, big-endian

so byte order is numeric order and the blocks of one (scale, z, y) row are
adjacent: a subvolume read is one range scan per row of blocks. The class byte is
the type's (uint8blk 23 as DVID's ``keyImageBlock``, labelmap 186 as
``keyLabelBlock``). Versioned metadata lives beside the blocks under one-byte type
keys: the extents (24, DVID's imageblk ``metaKeyClass``) and labelmap's max label
(237, DVID's ``keyLabelMax``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN
from dvidctl.store.engine import prefix_end

TKEY_LEN = 14
OFFSET = 1 << 31
_PACK = struct.Struct(">BBIII").pack
_SIGN = np.uint32(0x80000000)
_TKEY_DTYPE = np.dtype([("c", "u1"), ("s", "u1"), ("z", ">u4"), ("y", ">u4"), ("x", ">u4")])
Coord = tuple[int, int, int]

#: Versioned extents of the scale-0 data.
EXTENTS_TKEY = bytes([24])
#: Versioned max label (labelmap).
MAXLABEL_TKEY = bytes([237])
_META_NAMES = {EXTENTS_TKEY: "extents", MAXLABEL_TKEY: "maxlabel"}


def _check_scale(scale: int) -> None:
    if not 0 <= scale <= 255:
        raise BadRequestError(f"scale must be 0..255, got {scale}")


def block_tkey(key_class: int, scale: int, z: int, y: int, x: int) -> bytes:
    """The type key of block ``(z, y, x)`` at ``scale``."""
    _check_scale(scale)
    try:
        return _PACK(key_class, scale, z + OFFSET, y + OFFSET, x + OFFSET)
    except struct.error:
        raise BadRequestError(
            f"block coordinate {(x, y, z)} (XYZ) is outside the 32-bit range"
        ) from None


def block_tkeys(key_class: int, scale: int, coords_zyx: np.ndarray) -> list[bytes]:
    """Type keys of many blocks at once; ``coords_zyx`` is an ``(n, 3)`` integer array."""
    _check_scale(scale)
    c = np.asarray(coords_zyx, dtype=np.int64).reshape(-1, 3)
    if c.size and (c.min() < INT32_MIN or c.max() > INT32_MAX):
        raise BadRequestError("block coordinate outside the 32-bit range")
    rec = np.empty(len(c), _TKEY_DTYPE)
    rec["c"], rec["s"] = key_class, scale
    flipped = c.astype(np.uint32) ^ _SIGN  # int32 two's complement, sign bit flipped
    rec["z"], rec["y"], rec["x"] = flipped[:, 0], flipped[:, 1], flipped[:, 2]
    raw = rec.tobytes()
    return [raw[i : i + TKEY_LEN] for i in range(0, len(raw), TKEY_LEN)]


def decode_block_tkeys(tkeys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`block_tkeys`: ``(scales (n,), coords_zyx (n, 3) int32)``."""
    if any(len(t) != TKEY_LEN for t in tkeys):
        raise BadRequestError(f"block type keys are {TKEY_LEN} bytes")
    rec = np.frombuffer(b"".join(tkeys), _TKEY_DTYPE)
    coords = np.stack([rec["z"], rec["y"], rec["x"]], axis=1) ^ _SIGN
    return rec["s"].astype(np.int64), coords.astype(np.uint32).view(np.int32)


def decode_block_tkey(tkey: bytes) -> tuple[int, Coord]:
    """``(scale, (z, y, x))`` of one block type key."""
    scales, coords = decode_block_tkeys([tkey])
    z, y, x = (int(v) for v in coords[0])
    return int(scales[0]), (z, y, x)


def scale_range(key_class: int, scale: int) -> tuple[bytes, bytes | None]:
    """Scan bounds ``[start, stop)`` covering every block of one scale."""
    _check_scale(scale)
    start = bytes([key_class, scale])
    return start, prefix_end(start)


def describe_block_tkey(tkey: bytes) -> str:
    """Readable form, e.g. ``block s0 (x,y,z)=(1,2,-3)``."""
    if len(tkey) != TKEY_LEN:
        return tkey.hex()
    s, (z, y, x) = decode_block_tkey(tkey)
    return f"block s{s} (x,y,z)=({x},{y},{z})"


def describer(key_class: int):  # type: ignore[no-untyped-def]
    """A ``describe_key`` for a voxel type whose blocks use ``key_class``."""

    def describe(tk: bytes) -> str:
        if len(tk) == TKEY_LEN and tk[0] == key_class:
            return describe_block_tkey(tk)
        return _META_NAMES.get(tk) or tk.hex()

    return describe


def pyramid_checker(key_class: int):  # type: ignore[no-untyped-def]
    """A ``derived_key`` for a voxel type: its blocks at scales above 0 (the pyramid)."""

    def derived(tk: bytes) -> bool:
        return len(tk) == TKEY_LEN and tk[0] == key_class and tk[1] > 0

    return derived


__all__ = [
    "EXTENTS_TKEY",
    "MAXLABEL_TKEY",
    "OFFSET",
    "TKEY_LEN",
    "Coord",
    "block_tkey",
    "block_tkeys",
    "decode_block_tkey",
    "decode_block_tkeys",
    "describe_block_tkey",
    "describer",
    "pyramid_checker",
    "scale_range",
]
