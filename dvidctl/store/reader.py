"""Reads of one instance at one node from a single consistent view of the database.

A value stored over several type keys (a large keyvalue value: a manifest and its
pieces) must be read from one view, so that a write landing between two reads
cannot give the manifest of one version and the pieces of another (or pieces
that the write just deleted). :func:`view_reader` makes a :class:`ViewReader`:
two cursors created together under the store's write lock (every write is
applied under it), one for point reads and one for a range walk, so a caller
may interleave both and still see one state of the database.

:func:`prefix_finder` (and :func:`any_stored`) tell whether any version of a
type-key prefix is stored, by a seek, without reading a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from dvidctl.store.engine import CF_DATA, Cursor, prefix_end
from dvidctl.store.keys import HDR_VALUE, data_prefix, u32

if TYPE_CHECKING:
    from dvidctl.store.versioned import VersionedStore


class ViewReader:
    """Point reads and scans of instance ``iid`` at node ``vid``, all from one view."""

    def __init__(
        self, store: VersionedStore, vid: int, iid: int, point: Cursor, walk: Cursor
    ) -> None:
        self._store = store
        self.vid = vid
        self.iid = iid
        self._point = point
        self._walk = walk

    def get(self, tkey: bytes) -> memoryview | None:
        """The payload of ``tkey`` visible at the node, or None (absent or deleted)."""
        stop = prefix_end(tkey)
        if stop is None:
            raise ValueError("a type key of only 0xFF bytes has no range")
        rows = self._store._walk_ranges(self._point, self.vid, self.iid, [(tkey, stop)])
        for row in rows:
            for tk, stored in row:
                if tk == tkey and stored[0] == HDR_VALUE:
                    return memoryview(stored)[1:]
        return None

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, memoryview]]:
        """``(tkey, payload)`` of live values with ``start <= tkey < stop``, in key order.

        Values are read lazily, one at a time; :meth:`get` may be called meanwhile.
        """
        store = self._store
        base = u32(self.iid)
        anc = store.dag.ancestors(self.vid)
        for tk, stored in store._forward(self._walk, self.vid, anc, base + start, base + stop):
            if stored[0] == HDR_VALUE:
                yield tk, memoryview(stored)[1:]


def view_reader(store: VersionedStore, vid: int, iid: int) -> ViewReader:
    """Reads of instance ``iid`` at ``vid`` in ``store``, from one consistent view."""
    with store.write_lock:  # no write lands between the two cursors
        point, walk = store.engine.cursor(CF_DATA), store.engine.cursor(CF_DATA)
    return ViewReader(store, vid, iid, point, walk)


def prefix_finder(store: VersionedStore, iid: int) -> Callable[[bytes], bool]:
    """``found(prefix)``: whether any version (any node, tombstones too) of a type key
    of ``iid`` starts with ``prefix``; one seek each, no value read, all on one cursor."""
    cur = store.engine.cursor(CF_DATA)

    def found(prefix: bytes) -> bool:
        start = data_prefix(iid, prefix)
        cur.seek(start)
        hit = cur.valid() and cur.key().startswith(start)
        cur.status()
        return hit

    return found


def any_stored(store: VersionedStore, iid: int, prefix: bytes) -> bool:
    """:func:`prefix_finder` for one prefix."""
    return prefix_finder(store, iid)(prefix)
