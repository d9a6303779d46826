"""One node's own delta, as sync moves it: sorted listings, digests, stored values, incoming writes.

For a node V and an instance I, the delta index holds ``(type key, digest)`` for
every key V wrote (digest: xxh3-128 of the stored value, header byte included, so
tombstones count). Two sides whose entries for (V, I) are equal, key for key,
hold the same version V of I; sync makes the receiver's entries (and the stored
values they name, the data keys ``I | tkey | V``) equal to the sender's.

* :func:`listing` streams one node's entries for one instance in key order, from
  any point (a resumed request starts after the last key it got);
* :mod:`dvidctl.store.nodedigest` folds such listings into the node digests that let
  two sides compare a node without listing it;
* :func:`stored_at` reads the values a node itself stored (not a resolved read);
* :func:`apply_incoming` writes received values and removals at a node that sync
  is receiving, after checking every digest, as one durable atomic batch;
* :func:`drop_node_data` removes everything a node stored (a stale snapshot).

Nothing here decodes a value: sync moves stored bytes as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import xxhash

from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.store.engine import CF_DATA, CF_DELTA, DataStream, KVEngine, WriteBatch, prefix_end
from dvidctl.store.keys import HDR_TOMBSTONE, HDR_VALUE, data_key, delta_key, digest, read_u32, u32
from dvidctl.store.versioned import VersionedStore

#: Removals per write when a node's data is dropped (bounded batches).
_DROP_CHUNK = 4096


def listing(
    engine: KVEngine, vid: int, iid: int, after: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(tkey, digest)`` of every key node ``vid`` wrote for ``iid``, in key order.

    With ``after``, start at the first type key greater than it. The scan sees the
    database as of the call.
    """
    prefix = u32(vid) + u32(iid)
    start = prefix if after is None else prefix + after + b"\x00"
    for k, d in engine.scan(CF_DELTA, start, prefix_end(prefix)):
        yield k[8:], d


