"""labelmap type keys: blocks under class 186 (DVID's ``keyLabelBlock``); layout in
:mod:`dvidctl.datatypes.imageblk.blockkeys` (extents under 24, the max label under 237)."""

from __future__ import annotations

from dvidctl.datatypes.imageblk.blockkeys import (
    EXTENTS_TKEY,
    MAXLABEL_TKEY,
    describer,
    pyramid_checker,
)

CLASS_BLOCK = 186
#: Readable form of a labelmap type key.
describe = describer(CLASS_BLOCK)
#: Pyramid blocks (scales above 0): derived from scale 0, rebuilt on merge.
is_derived = pyramid_checker(CLASS_BLOCK)

__all__ = ["CLASS_BLOCK", "EXTENTS_TKEY", "MAXLABEL_TKEY", "describe", "is_derived"]
