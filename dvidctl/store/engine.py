"""The ordered key-value engine interface that everything above ``store/`` uses.

An engine holds a few named column families of byte keys and byte values,
ordered by key. It offers point reads, multi-reads, forward range scans and
atomic write batches across column families. Two implementations pass the same
contract tests (``tests/store/test_engine_contract.py``): :class:`RocksEngine`
(``store/rocks.py``) and :class:`MemoryEngine` (``store/memory.py``). An
object-store engine can be added later by implementing this class; nothing in
``datatypes/`` knows which engine it runs on.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

#: Repository, DAG, instance records and counters.
CF_META = "meta"
#: Versioned data: ``instance id | type key | version id -> header | payload``.
CF_DATA = "data"
#: Per-node delta index: ``version id | instance id | type key -> digest``.
CF_DELTA = "delta"

COLUMN_FAMILIES: tuple[str, ...] = (CF_META, CF_DATA, CF_DELTA)


@dataclass
class WriteBatch:
    """A list of puts and deletes applied atomically by :meth:`KVEngine.write`.

    ``value is None`` means delete. Later operations on the same key win.
    """

    ops: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)
    #: Stored bytes this batch replaces or deletes in place, as far as the writer
    #: knows (the versioned layer counts them from the delta index). An engine may
    #: use it to give back space (``store/space.py``); it changes nothing written.
    replaced_bytes: int = 0
    #: Durable before :meth:`KVEngine.write` returns: RocksDB syncs its write-ahead log
    #: (sync acknowledges a batch only then). Bulk ingestion is always synced.
    sync: bool = False
    #: What the writer knows of its ``data`` ops, saving the engine a pass over a
    #: batch of many small ones: their value bytes (None: counted by the engine) and
    #: their lowest and highest key (None: found by the engine). Only for a batch
    #: built whole with them; :meth:`put`, :meth:`delete` and :meth:`extend` drop them.
    data_bytes: int | None = None
    data_span: tuple[bytes, bytes] | None = None

    def put(self, cf: str, key: bytes, value: bytes) -> None:
        """Queue ``key = value`` in column family ``cf``."""
        self.ops.append((cf, key, value))
        self.data_bytes = self.data_span = None

    def delete(self, cf: str, key: bytes) -> None:
        """Queue the removal of ``key`` from column family ``cf``."""
        self.ops.append((cf, key, None))
        self.data_bytes = self.data_span = None

    def extend(self, other: WriteBatch) -> None:
        """Append every operation of ``other``."""
        self.data_bytes = self.data_span = None
        self.ops.extend(other.ops)
        self.replaced_bytes += other.replaced_bytes
        self.sync = self.sync or other.sync

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def nbytes(self) -> int:
        """Total key and value bytes queued."""
        return sum(len(k) + (len(v) if v is not None else 0) for _, k, v in self.ops)


class DataStream(ABC):
    """``data`` puts handed to the engine ahead of the batch that publishes them.

    A writer that produces many large values in key order (a voxel write: its
    blocks, row by row) adds them here as they are made instead of holding them
    all in a :class:`WriteBatch`; an engine may move them out of memory at once
    (RocksDB writes them to the table file it will ingest). Nothing is visible
    until :meth:`KVEngine.write` applies the stream and a batch together, in one
    atomic write; :meth:`discard` (or never writing) leaves nothing behind.

    Keys must strictly increase (:meth:`accepts`); a value for a key out of order
    belongs in the batch, whose operations come after the stream's.
    """

    def __init__(self) -> None:
        #: The last key put (None: none yet).
        self.last_key: bytes | None = None
        #: The first key put (None: none yet).
        self.first_key: bytes | None = None
        #: How many values, and their total bytes, were put.
        self.count = 0
        self.nbytes = 0
        #: True once written or discarded: no more puts.
        self.closed = False

    def accepts(self, key: bytes) -> bool:
        """Whether ``key`` may be put next (it sorts after every key put so far)."""
        return not self.closed and (self.last_key is None or key > self.last_key)

    def put(self, key: bytes, value: bytes) -> None:
        """Add ``key = value``; ``key`` must sort after the last key put."""
        if not self.accepts(key):
            raise ValueError("a data stream takes keys in increasing order, until it is written")
        self._put(key, value)
        if self.first_key is None:
            self.first_key = key
        self.last_key = key
        self.count += 1
        self.nbytes += len(value)

    def put_run(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """:meth:`put` of each pair in order (keys strictly increasing), in one call."""
        if not keys:
            return
        if len(keys) != len(values):
            raise ValueError("put_run needs as many values as keys")
        ordered = all(a < b for a, b in zip(keys[:-1], keys[1:], strict=True))
        if not ordered or not self.accepts(keys[0]):
            raise ValueError("a data stream takes keys in increasing order, until it is written")
        self._put_run(keys, values)
        if self.first_key is None:
            self.first_key = keys[0]
        self.last_key = keys[-1]
        self.count += len(keys)

    def _put_run(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """:meth:`_put` of each pair, keeping :attr:`nbytes` current (a stream may read it)."""
        put = self._put
        for key, value in zip(keys, values, strict=True):
            put(key, value)
            self.nbytes += len(value)

    @abstractmethod
    def _put(self, key: bytes, value: bytes) -> None:
        """Keep or write out one value (keys arrive in order)."""

    def discard(self) -> None:
        """Drop everything put (nothing was written); further puts are refused."""
        self.closed = True


class HeldStream(DataStream):
    """A :class:`DataStream` that keeps its values in memory (engines without a spill path)."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[bytes, bytes]] = []

    @property
    def spilled(self) -> bool:
        """Whether the values left memory (then :attr:`items` holds none of them)."""
        return False

    def _put(self, key: bytes, value: bytes) -> None:
        self.items.append((key, value))

    def discard(self) -> None:
        super().discard()
        self.items = []