def stored_at(engine: KVEngine, vid: int, iid: int, tkeys: Sequence[bytes]) -> list[bytes | None]:
    """The values node ``vid`` itself stored under ``tkeys`` (None: it stored none)."""
    return engine.multi_get(CF_DATA, [data_key(iid, tk, vid) for tk in tkeys])


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_incoming` wrote."""

    puts: int
    deletes: int
    nbytes: int


def check_stored(tkey: bytes, dig: bytes, stored: bytes) -> None:
    """Raise :class:`CorruptDataError` unless ``stored`` is well formed with digest ``dig``."""
    ok_header = bool(stored) and (
        stored[0] == HDR_VALUE or (stored[0] == HDR_TOMBSTONE and len(stored) == 1)
    )
    if not tkey or not ok_header:
        raise CorruptDataError(f"received value for key {bytes(tkey[:40]).hex()} is malformed")
    if digest(stored) != dig:
        raise CorruptDataError(
            f"received value for key {bytes(tkey[:40]).hex()} does not match its digest",
            hint="the body was damaged on the way; run the command again",
        )


#: Value bytes from which a received batch moves from memory to the table file it
#: will be ingested from (below: one synced WAL write). Values written to the file as
#: they arrive reach the disk while the rest of the batch is still on the wire.
SPILL_BYTES = 4 << 20


class IncomingBatch:
    """One batch a receiver writes at a node sync is receiving, built as values arrive.

    :meth:`put` checks each value's digest before it joins the batch; values in key
    order go straight into the engine's data stream (past :data:`SPILL_BYTES`, the
    table file the commit ingests), so a batch is never held whole. Nothing is
    visible until :meth:`commit` writes data and delta entries in ONE atomic engine
    write, durable (synced or ingested) when it returns; :meth:`discard`, a failed
    put or commit, or never committing, leaves nothing behind.
    """

    def __init__(
        self,
        store: VersionedStore,
        vid: int,
        iid: int,
        *,
        any_node: bool = False,
        warm: bool = False,
    ) -> None:
        self.store, self.vid, self.iid, self.any_node = store, vid, iid, any_node
        #: Whether a batch that went to a table file is read back into the page cache
        #: (a server's: what it receives is what the next fetch from it reads).
        self.warm = warm
        self._check_node()
        #: Data puts in key order, kept here until they reach SPILL_BYTES, then the stream.
        self._held: list[tuple[str, bytes, bytes | None]] = []
        self._last: bytes | None = None
        self._stream: DataStream | None = None
        self._wb = WriteBatch(sync=True)
        #: Delta keys of the puts (the commit reads which of them the node held already).
        self._dkeys: list[bytes] = []
        #: Data keys written out of key order (put after a greater one, or deleted).
        self._odd: list[bytes] = []
        #: The parts of :func:`data_key` and :func:`delta_key` around a type key.
        self._data_pre, self._data_suf = u32(iid), u32(vid)
        self._delta_pre = u32(vid) + u32(iid)
        self._sizes: list[int] = []
        self.puts = self.deletes = self.nbytes = 0
        #: Committed in the caller's thread: the next values are asked for after it.
        self.overlaps = False

    def __len__(self) -> int:
        return self.puts + self.deletes

    def _check_node(self) -> None:
        self._check_vid(self.vid)

    def _check_vid(self, vid: int) -> None:
        """Raise unless node ``vid`` exists and is one sync is receiving (or ``any_node``)."""
        node = self.store.dag.nodes.get(vid)
        if node is None:
            raise BadRequestError(f"no node with version id {vid}")
        if not node.incoming and not self.any_node:
            raise BadRequestError(
                f"node {node.uuid[:10]} is not being received; sync writes only incoming nodes"
            )

    def put(self, tkey: bytes, dig: bytes, stored: bytes) -> None:
        """Add one received value (:class:`CorruptDataError`, and the batch is dropped,
        unless it is well formed with digest ``dig``)."""
        try:
            check_stored(tkey, dig, stored)
        except CorruptDataError:
            self.discard()
            raise
        key = self._data_pre + tkey + self._data_suf  # data_key(iid, tkey, vid)
        size = len(stored)
        last = self._last
        if last is not None and key <= last:
            self._wb.ops.append((CF_DATA, key, stored))  # out of key order: written after the rest
            self._odd.append(key)
        elif self._stream is not None:
            self._stream.put(key, stored)
            self._last = key
        else:
            self._held.append((CF_DATA, key, stored))
            self._last = key
            if self.nbytes + size >= SPILL_BYTES:
                self._spill()
        dkey = self._delta_pre + tkey  # delta_key(vid, iid, tkey)
        self._wb.ops.append((CF_DELTA, dkey, dig))
        self._dkeys.append(dkey)
        self._sizes.append(size)
        self.puts += 1
        self.nbytes += size

    def put_many(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> None:
        """:meth:`put` for each ``(tkey, digest, stored)`` in turn, in one call: a run of
        values off the wire (per-value calls and lookups were a third of what a small
        value cost). A value that fails its check drops the batch before any is added."""
        self._check_all(items)
        data_pre, data_suf, delta_pre = self._data_pre, self._data_suf, self._delta_pre
        self._add([(data_pre + tk + data_suf, delta_pre + tk, d, s) for tk, d, s in items])

    def _check_all(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> None:
        """Every value well formed with its digest, else the batch is dropped and the first
        bad one's :class:`CorruptDataError` raised."""
        xd = xxhash.xxh3_128_digest
        for tk, dig, stored in items:
            if not (
                tk
                and stored
                and (stored[0] == HDR_VALUE or (stored[0] == HDR_TOMBSTONE and len(stored) == 1))
                and xd(stored) == dig
            ):
                self.discard()
                check_stored(tk, dig, stored)  # raises the error that says what is wrong
                raise CorruptDataError(f"received value for key {bytes(tk[:40]).hex()} is bad")

    def _add(self, placed: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> None:
        """Add checked ``(data key, delta key, digest, stored)`` values."""
        ops, dkeys, sizes = self._wb.ops, self._dkeys, self._sizes
        last, nbytes, puts = self._last, self.nbytes, self.puts
        try:
            for key, dkey, dig, stored in placed:
                size = len(stored)
                if last is not None and key <= last:
                    ops.append((CF_DATA, key, stored))  # out of key order: written after
                    self._odd.append(key)
                elif self._stream is not None:
                    self._stream.put(key, stored)
                    last = key
                else:
                    self._held.append((CF_DATA, key, stored))
                    last = key
                    if nbytes + size >= SPILL_BYTES:
                        self._spill()
                ops.append((CF_DELTA, dkey, dig))
                dkeys.append(dkey)
                sizes.append(size)
                puts += 1
                nbytes += size
        finally:
            self._last, self.nbytes, self.puts = last, nbytes, puts

    def _spill(self) -> None:
        """From here the data goes to the table file the commit ingests (written as it comes)."""
        stream = self.store.engine.data_stream(0, warm=self.warm)
        for _, key, value in self._held:
            stream.put(key, value or b"")
        self._held = []
        self._stream = stream

    def delete(self, tkey: bytes) -> None:
        """Remove ``tkey`` from the node (its value and its delta entry)."""
        key = data_key(self.iid, tkey, self.vid)
        self._wb.delete(CF_DATA, key)
        self._wb.delete(CF_DELTA, delta_key(self.vid, self.iid, tkey))
        self._odd.append(key)
        self.deletes += 1

    def commit(self) -> Applied:
        """Write the batch in one atomic, durable engine write."""
        store = self.store
        with store.write_lock:
            try:
                self._check_node()
                if self.puts:
                    self._wb.replaced_bytes = self._replaced()
                if self._stream is not None:
                    store.engine.write(self._wb, self._stream)
                elif self._held or len(self._wb):
                    ops = [*self._held, *self._wb.ops]
                    batch = WriteBatch(ops, self._wb.replaced_bytes, sync=True)
                    if self._held:  # what the engine would find by two passes over the ops
                        batch.data_bytes = self.nbytes
                        lo, hi = self._held[0][1], self._held[-1][1]
                        batch.data_span = (min([lo, *self._odd]), max([hi, *self._odd]))
                    store.engine.write(batch)
            finally:
                self.discard()
        return Applied(self.puts, self.deletes, self.nbytes)

    def _replaced(self) -> int:
        """The stored bytes this batch writes over at the node (for space upkeep).

        Most batches write over nothing (a dump into a node that holds nothing yet): one
        seek finds no entry in the span of their keys, where looking up every key cost
        a third of what a small value's commit did.
        """
        engine, dkeys = self.store.engine, self._dkeys
        cur = engine.cursor(CF_DELTA)
        cur.seek(min(dkeys))
        if not cur.valid():
            cur.status()  # raises if the walk stopped on a read error
            return 0
        if cur.key() > max(dkeys):
            return 0
        del cur
        seen = engine.multi_get(CF_DELTA, dkeys)
        return sum(n for n, s in zip(self._sizes, seen, strict=True) if s)

    def discard(self) -> None:
        """Drop everything added (nothing was written)."""
        self._held = []
        self._odd = []
        if self._stream is not None:
            self._stream.discard()


def apply_incoming(
    store: VersionedStore,
    vid: int,
    iid: int,
    puts: Sequence[tuple[bytes, bytes, bytes]],
    deletes: Sequence[bytes] = (),
    *,
    any_node: bool = False,
    warm: bool = False,
) -> Applied:
    """Write received ``(tkey, digest, stored)`` values and remove ``deletes`` at node ``vid``.

    Every digest is checked before anything is written (one bad value refuses the
    whole batch); then data and delta entries go in ONE atomic engine batch, synced
    (or ingested) before this returns (:class:`IncomingBatch`). The node must be one
    sync is receiving (``incoming``), unless ``any_node`` (an unversioned instance,
    kept at the root). ``warm``: see :class:`IncomingBatch`.
    """
    batch = IncomingBatch(store, vid, iid, any_node=any_node, warm=warm)
    for tk, dig, stored in puts:
        batch.put(tk, dig, stored)
    for tk in deletes:
        batch.delete(tk)
    return batch.commit()


def drop_node_data(store: VersionedStore, vid: int) -> int:
    """Remove every value node ``vid`` stored and its delta entries; returns the key count.

    Written in bounded batches: a crash half-way leaves a node with fewer keys,
    which whoever drops it finishes the next time.
    """
    n = 0
    while True:
        chunk = [k for k, _ in _first(store.engine.scan_prefix(CF_DELTA, u32(vid)), _DROP_CHUNK)]
        if not chunk:
            return n
        wb = WriteBatch()
        for k in chunk:
            iid, tk = read_u32(k, 4), k[8:]
            wb.delete(CF_DATA, data_key(iid, tk, vid))
            wb.delete(CF_DELTA, k)
        with store.write_lock:
            store.engine.write(wb)
        n += len(chunk)


def _first(it: Iterator[tuple[bytes, bytes]], n: int) -> Iterator[tuple[bytes, bytes]]:
    for i, item in enumerate(it):
        if i >= n:
            return
        yield item
