"""labelmap type keys (DVID's labelmap ``keys.go`` classes where DVID has one).

* blocks: class 186 (``keyLabelBlock``), layout in
  :mod:`dvidctl.datatypes.imageblk.blockkeys`; extents under 24, the max label under 237;
* label indexes: ``187 | body u64 BE`` (``keyLabelIndex``) -> :class:`LabelIndex` bytes.
  Derived data (from the scale-0 blocks and the mapping): a merge rebuilds them;
* supervoxel -> body mapping: ``189 | sv u64 BE`` -> ``u64 LE`` body (0: a supervoxel
  retired by a split). No key: the supervoxel is its own body. DVID keeps the
  mapping in a mutation log; here it is versioned data, so it syncs and merges like blocks;
* mutation log: ``191 | mutation id u64 BE | node UUID (16 bytes)`` -> JSON record of
  one merge, cleave, split, split-supervoxel or renumber, written at the node that made
  it (:mod:`.mutlog`; logs written before the UUID was part of the key have 9-byte keys);
* the last mutation id: ``192`` -> ``u64 LE`` (versioned; merges take the max).
"""

from __future__ import annotations

import struct

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import (
    EXTENTS_TKEY,
    MAXLABEL_TKEY,
    describer,
    pyramid_checker,
)

CLASS_BLOCK = 186
CLASS_INDEX = 187
CLASS_MAPPING = 189
CLASS_MUTATION = 191
MUTID_TKEY = bytes([192])
LABEL_TKEY_LEN = 9

_BLOCKS = describer(CLASS_BLOCK)
_PYRAMID = pyramid_checker(CLASS_BLOCK)
_U64 = struct.Struct(">Q")
_TK_DTYPE = np.dtype([("c", "u1"), ("v", ">u8")])


def label_tkey(cls: int, label: int) -> bytes:
    """``cls | label u64 BE``."""
    return bytes([cls]) + _U64.pack(label)


def label_tkeys(cls: int, labels: np.ndarray) -> list[bytes]:
    """:func:`label_tkey` for many labels at once."""
    rec = np.empty(len(labels), _TK_DTYPE)
    rec["c"], rec["v"] = cls, np.asarray(labels, np.uint64)
    raw = rec.tobytes()
    return [raw[i : i + LABEL_TKEY_LEN] for i in range(0, len(raw), LABEL_TKEY_LEN)]


def tkey_label(tkey: bytes) -> int:
    """The label of a :func:`label_tkey`."""
    return int(_U64.unpack_from(tkey, 1)[0])


def class_range(cls: int) -> tuple[bytes, bytes]:
    """Scan bounds of every key of one class."""
    return bytes([cls]), bytes([cls + 1])


def index_range(first: int, last: int) -> tuple[bytes, bytes]:
    """Scan bounds of the label indexes of labels ``first..last`` (inclusive)."""
    stop = label_tkey(CLASS_INDEX, last + 1) if last < 2**64 - 1 else bytes([CLASS_INDEX + 1])
    return label_tkey(CLASS_INDEX, first), stop


_NAMES = {CLASS_INDEX: "index", CLASS_MAPPING: "mapping", CLASS_MUTATION: "mutation"}


def describe(tk: bytes) -> str:
    """Readable form of a labelmap type key."""
    if len(tk) == LABEL_TKEY_LEN and tk[0] in _NAMES:
        return f"{_NAMES[tk[0]]} {tkey_label(tk)}"
    if len(tk) == LABEL_TKEY_LEN + 16 and tk[0] == CLASS_MUTATION:
        return f"mutation {tkey_label(tk)} at {tk[LABEL_TKEY_LEN:].hex()}"
    if tk == MUTID_TKEY:
        return "last mutation id"
    return str(_BLOCKS(tk))


def is_derived(tk: bytes) -> bool:
    """Derived keys: pyramid blocks (scales above 0) and label indexes."""
    return bool(_PYRAMID(tk)) or (len(tk) == LABEL_TKEY_LEN and tk[0] == CLASS_INDEX)


__all__ = [
    "CLASS_BLOCK",
    "CLASS_INDEX",
    "CLASS_MAPPING",
    "CLASS_MUTATION",
    "EXTENTS_TKEY",
    "MAXLABEL_TKEY",
    "MUTID_TKEY",
    "class_range",
    "describe",
    "index_range",
    "is_derived",
    "label_tkey",
    "label_tkeys",
    "tkey_label",
]
