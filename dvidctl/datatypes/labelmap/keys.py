"""labelmap type keys: blocks under class 186 (DVID's ``keyLabelBlock``); layout in
:mod:`dvidctl.datatypes.imageblk.blockkeys` (extents under 24, the max label under 237)."""

from __future__ import annotations

from dvidctl.datatypes.imageblk.blockkeys import EXTENTS_TKEY, MAXLABEL_TKEY, describer

CLASS_BLOCK = 186
#: Readable form of a labelmap type key.
describe = describer(CLASS_BLOCK)

__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "MAXLABEL_TKEY", "describe"]
