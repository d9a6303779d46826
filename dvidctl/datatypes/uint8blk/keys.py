"""uint8blk type keys: blocks under class 23 (DVID's ``keyImageBlock``), extents under 24.

A block key is ``23 | scale | z | y | x`` (see :mod:`dvidctl.datatypes.blocks`);
the extents key is the single byte 24 (DVID's imageblk ``metaKeyClass``).
"""

from __future__ import annotations

from dvidctl.datatypes.blocks import TKEY_LEN, block_tkey, describe_block_tkey
from dvidctl.datatypes.voxelconfig import EXTENTS_TKEY, describe_meta_tkey

CLASS_BLOCK = 23


def tkey(scale: int, x: int, y: int, z: int) -> bytes:
    """Type key of the block at block coordinate ``(x, y, z)`` (DVID order) and ``scale``."""
    return block_tkey(CLASS_BLOCK, scale, z, y, x)


def describe(tk: bytes) -> str:
    """Readable form of a uint8blk type key."""
    if len(tk) == TKEY_LEN and tk[0] == CLASS_BLOCK:
        return describe_block_tkey(tk)
    return describe_meta_tkey(tk) or tk.hex()


__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "describe", "tkey"]
