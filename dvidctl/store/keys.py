"""Byte layout of every key dvidctl stores (ARCHITECTURE.md "Key layout").

Data (column family ``data``)::

    instance id (u32 BE) | type key | version id (u32 BE)   ->  header (1 byte) | payload

All versions of one type key are adjacent, and a scan over type keys walks them
in order. Type keys start with a class byte chosen by the datatype and must be
*prefix-free* within an instance (fixed length, or terminated like keyvalue's
``key + 0x00``), so ``instance | type key`` is the exact prefix of its versions.

Delta index (column family ``delta``)::

    version id (u32 BE) | instance id (u32 BE) | type key   ->  digest (16 bytes)

Metadata (column family ``meta``) keys are ASCII paths, see :mod:`metadata`.
"""

from __future__ import annotations

import struct

import xxhash

_U32 = struct.Struct(">I")

#: Stored value header: a live value.
HDR_VALUE = 0x00
#: Stored value header: a tombstone (deleted at this version).
HDR_TOMBSTONE = 0x01
TOMBSTONE = bytes([HDR_TOMBSTONE])
VERSION_BYTES = 4


def u32(n: int) -> bytes:
    """Encode ``n`` as 4 big-endian bytes."""
    return _U32.pack(n)


def read_u32(b: bytes, offset: int = 0) -> int:
    """Decode 4 big-endian bytes at ``offset``."""
    return int(_U32.unpack_from(b, offset)[0])


def data_prefix(iid: int, tkey: bytes = b"") -> bytes:
    """Return ``instance | tkey``: the prefix of every version of ``tkey``."""
    return _U32.pack(iid) + tkey


def data_key(iid: int, tkey: bytes, vid: int) -> bytes:
    """Return the data key of ``tkey`` written at version ``vid``."""
    return _U32.pack(iid) + tkey + _U32.pack(vid)


def split_data_key(key: bytes) -> tuple[int, bytes, int]:
    """Split a data key into ``(instance id, type key, version id)``."""
    return read_u32(key), key[4:-4], read_u32(key, len(key) - 4)


def delta_key(vid: int, iid: int, tkey: bytes) -> bytes:
    """Return the delta-index key recording that ``vid`` changed ``tkey``."""
    return _U32.pack(vid) + _U32.pack(iid) + tkey


def split_delta_key(key: bytes) -> tuple[int, int, bytes]:
    """Split a delta key into ``(version id, instance id, type key)``."""
    return read_u32(key), read_u32(key, 4), key[8:]


def digest(stored: bytes | memoryview) -> bytes:
    """Return the 16-byte xxh3-128 digest of a stored value (header included)."""
    return xxhash.xxh3_128_digest(stored)


TOMBSTONE_DIGEST = digest(TOMBSTONE)


def describe(key: bytes) -> str:
    """Return a readable form of a data key, for debugging."""
    iid, tkey, vid = split_data_key(key)
    return f"instance={iid} tkey={tkey.hex()} version={vid}"
