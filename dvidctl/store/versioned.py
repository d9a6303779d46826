"""Versioned key-values over an engine: writes at a node, reads resolved through the DAG.

A value is stored under its type key *at the version that wrote it*; a delete
writes a tombstone. Reading key K at node V takes the versions of K that are
ancestors of V (V included) and keeps those that no other such version
descends from. One left: that is the value (or "absent" for a tombstone).
Several with different bytes: an unresolved merge conflict, which
:mod:`dvidctl.store.mergeplan` prevents by writing the resolution into the merge
node. Every write also records ``(version, instance, type key) -> digest`` in the
delta index, in the same atomic batch, so diff, merge and sync can list what a
node changed without scanning data.

The rule that committed nodes refuse writes is enforced here, once, for every
datatype (:meth:`VersionedStore.apply`). A batch made with ``allow_locked``
(DVID's ``fullwrite`` mode, or a request with admin privilege) may write a
committed node: it goes through the same path, so the node's delta index shows
the change, and the node record counts it (``writes_after_commit``) in the same
atomic write, so whatever trusts committed nodes to be immutable (sync, log)
can tell.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from dvidctl.errors import LockedNodeError, MergeConflictError, NotFoundError
from dvidctl.store import gcpause, metadata
from dvidctl.store.batch import (
    VALUE_PREFIX,
    Stored,
    StreamedValueError,
    VersionedBatch,
    frame,
    payload_of,
)
from dvidctl.store.dag import Dag, NodeRecord, now_iso
from dvidctl.store.engine import CF_DATA, CF_DELTA, Cursor, KVEngine, WriteBatch, prefix_end
from dvidctl.store.keys import (
    HDR_TOMBSTONE,
    HDR_VALUE,
    TOMBSTONE,
    TOMBSTONE_DIGEST,
    data_prefix,
    delta_key,
    digest,
    read_u32,
    split_delta_key,
    u32,
)

__all__ = [  # the batch types are defined in .batch; callers import them here too
    "VALUE_PREFIX",
    "Stored",
    "StreamedValueError",
    "VersionedBatch",
    "VersionedStore",
    "frame",
    "payload_of",
]

#: A batch of this many keys or more is applied with the cyclic collector paused
#: (:mod:`.gcpause`: its per-key objects would make it walk the heap again and again).
_MANY_KEYS = 10_000


class VersionedStore:
    """Resolved reads and atomic versioned writes over a :class:`KVEngine`.

    Args:
        engine: The engine holding ``data`` and ``delta``.
        dag: The repository DAG (shared with the metadata layer, kept current).
    """

    def __init__(self, engine: KVEngine, dag: Dag) -> None:
        self.engine = engine
        self.dag = dag
        #: Serialises every write with node-state changes (commit locks a node).
        self.write_lock = threading.RLock()
        #: Batches applied per node since this store was made, under a token of its own:
        #: ``write_stamp`` tells sync whether an open node changed since it last looked.
        self._writes: dict[int, int] = {}
        self._epoch = os.urandom(6).hex()
        self._receiving: set[int] = set()

    @contextmanager
    def receiving(self, vid: int) -> Iterator[None]:
        """Let writes reach incoming node ``vid`` meanwhile (sync replaying a node's data).

        Only for a sync that writes a node through the datatypes rather than as stored
        values (the DVID-endpoint fallback); users never get this.
        """
        with self.write_lock:
            self._receiving.add(vid)
        try:
            yield
        finally:
            with self.write_lock:
                self._receiving.discard(vid)

    def is_receiving(self, vid: int) -> bool:
        """Whether sync is replaying node ``vid`` now (:meth:`receiving`)."""
        return vid in self._receiving

    def write_stamp(self, vid: int) -> str:
        """A string that changes whenever node ``vid`` is written (and on every reopen)."""
        return f"{self._epoch}:{self._writes.get(vid, 0)}"

    # ----------------------------------------------------------------- reads
    def versions(self, iid: int, tkey: bytes) -> list[tuple[int, Stored]]:
        """Every stored version of ``tkey`` as ``(version id, stored value)``."""
        prefix = data_prefix(iid, tkey)
        n = len(prefix) + 4
        return [
            (read_u32(k, n - 4), v)
            for k, v in self.engine.scan(CF_DATA, prefix, prefix_end(prefix))
            if len(k) == n
        ]

    def payload_versions(self, iid: int, tkey: bytes) -> list[tuple[int, memoryview]]:
        """``(version id, payload)`` of every live stored version of ``tkey``."""
        out = []
        for vid, stored in self.versions(iid, tkey):
            payload = payload_of(stored)
            if payload is not None:
                out.append((vid, payload))
        return out

    def resolve(
        self, entries: list[tuple[int, Stored]], vid: int, *, exclude_self: bool = False
    ) -> Stored | None:
        """Pick the visible stored value among ``entries`` at node ``vid``.

        Returns the stored value (possibly a tombstone) or None when no version
        is visible. Raises MergeConflictError when several unrelated versions with
        different bytes are visible.
        """
        anc = self.dag.ancestors(vid)
        cands = [e for e in entries if e[0] in anc and not (exclude_self and e[0] == vid)]
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0][1]
        top = max(cands, key=lambda e: e[0])
        top_anc = self.dag.ancestors(top[0])
        if all(e[0] in top_anc for e in cands):
            return top[1]
        dag = self.dag
        maximal = [
            c for c in cands if not any(c[0] != d[0] and c[0] in dag.ancestors(d[0]) for d in cands)
        ]
        values = {m[1] for m in maximal}
        if len(values) == 1:
            return maximal[0][1]
        raise MergeConflictError(
            "a key has different values on several merged parents",
            hint="merge with --strategy ours|theirs, or write the key in the merge node",
            details={"versions": sorted(m[0] for m in maximal)},
        )

    def get_stored(self, vid: int, iid: int, tkey: bytes) -> Stored | None:
        """The visible stored value of ``tkey`` at ``vid`` (tombstones included)."""
        return self.resolve(self.versions(iid, tkey), vid)

    def get(self, vid: int, iid: int, tkey: bytes) -> memoryview | None:
        """The payload of ``tkey`` visible at ``vid``, or None if absent or deleted."""
        return payload_of(self.get_stored(vid, iid, tkey))

    def get_many(self, vid: int, iid: int, tkeys: Iterable[bytes]) -> list[memoryview | None]:
        """:meth:`get` for each key, in order."""
        return [self.get(vid, iid, t) for t in tkeys]

    def scan_stored(
        self, vid: int, iid: int, start: bytes, stop: bytes | None
    ) -> Iterator[tuple[bytes, Stored]]:
        """Yield ``(tkey, stored)`` visible at ``vid`` for ``start <= tkey < stop``.

        Tombstones are included; one pass over the range resolves every key.
        The bounds are compared with the version suffix attached, so they must
        not have a stored type key as a proper prefix (true for fixed-length
        keys and for terminated keys such as keyvalue's).
        """
        base = u32(iid)
        hi = base + stop if stop is not None else prefix_end(base)
        cur = self.engine.cursor(CF_DATA)
        yield from self._forward(cur, vid, self.dag.ancestors(vid), base + start, hi)

    def _forward(
        self,
        cur: Cursor,
        vid: int,
        anc: frozenset[int],
        lo: bytes,
        hi: bytes | None,
        skip: Container[bytes] = (),
    ) -> Iterator[tuple[bytes, Stored]]:
        """Walk data keys ``lo <= k < hi`` and resolve each type key's versions at ``vid``.

        Only versions in ``anc`` (``vid``'s ancestors) have their values copied;
        type keys in ``skip`` are stepped over unresolved.
        """
        group = b""  # the type key of ``entries`` (any value while they are empty)
        entries: list[tuple[int, Stored]] = []
        cur.seek(lo)
        while cur.valid():
            k = cur.key()
            if hi is not None and k >= hi:
                break
            tk = k[4:-4]
            if tk != group:
                if entries and group not in skip:
                    # One visible version (the common case) is the value: nothing to resolve.
                    found = entries[0][1] if len(entries) == 1 else self.resolve(entries, vid)
                    if found is not None:
                        yield group, found
                group, entries = tk, []
            v = read_u32(k, len(k) - 4)
            if v in anc:
                entries.append((v, cur.value()))
            cur.next()
        cur.status()
        if entries and group not in skip:
            found = self.resolve(entries, vid)
            if found is not None:
                yield group, found

    def payload_ranges(
        self,
        vid: int,
        iid: int,
        ranges: Sequence[tuple[bytes, bytes]],
        *,
        through: VersionedBatch | None = None,
    ) -> list[list[tuple[bytes, memoryview]]]:
        """:meth:`iter_ranges` as payloads: per range, the live ``(tkey, payload)`` in order.

        With ``through``, the keys that batch writes read as it will write them (a
        queued delete reads as absent) and the stored versions of those keys are not
        resolved, so a batch that settles a merge conflict can read its own result.
        """
        return list(self.iter_payload_ranges(vid, iid, ranges, through=through))

    def iter_payload_ranges(
        self,
        vid: int,
        iid: int,
        ranges: Sequence[tuple[bytes, bytes]],
        *,
        through: VersionedBatch | None = None,
    ) -> Iterator[list[tuple[bytes, memoryview]]]:
        """:meth:`payload_ranges` one range at a time, all from the view as of the call.

        A reader that decodes as it goes holds one range's values at a time, not all.
        """
        if through is None:
            got = self.iter_ranges(vid, iid, ranges)
        else:
            got = self._ranges_through(vid, iid, ranges, through)
        return ([(tk, memoryview(v)[1:]) for tk, v in row if v[0] == HDR_VALUE] for row in got)

    def _ranges_through(
        self, vid: int, iid: int, ranges: Sequence[tuple[bytes, bytes]], batch: VersionedBatch
    ) -> Iterator[list[tuple[bytes, Stored]]]:
        queued = {tk: v for (i, tk), v in batch.held().items() if i == iid}
        # The cursor is made now, not at the first next(): the view is as of the call.
        return self._walk_through(self.engine.cursor(CF_DATA), vid, iid, ranges, queued)

    def _walk_through(
        self,
        cur: Cursor,
        vid: int,
        iid: int,
        ranges: Sequence[tuple[bytes, bytes]],
        queued: dict[bytes, Stored | None],
    ) -> Iterator[list[tuple[bytes, Stored]]]:
        order = sorted(queued)
        anc = self.dag.ancestors(vid)
        base = u32(iid)
        for start, stop in ranges:
            stored = list(self._forward(cur, vid, anc, base + start, base + stop, queued))
            lo, hi = bisect.bisect_left(order, start), bisect.bisect_left(order, stop)
            mine = [(tk, queued[tk] or TOMBSTONE) for tk in order[lo:hi]]
            yield sorted(stored + mine) if mine else stored

    def scan_ranges(
        self, vid: int, iid: int, ranges: Sequence[tuple[bytes, bytes]]
    ) -> list[list[tuple[bytes, Stored]]]:
        """:meth:`iter_ranges` as a list."""
        return list(self.iter_ranges(vid, iid, ranges))

    def iter_ranges(
        self, vid: int, iid: int, ranges: Sequence[tuple[bytes, bytes]]
    ) -> Iterator[list[tuple[bytes, Stored]]]:
        """Yield the ``(tkey, stored)`` visible at ``vid`` in each ``[start, stop)`` range.

        All ranges are read from one consistent view as of the call (one
        cursor), in key order, tombstones included; bounds follow
        :meth:`scan_stored`'s rule. Only the visible version's value is copied
        out of the engine: when ``vid``'s ancestry is one line, each range is
        walked newest-first and the first ancestor version of a key wins, so the
        values of older versions (and of other branches) are skipped.
        """
        # The cursor is made now, not at the first next(): the view is as of the call.
        return self._walk_ranges(self.engine.cursor(CF_DATA), vid, iid, ranges)

    def _walk_ranges(
        self, cur: Cursor, vid: int, iid: int, ranges: Sequence[tuple[bytes, bytes]]
    ) -> Iterator[list[tuple[bytes, Stored]]]:
        dag = self.dag
        anc = dag.ancestors(vid)
        base = u32(iid)
        if len(anc) > 1 and dag.is_chain(vid):
            for start, stop in ranges:
                lo, hi = base + start, base + stop
                got: list[tuple[bytes, Stored]] = []
                last = None
                cur.seek_for_prev(hi)
                while cur.valid():
                    k = cur.key()
                    if k >= hi:
                        cur.prev()
                        continue
                    if k < lo:
                        break
                    tk = k[4:-4]
                    if tk != last and read_u32(k, len(k) - 4) in anc:
                        got.append((tk, cur.value()))
                        last = tk
                    cur.prev()
                cur.status()
                got.reverse()
                yield got
            return
        for start, stop in ranges:
            yield list(self._forward(cur, vid, anc, base + start, base + stop))

    def scan(
        self, vid: int, iid: int, start: bytes = b"", stop: bytes | None = None
    ) -> Iterator[tuple[bytes, memoryview]]:
        """Yield ``(tkey, payload)`` of live values visible at ``vid`` in key order."""
        for tk, stored in self.scan_stored(vid, iid, start, stop):
            if stored[0] == HDR_VALUE:
                yield tk, memoryview(stored)[1:]

    # ---------------------------------------------------------------- deltas
    def changes(self, vid: int, iid: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        """Yield ``(instance id, tkey, digest)`` for every key node ``vid`` wrote."""
        prefix = u32(vid) if iid is None else u32(vid) + u32(iid)
        for k, d in self.engine.scan_prefix(CF_DELTA, prefix):
            _, i, tk = split_delta_key(k)
            yield i, tk, d

    def has_changes(self, vid: int, iid: int | None = None) -> bool:
        """Whether node ``vid`` has written anything (of instance ``iid``, if given)."""
        prefix = u32(vid) if iid is None else u32(vid) + u32(iid)
        return next(iter(self.engine.scan_prefix(CF_DELTA, prefix)), None) is not None

    # ---------------------------------------------------------------- writes
    def batch(
        self,
        vid: int,
        *,
        check_locked: bool = True,
        allow_locked: bool = False,
        stream: bool = False,
    ) -> VersionedBatch:
        """Start a batch of writes to node ``vid``.

        ``check_locked=False``: unversioned data, written at the root whatever its state.
        ``allow_locked=True``: the node may be committed; the write is counted on its record.
        ``stream=True``: values given in key order go to the engine as they come
        (:mod:`dvidctl.store.batch`); the node is checked now, before any is made.
        """
        data = None
        if stream:
            self.check_writable(vid, check_locked=check_locked, allow_locked=allow_locked)
            data = self.engine.data_stream()
        return VersionedBatch(
            self, vid, check_locked=check_locked, allow_locked=allow_locked, stream=data
        )

    def check_writable(
        self, vid: int, *, check_locked: bool = True, allow_locked: bool = False
    ) -> NodeRecord:
        """Return ``vid``'s record; raise unless it is an existing open node.

        Any existing node passes with ``check_locked=False`` (unversioned data) or
        ``allow_locked=True`` (DVID's fullwrite / admin privilege).
        """
        node = self.dag.nodes.get(vid)
        if node is None:
            raise NotFoundError(f"no node with version id {vid}")
        if node.incoming and vid not in self._receiving:
            raise LockedNodeError(
                f"node {node.uuid[:10]} is being received by sync and is read-only",
                hint="'dvidctl fetch' completes it; write to a node of your own branch",
            )
        if check_locked and node.locked and not allow_locked:
            raise LockedNodeError(
                f"node {node.uuid[:10]} is committed (locked) and cannot be written",
                hint="write to an open node: 'dvidctl commit' opens one, "
                "'dvidctl branch NAME' starts a branch",
            )
        return node

    def apply(self, batch: VersionedBatch) -> None:
        """Write ``batch`` atomically: data, delta index and extra metadata together.

        A delete writes a tombstone when an ancestor's value is visible;
        otherwise it removes the node's own version and its delta entry, so a
        key created and deleted in one open node leaves no trace.

        A batch that writes a committed node (``allow_locked``) also rewrites the node
        record with ``writes_after_commit`` + 1 and a new ``updated`` time, in the
        same atomic write, and deletes of the node's own keys leave tombstones, so
        every change shows in its delta index.

        The batch also says how many stored bytes it replaces in place (a key
        this node already wrote: its delta entry exists), which the engine may
        give back later (:attr:`WriteBatch.replaced_bytes`).
        """
        big = len(batch.values) + len(batch.streamed) >= _MANY_KEYS
        try:
            with self.write_lock, gcpause.paused(big):
                self._apply(batch)
        finally:
            batch.discard()  # a failed write leaves nothing streamed behind

    #: A batch writing more keys than this finds which ones the node already wrote
    #: by walking its delta entries over their span, not by point lookups.
    _SEEN_SCAN = 4096

    def _replaced_bytes(self, vid: int, sizes: dict[tuple[int, bytes], int]) -> int:
        """The sizes of the keys in ``sizes`` that node ``vid`` already wrote (delta entry)."""
        if len(sizes) <= self._SEEN_SCAN:
            puts = list(sizes)
            seen = self.engine.multi_get(CF_DELTA, [delta_key(vid, i, t) for i, t in puts])
            return sum(sizes[k] for k, d in zip(puts, seen, strict=True) if d)
        iids = {iid for iid, _ in sizes}
        total = 0
        get = sizes.get
        for iid in iids:
            if len(iids) == 1:
                lo, hi = min(sizes)[1], max(sizes)[1]
            else:
                lo = min(tk for i, tk in sizes if i == iid)
                hi = max(tk for i, tk in sizes if i == iid)
            base = u32(vid) + u32(iid)
            for k, _ in self.engine.scan(CF_DELTA, base + lo, base + hi + b"\x00"):
                total += get((iid, k[8:]), 0)
        return total

    def _apply(self, batch: VersionedBatch) -> None:
        node = self.check_writable(
            batch.vid, check_locked=batch.check_locked, allow_locked=batch.allow_locked
        )
        wb = WriteBatch()
        vid = batch.vid
        changed: NodeRecord | None = None
        if batch.check_locked and node.locked and len(batch):
            changed = replace(
                node,
                parents=list(node.parents),
                children=list(node.children),
                log=list(node.log),
                updated=now_iso(),
                writes_after_commit=node.writes_after_commit + 1,
                digests=None,  # stale now; sync computes them again when asked
            )
            metadata.put_node(wb, changed)
        streamed = (
            batch.streamed
            if batch.values.keys().isdisjoint(batch.streamed)
            else dict(batch.streamed_only())
        )
        sizes = {k: len(v) for k, v in batch.values.items() if v is not None}
        sizes.update({k: size for k, (_, size) in streamed.items()})
        # The old value's size is not in the index: the new one's stands in for it.
        wb.replaced_bytes = self._replaced_bytes(vid, sizes)
        ops = wb.ops
        tail = u32(vid)
        heads = {i: u32(i) for i in {i for i, _ in streamed} | {i for i, _ in batch.values}}
        # The streamed values are in batch.stream: only their delta entries here.
        ops += [(CF_DELTA, tail + heads[i] + tk, dg) for (i, tk), (dg, _) in streamed.items()]
        for (iid, tkey), stored in batch.values.items():
            head = heads[iid]
            dk, xk = head + tkey + tail, tail + head + tkey  # data_key, delta_key
            if stored is not None:
                ops.append((CF_DATA, dk, stored))
                ops.append((CF_DELTA, xk, digest(stored)))
                continue
            # a delete
            entries = self.versions(iid, tkey)
            wb.replaced_bytes += sum(len(v) for v_id, v in entries if v_id == vid)
            try:
                below = self.resolve(entries, vid, exclude_self=True)
            except MergeConflictError:
                # The parents of this merge node disagree: keep a tombstone.
                below = bytes([HDR_VALUE])
            if below is None or below[0] == HDR_TOMBSTONE:
                if changed is None or all(v != vid for v, _ in entries):
                    wb.delete(CF_DATA, dk)
                    wb.delete(CF_DELTA, xk)
                    continue
                # A committed node keeps a tombstone: its delta index shows the delete.
            wb.put(CF_DATA, dk, TOMBSTONE)
            wb.put(CF_DELTA, xk, TOMBSTONE_DIGEST)
        wb.extend(batch.extra)
        if batch.stream is None:
            self.engine.write(wb)
        else:
            self.engine.write(wb, batch.stream)
        self._writes[vid] = self._writes.get(vid, 0) + 1
        if changed is not None:
            self.dag.add(changed)
