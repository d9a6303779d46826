"""labelmap type keys: blocks under class 186 (DVID's ``keyLabelBlock``), metadata beside them.

A block key is ``186 | scale | z | y | x`` (see :mod:`dvidctl.datatypes.blocks`);
the extents key is the byte 24 and the max label key the byte 237 (DVID's
``keyLabelMax``), both versioned.
"""

from __future__ import annotations

from dvidctl.datatypes.blocks import TKEY_LEN, block_tkey, describe_block_tkey
from dvidctl.datatypes.voxelconfig import EXTENTS_TKEY, MAXLABEL_TKEY, describe_meta_tkey

CLASS_BLOCK = 186


def tkey(scale: int, x: int, y: int, z: int) -> bytes:
    """Type key of the block at block coordinate ``(x, y, z)`` (DVID order) and ``scale``."""
    return block_tkey(CLASS_BLOCK, scale, z, y, x)


def describe(tk: bytes) -> str:
    """Readable form of a labelmap type key."""
    if len(tk) == TKEY_LEN and tk[0] == CLASS_BLOCK:
        return describe_block_tkey(tk)
    return describe_meta_tkey(tk) or tk.hex()


__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "MAXLABEL_TKEY", "describe", "tkey"]