def held_ops(stream: DataStream) -> list[tuple[str, bytes, bytes | None]]:
    """The puts of a :class:`HeldStream` as ``data`` operations (a batch's prefix)."""
    if not isinstance(stream, HeldStream) or stream.closed or stream.spilled:
        raise ValueError("a data stream is written once, by the engine that made it")
    return [(CF_DATA, k, v) for k, v in stream.items]


class Cursor(Protocol):
    """A movable position in one column family, seeing the data as of its creation.

    The method names are RocksDB's (and rocksdict's iterator is one).
    """

    def seek(self, key: bytes) -> None:
        """Move to the first key ``>= key``."""

    def seek_for_prev(self, key: bytes) -> None:
        """Move to the last key ``<= key``."""

    def valid(self) -> bool:
        """Whether the cursor is on a key."""
        ...

    def key(self) -> bytes:
        """The current key."""
        ...

    def value(self) -> bytes:
        """The current value (a copy: only ask for the values you need)."""
        ...

    def next(self) -> None:
        """Move to the next key."""

    def prev(self) -> None:
        """Move to the previous key."""

    def status(self) -> None:
        """Raise :class:`~dvidctl.errors.CorruptDataError` if a read error stopped the cursor.

        ``valid()`` turns False both at the end and on an error: check after a walk.
        """


