"""uint8blk type keys: blocks under class 23 (DVID's ``keyImageBlock``); layout in
:mod:`dvidctl.datatypes.imageblk.blockkeys` (extents under 24)."""

from __future__ import annotations

from dvidctl.datatypes.imageblk.blockkeys import EXTENTS_TKEY, describer

CLASS_BLOCK = 23
#: Readable form of a uint8blk type key.
describe = describer(CLASS_BLOCK)

__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "describe"]
