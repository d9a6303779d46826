"""uint8blk type keys: blocks under class 23 (DVID's ``keyImageBlock``); layout in
:mod:`dvidctl.datatypes.imageblk.blockkeys` (extents under 24)."""

from __future__ import annotations

from dvidctl.datatypes.imageblk.blockkeys import EXTENTS_TKEY, describer, pyramid_checker

CLASS_BLOCK = 23
#: Readable form of a uint8blk type key.
describe = describer(CLASS_BLOCK)
#: Pyramid blocks (scales above 0): derived from scale 0, rebuilt on merge.
is_derived = pyramid_checker(CLASS_BLOCK)

__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "describe", "is_derived"]