class KVEngine(ABC):
    """An ordered key-value store with column families and atomic batches."""

    #: Whether :meth:`write` is allowed (a read-only or secondary open says False).
    supports_writes: bool = True
    #: Calls of :meth:`write` so far (:meth:`count_write`): a cheap "has anything been
    #: written since", for what a caller keeps known about the data between writes.
    writes: int = 0
    _writes_lock = threading.Lock()
    #: A short description for ``info`` output, e.g. ``"rocksdb at /x/.dvid/db"``.
    description: str = ""
    #: Whether :meth:`close` may spend time on upkeep (RocksDB: compacting what was
    #: overwritten). An owner closing on an error or Ctrl-C sets it False first.
    maintenance: bool = True

    @abstractmethod
    def get(self, cf: str, key: bytes) -> bytes | None:
        """Return the value of ``key`` or None."""

    def multi_get(self, cf: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Return the values of ``keys`` in order (None where missing)."""
        return [self.get(cf, k) for k in keys]

    @abstractmethod
    def scan(
        self, cf: str, start: bytes, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(key, value)`` for ``start <= key < stop`` in key order.

        The iteration sees the database as of the call (a consistent view).
        """

    def scan_chunks(
        self, cf: str, start: bytes, stop: bytes | None = None, size: int = 4096
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        """:meth:`scan`'s entries in lists of up to ``size`` (none empty): a bulk reader's scan.

        Same view as of the call; an engine may read a chunk in fewer calls than a
        scan's per-entry steps (RocksDB: about a third less per entry, for a few
        microseconds more per call, so small ranges keep :meth:`scan`).
        """
        return _chunks(self.scan(cf, start, stop), size)

    @abstractmethod
    def cursor(self, cf: str) -> Cursor:
        """A :class:`Cursor` over ``cf`` as of the call (one consistent view for many seeks)."""

    def scan_prefix(self, cf: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield every ``(key, value)`` whose key starts with ``prefix``."""
        return self.scan(cf, prefix, prefix_end(prefix))

    def data_stream(self, spill: int | None = None, *, warm: bool = True) -> DataStream:
        """A :class:`DataStream` to hand to :meth:`write` with a batch.

        ``spill``: value bytes from which an engine with a spill path moves the values
        out of memory (default: its own bulk threshold); ``warm=False``: the written
        data need not be read back into the page cache (a one-shot receiver).
        """
        return HeldStream()

    @property
    def facts(self) -> dict[Any, int]:
        """What callers know about the data, each as ``fact -> writes`` (:attr:`writes`
        when it was found true); a fact recorded before the last write may be stale."""
        try:
            return self._facts
        except AttributeError:
            self._facts: dict[Any, int] = {}
            return self._facts

    def count_write(self) -> None:
        """Count one more write (each engine's :meth:`write` calls it first, failed or not)."""
        with self._writes_lock:
            self.writes += 1

    @abstractmethod
    def write(self, batch: WriteBatch, stream: DataStream | None = None) -> None:
        """Apply every operation of ``batch`` atomically (calling :meth:`count_write`).

        With ``stream`` (made by this engine's :meth:`data_stream`), its puts are
        applied in the same atomic write, before the batch's operations (so a batch
        operation on the same key wins). The stream is closed afterwards, written
        or, when the write fails, discarded.
        """

    def bulk_load(self) -> contextlib.AbstractContextManager[None]:
        """A context in which many large writes arrive (a clone or fetch): the engine may
        put off reorganising its files until the end (RocksDB: no compactions of ``data``
        while it lasts; see :mod:`dvidctl.store.bulkload`)."""
        return contextlib.nullcontext()

    @abstractmethod
    def close(self) -> None:
        """Release the database (and its lock)."""

    def __enter__(self) -> KVEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefix_end(prefix: bytes) -> bytes | None:
    """Return the smallest key greater than every key starting with ``prefix``.

    None means "no upper bound" (the prefix is empty or all 0xFF bytes).
    """
    b = bytearray(prefix)
    while b:
        if b[-1] != 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return None


def batch_from(ops: Iterable[tuple[str, bytes, bytes | None]]) -> WriteBatch:
    """Build a :class:`WriteBatch` from ``(cf, key, value-or-None)`` triples."""
    return WriteBatch(list(ops))


def _chunks(
    entries: Iterator[tuple[bytes, bytes]], size: int
) -> Iterator[list[tuple[bytes, bytes]]]:
    while chunk := list(islice(entries, size)):
        yield chunk
