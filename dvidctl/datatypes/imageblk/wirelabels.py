"""Label blocks on the sync wire as DVID's label Block under zstd, kept as the receiver stores them.

Sync moves stored values byte for byte and both sides compare nodes by digests of
those bytes. A labelmap block stored as raw uint64 under zstd (the default codec)
is about 2-3.5x larger than DVID's label Block under zstd, so a transfer may send
label blocks in that smaller form instead (:class:`LabelBlockWire`):

* ``encode``: the sender decodes its stored block and encodes it as a
  ``labelblock`` payload (codec id 3 + zstd frame). A value that is not a block
  (extents, max label, a tombstone), or a block already stored as a label Block
  (then it is no larger), or one stored in another codec than the instance's own
  (the receiver could not store it again byte for byte), or a tiled block without
  label sets (codec 4: written by a path without the counting pass, e.g. pyramid
  levels or an unindexed instance; the receiver stores label blocks as 5), goes as
  it is: ``None``.
* ``decode``: the receiver decodes the label Block and encodes the voxels with the
  instance's own codec and, for tiled zstd, the label sets an indexed write stores
  (``ZstdCodec.encode_labelled``), header byte first, which gives exactly the sender's stored
  value when both use the same codec settings and zstd. The caller checks the
  sender's digest against the result; a value that does not come out the same is
  asked for again as stored bytes, so digests (of stored values) stay comparable.

Both are pure functions of the bytes; :func:`encode_many` and :func:`decode_many`
run them on the block thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import TKEY_LEN
from dvidctl.datatypes.imageblk.codec import (
    LABELBLOCK_ZSTD,
    ZSTD_TILED,
    LabelBlockZstdCodec,
    ZstdCodec,
    codec_from_dict,
    decode_into,
    payload_codec,
)
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.errors import CorruptDataError
from dvidctl.store.versioned import VALUE_PREFIX

#: The wire encoding's name (the sync API's ``encoding=`` and its state document).
NAME = "labelblock"
#: Bytes per second that no decoder writes a block's voxels faster than: a bound, not
#: a measure (zstd decoded these blocks at 1-2 GB/s here), for :meth:`floor_seconds`.
WRITE_BOUND = 16e9
_WIRE = LabelBlockZstdCodec(3)


class LabelBlockWire:
    """The ``labelblock`` wire encoding of one labelmap instance (its config)."""

    name = NAME

    def __init__(self, config: Mapping[str, Any], block_class: int) -> None:
        bx, by, bz = (int(v) for v in config["block_size"])
        self.shape = (bz, by, bx)
        self.codec = codec_from_dict(dict(config["codec"]))
        self.block_class = block_class
        self._voxel_bytes = bx * by * bz * np.dtype(np.uint64).itemsize

    def _is_block(self, tkey: bytes) -> bool:
        return len(tkey) == TKEY_LEN and tkey[0] == self.block_class

    def _convertible(self, tkey: bytes, stored: bytes) -> memoryview | None:
        """The payload of a stored value that goes as a label Block, else None."""
        head = len(VALUE_PREFIX)
        if not self._is_block(tkey) or len(stored) <= head or stored[:head] != VALUE_PREFIX:
            return None
        payload = memoryview(stored)[len(VALUE_PREFIX) :]
        cid = payload_codec(payload)
        # codec-4 label blocks were written without label sets: the receiver would
        # store them as 5 (encode_labelled), with another digest, and ask again
        if cid in (LABELBLOCK_ZSTD, ZSTD_TILED) or cid not in self.codec.codec_ids:
            return None
        return payload

    def encode(self, tkey: bytes, stored: bytes) -> bytes | None:
        """The wire payload of a stored value, or None to send it as it is."""
        payload = self._convertible(tkey, stored)
        if payload is None:
            return None
        block = decode_into(payload, scratch(self.shape, np.dtype(np.uint64), "wire"))
        return _WIRE.encode(block)

    def floor_seconds(self, tkey: bytes, stored: bytes) -> float | None:
        """Seconds that writing the block's voxels takes at least (:data:`WRITE_BOUND`),
        which :meth:`encode` does first in decoding it (None: not converted): the least
        a conversion costs, for deciding against it without converting anything. It
        used to time a real decode: 4-12 ms of a pull's GIL (first use of the codec and
        its scratch memory, beside the other streams) to learn that a loopback link
        outruns any conversion."""
        if self._convertible(tkey, stored) is None:
            return None
        return self._voxel_bytes / WRITE_BOUND

    def decode(self, tkey: bytes, wire: bytes) -> bytes:
        """The stored value this side keeps for a wire payload (the caller checks its digest)."""
        if not self._is_block(tkey) or not wire or payload_codec(wire) != LABELBLOCK_ZSTD:
            raise CorruptDataError("a labelblock wire value is not a label block")
        block = decode_into(wire, scratch(self.shape, np.dtype(np.uint64), "wire"))
        if isinstance(self.codec, ZstdCodec):
            return self.codec.encode_labelled(block, VALUE_PREFIX)
        return self.codec.encode(block, VALUE_PREFIX)

    def encode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
        """:meth:`encode` of ``(tkey, stored)`` pairs on the block thread pool."""
        return parallel_map(lambda it: self.encode(it[0], it[1]), items, min_items=2)

    def decode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """:meth:`decode` of ``(tkey, wire)`` pairs on the block thread pool."""
        return parallel_map(lambda it: self.decode(it[0], it[1]), items, min_items=2)


__all__ = ["NAME", "LabelBlockWire"]
