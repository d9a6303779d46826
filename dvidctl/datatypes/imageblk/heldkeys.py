"""Which type keys of a voxel instance a partial clone holds (:mod:`dvidctl.store.held`).

Block keys (``class | scale | z | y | x``) are held when their block is in the
selection at their scale; every other key (the extents, the max label) is held,
so a partial copy answers the instance's metadata as the source does. Used on
both sides of a sync: the sender lists only what the receiver keeps, and the
receiver checks it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dvidctl.datatypes import registry
from dvidctl.datatypes.imageblk.blockkeys import OFFSET, TKEY_LEN
from dvidctl.store.held import Held, Triple


def block_layout(typename: str, config: Mapping[str, Any]) -> tuple[int, Triple] | None:
    """``(key class, block shape ZYX)`` of a voxel type's instance; None for other types."""
    cls = registry.get(typename).instance_class
    key_class = getattr(cls, "key_class", None)
    if key_class is None or "block_size" not in config:
        return None
    x, y, z = config["block_size"]
    return int(key_class), (int(z), int(y), int(x))


def keep_keys(held: Held, key_class: int, bs: Triple, tkeys: Sequence[bytes]) -> np.ndarray:
    """A bool mask over ``tkeys``: True for the keys ``held`` keeps."""
    if not tkeys:
        return np.zeros(0, bool)
    width = max(len(t) for t in tkeys)
    arr = np.array(list(tkeys), dtype=f"S{max(1, width)}")
    return keep_array(held, key_class, bs, arr, np.fromiter(map(len, tkeys), np.int64, len(tkeys)))


def keep_array(
    held: Held, key_class: int, bs: Triple, keys: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """:func:`keep_keys` over NUL-padded fixed-width keys (``S<w>``) and their real lengths."""
    n = len(keys)
    mask = np.ones(n, bool)
    width = keys.dtype.itemsize
    if not n or width < TKEY_LEN:
        return mask
    raw = np.frombuffer(np.ascontiguousarray(keys).tobytes(), np.uint8).reshape(n, width)
    blk = np.nonzero((np.asarray(lengths) == TKEY_LEN) & (raw[:, 0] == key_class))[0]
    if not len(blk):
        return mask
    rows = raw[blk]
    scales = rows[:, 1].astype(np.int64)
    zyx = np.ascontiguousarray(rows[:, 2:TKEY_LEN]).view(">u4").reshape(-1, 3)
    coords = (zyx.astype(np.uint32) ^ np.uint32(OFFSET)).view(np.int32).astype(np.int64)
    for s in np.unique(scales).tolist():
        sel = scales == s
        mask[blk[sel]] = held.keep(int(s), coords[sel], bs)
    return mask
