"""The versioned label state of one labelmap at one node: mapping and label indexes.

* **Mapping** keys ``189 | sv`` hold the body of a supervoxel that is not its own
  body (merged, cleaved, split off) or 0 for a supervoxel a split retired. A
  supervoxel without a key is its own body. Merges rewrite the keys of every
  supervoxel of the merged body, so the mapping is always one step (sv -> body).
* **Index** keys ``187 | body`` hold :class:`~.labelindex.LabelIndex` bytes.

Reads take several keys through one store call (one cursor); with ``through`` a
batch being built reads as it will write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.labelmap.counting import unique
from dvidctl.datatypes.labelmap.keys import (
    CLASS_INDEX,
    CLASS_MAPPING,
    class_range,
    label_tkey,
    label_tkeys,
)
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.store.engine import prefix_end
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance

_U64LE = np.dtype("<u8")
#: An index type key: class byte, label u64 BE.
_TK = np.dtype([("c", "u1"), ("v", ">u8")])
#: Labels at most this far apart are read as one range by get_indexes.
_GAP = 64


class LabelStore:
    """Mapping and index keys of one instance, read at its node."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst

    # -------------------------------------------------------------- raw keys
    def get_keys(
        self, tkeys: Sequence[bytes], through: VersionedBatch | None = None
    ) -> list[memoryview | None]:
        """Payloads of fixed-length type keys (None when absent), in order, one view."""
        if not tkeys:
            return []
        ranges = [(tk, prefix_end(tk) or b"\xff" * 10) for tk in tkeys]
        got = self.inst.node.store.iter_payload_ranges(
            self.inst.vid, self.inst.iid, ranges, through=through
        )
        return [row[0][1] if row else None for row in got]

    def _scan_class(
        self, cls: int, through: VersionedBatch | None = None
    ) -> list[tuple[bytes, memoryview]]:
        lo, hi = class_range(cls)
        return self.inst.node.store.payload_ranges(
            self.inst.vid, self.inst.iid, [(lo, hi)], through=through
        )[0]

    # --------------------------------------------------------------- mapping
    def has_mapping(self, through: VersionedBatch | None = None) -> bool:
        """Whether any supervoxel is mapped to another body (or retired) at this node."""
        lo, hi = class_range(CLASS_MAPPING)
        if through is not None and not through.streamed:
            iid = self.inst.iid
            if any(
                i == iid and tk[:1] == lo and v is not None for (i, tk), v in through.values.items()
            ):
                return True
        return (
            next(iter(self.inst.node.store.scan(self.inst.vid, self.inst.iid, lo, hi)), None)
            is not None
        )

    def bodies_of(
        self, svs: np.ndarray | Iterable[int], through: VersionedBatch | None = None
    ) -> np.ndarray:
        """The body of each supervoxel (itself when unmapped, 0 when retired), in order."""
        arr = np.asarray(list(svs) if not isinstance(svs, np.ndarray) else svs, np.uint64)
        out = arr.copy()
        if not len(arr) or not self.has_mapping(through):
            return out
        u, inv = np.unique(arr, return_inverse=True)
        got = self.get_keys(label_tkeys(CLASS_MAPPING, u), through)
        mapped = u.copy()
        for i, v in enumerate(got):
            if v is not None:
                mapped[i] = np.frombuffer(v, _U64LE)[0]
        return mapped[inv.reshape(-1)]

    def mapping_arrays(
        self, through: VersionedBatch | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every mapped supervoxel (ascending) and its body."""
        rows = self._scan_class(CLASS_MAPPING, through)
        if not rows:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        svs = np.array([int.from_bytes(tk[1:9], "big") for tk, _ in rows], np.uint64)
        bodies = np.frombuffer(b"".join(bytes(v) for _, v in rows), _U64LE).astype(np.uint64)
        return svs, bodies

    def put_mapping(self, batch: VersionedBatch, svs: np.ndarray, bodies: np.ndarray) -> None:
        """Queue ``sv -> body`` for each pair (an identity pair removes the key)."""
        iid = self.inst.iid
        for sv, body in zip(
            np.asarray(svs, np.uint64).tolist(), np.asarray(bodies, np.uint64).tolist(), strict=True
        ):
            tk = label_tkey(CLASS_MAPPING, sv)
            if sv == body:
                batch.delete(iid, tk)
            else:
                batch.put(iid, tk, int(body).to_bytes(8, "little"))

    # ---------------------------------------------------------------- indexes
    def get_index(self, body: int, through: VersionedBatch | None = None) -> LabelIndex | None:
        """The index of ``body``, or None."""
        return self.get_indexes([body], through)[0]

    def get_indexes(
        self, bodies: Sequence[int] | np.ndarray, through: VersionedBatch | None = None
    ) -> list[LabelIndex | None]:
        """The index of each body (None where it has none), in order."""
        return [
            None if v is None else LabelIndex.decode(v)
            for v in self.get_raw_indexes(bodies, through)
        ]

    def get_raw_indexes(
        self, bodies: Sequence[int] | np.ndarray, through: VersionedBatch | None = None
    ) -> list[memoryview | None]:
        """The stored index of each body (None where it has none), in order.

        Bodies close in label space are read as one range (one cursor walk instead of
        a seek per body: a large write touches thousands of neighbouring labels).
        """
        arr = np.asarray(bodies, np.uint64)
        if len(arr) < 16:
            return self.get_keys(label_tkeys(CLASS_INDEX, arr), through)
        u = unique(arr)
        gaps = np.flatnonzero(np.diff(u) > _GAP) + 1
        firsts, lasts = u[np.r_[0, gaps]], u[np.r_[gaps, len(u)] - 1]
        ranges = [
            (
                label_tkey(CLASS_INDEX, int(a)),
                prefix_end(label_tkey(CLASS_INDEX, int(b))) or b"\xff",
            )
            for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True)
        ]
        got = self.inst.node.store.iter_payload_ranges(
            self.inst.vid, self.inst.iid, ranges, through=through
        )
        rows = [item for row in got for item in row]  # ascending: the ranges are in order
        if not rows:
            return [None] * len(arr)
        # Each body's position among the labels found: one search, not a dict of ints.
        labels = np.frombuffer(b"".join([tk for tk, _ in rows]), _TK)["v"]
        at = np.minimum(np.searchsorted(labels, arr), len(labels) - 1)
        hit = labels[at] == arr
        payloads = [v for _, v in rows]
        return [payloads[i] if h else None for i, h in zip(at.tolist(), hit.tolist(), strict=True)]

    def put_raw_indexes(
        self, batch: VersionedBatch, bodies: np.ndarray, payloads: Sequence[bytes | None]
    ) -> None:
        """Queue stored indexes (None deletes the key), in label order."""
        batch.put_many(self.inst.iid, label_tkeys(CLASS_INDEX, bodies), payloads)

    def put_index(self, batch: VersionedBatch, idx: LabelIndex) -> None:
        """Queue ``idx`` (an index without rows deletes the key)."""
        tk = label_tkey(CLASS_INDEX, idx.label)
        if len(idx):
            batch.put(self.inst.iid, tk, idx.encode())
        else:
            batch.delete(self.inst.iid, tk)

    def delete_index(self, batch: VersionedBatch, body: int) -> None:
        """Queue the removal of ``body``'s index."""
        batch.delete(self.inst.iid, label_tkey(CLASS_INDEX, body))

    def indexed_labels(
        self, start: int = 0, stop: int | None = None, through: VersionedBatch | None = None
    ) -> list[tuple[int, memoryview]]:
        """``(body, stored index)`` of every indexed body in ``[start, stop)``, ascending."""
        lo = label_tkey(CLASS_INDEX, start)
        hi = (
            label_tkey(CLASS_INDEX, stop)
            if stop is not None and stop < 2**64
            else bytes([CLASS_INDEX + 1])
        )
        rows = self.inst.node.store.payload_ranges(
            self.inst.vid, self.inst.iid, [(lo, hi)], through=through
        )[0]
        return [(int.from_bytes(tk[1:9], "big"), v) for tk, v in rows]


__all__ = ["LabelStore"]
