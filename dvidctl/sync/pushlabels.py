"""A labelmap node's state outside its blocks, pushed through DVID's endpoints.

After the node's supervoxel blocks (``POST blocks``, :mod:`dvidctl.sync.pushdvid`):

* the mapping keys the node wrote, as DVID's ``POST mappings`` (``MappingOps``):
  each supervoxel with its body at the node (itself where the node unmapped it);
* the label indexes the node wrote, as ``POST indices`` (``LabelIndices``; an index
  without rows removes it there), last, so that they replace whatever the server's
  own upkeep made of the blocks and the mapping (DVID's ``POST mappings`` does not
  touch its indexes): the server then answers sizes, sparse volumes, supervoxels
  and ``lastmod`` as this side does.

The mutation log (``mutations``, ``history``) does not travel: DVID has no endpoint
that takes one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl.datatypes.labelmap.keys import (
    CLASS_INDEX,
    CLASS_MAPPING,
    LABEL_TKEY_LEN,
    tkey_label,
)
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.sync.dvidblocks import Retry, post_indices, post_mappings
from dvidctl.sync.results import Stats


def _labels(tkeys: list[bytes], cls: int) -> list[int]:
    return [tkey_label(t) for t in tkeys if len(t) == LABEL_TKEY_LEN and t[0] == cls]


def push_label_state(
    local: Any, there: Any, tkeys: list[bytes], retry: Retry[Any], stats: Stats
) -> None:
    """Send the mapping and index keys among the node's own ``tkeys``."""
    svs = np.asarray(_labels(tkeys, CLASS_MAPPING), np.uint64)
    if len(svs):
        bodies = local.labelstore.bodies_of(svs)
        stats.bytes += post_mappings(there, svs, bodies, retry)
        stats.keys += len(svs)
        stats.batches += 1
    bodies_written = _labels(tkeys, CLASS_INDEX)
    if bodies_written:
        got = local.indices(bodies_written)
        indexes = [
            idx if idx is not None else LabelIndex(label)
            for label, idx in zip(bodies_written, got, strict=True)
        ]
        stats.bytes += post_indices(there, indexes, retry)
        stats.keys += len(indexes)
        stats.batches += 1


__all__ = ["push_label_state"]
