"""Block payload formats on the wire (DVID_API.md §5.3, §6.2), from stored payloads.

* uint8blk: JPEG (width X, height Y*Z), DVID's lz4 (``uint32 LE length`` + LZ4
  block), or raw voxels;
* labelmap: LZ4 of the uint64 block (no header), gzip of it, raw, or
  ``blocks`` = gzip(DVID label Block). When a block is stored as a label Block
  (codec ``labelblock``) it is re-wrapped, never re-encoded.
* ``compression=stored`` (a dvidctl extension, both types): the stored payload
  as it is, codec id byte first (:mod:`dvidctl.datatypes.imageblk.codec`), so a
  dvidctl client decodes blocks itself and the server only reads them. The
  remote Python API uses it against dvidctl servers.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import lz4.block
import numpy as np
import zstandard

from dvidctl.datatypes.imageblk.codec import (
    JPEG,
    LABELBLOCK_ZSTD,
    decode_into,
    jpeg_block,
    payload_codec,
)
from dvidctl.datatypes.imageblk.labelblock import encode_label_block
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.errors import CorruptDataError

LABEL_STREAM_FORMATS = ("lz4", "gzip", "uncompressed", "blocks", "stored")
GRAY_STREAM_FORMATS = ("", "jpeg", "uncompressed", "lz4", "stored")
#: zlib level of gzip payloads (Go's ``gzip.DefaultCompression`` is also 6).
GZIP_LEVEL = 6


def gzip_bytes(data: bytes | memoryview, level: int = GZIP_LEVEL) -> bytes:
    """One gzip member of ``data``."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def gzip_label_block(vol: np.ndarray, level: int = GZIP_LEVEL) -> bytes:
    """gzip(encode_label_block(vol)): a labelmap ``compression=blocks`` payload."""
    return gzip_bytes(encode_label_block(vol), level)


def lz4_payload(raw: bytes | memoryview, *, with_size: bool) -> bytes:
    """LZ4 block of ``raw``; ``with_size`` prefixes DVID's ``uint32 LE`` length (uint8blk)."""
    body = bytes(lz4.block.compress(raw, store_size=False))
    return len(raw).to_bytes(4, "little") + body if with_size else body


def label_payload(payload: memoryview, shape: tuple[int, int, int], comp: str) -> bytes:
    """One labelmap stream payload in ``comp`` (see module doc) from a stored payload."""
    if comp == "stored":
        return bytes(payload)
    if comp == "blocks" and payload_codec(payload) == LABELBLOCK_ZSTD:
        try:
            raw = zstandard.ZstdDecompressor().decompress(memoryview(payload)[1:])
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"stored label block does not decode: {exc}") from None
        return gzip_bytes(raw)
    return block_payload(decode_into(payload, np.empty(shape, np.uint64)), comp)


def block_payload(block: np.ndarray, comp: str) -> bytes:
    """One labelmap stream payload in ``comp`` (not ``stored``) of a decoded uint64 block."""
    if comp == "blocks":
        return gzip_label_block(block)
    raw = block.tobytes()
    if comp == "lz4":
        return lz4_payload(raw, with_size=False)
    if comp == "gzip":
        return gzip_bytes(raw)
    return raw


def label_payloads(
    items: Sequence[tuple[tuple[int, int, int], memoryview]], shape: tuple[int, int, int], comp: str
) -> list[bytes]:
    """:func:`label_payload` for many blocks, on the block thread pool."""
    return parallel_map(lambda it: label_payload(it[1], shape, comp), list(items), min_items=2)


def gray_payload(payload: memoryview, shape: tuple[int, int, int], comp: str) -> bytes:
    """A uint8blk stream payload: ``""`` (stored JPEG, else lz4), ``jpeg``, ``uncompressed``."""
    if comp == "stored":
        return bytes(payload)
    if comp in ("", "jpeg") and payload_codec(payload) == JPEG:
        return bytes(memoryview(payload)[1:])
    block = decode_into(payload, np.empty(shape, np.uint8))
    if comp == "jpeg":
        return jpeg_block(block)
    if comp == "uncompressed":
        return block.tobytes()
    return lz4_payload(block.tobytes(), with_size=True)


__all__ = [
    "GRAY_STREAM_FORMATS",
    "GZIP_LEVEL",
    "LABEL_STREAM_FORMATS",
    "gray_payload",
    "gzip_bytes",
    "gzip_label_block",
    "label_payload",
    "label_payloads",
    "lz4_payload",
]
