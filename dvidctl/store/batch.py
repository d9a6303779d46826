"""Versioned write batches: what a node will write, applied atomically by the store.

A :class:`VersionedBatch` queues puts and deletes of type keys at one node;
:meth:`VersionedStore.apply <dvidctl.store.versioned.VersionedStore.apply>`
writes them with their delta-index entries in one atomic engine write.

**Streaming.** A batch made with ``stream=True`` hands the values it is given in
increasing key order to the engine as they come
(:class:`~dvidctl.store.engine.DataStream`; RocksDB moves them into the table file
it will ingest once they pass its bulk threshold), and keeps only their digests
and sizes for the delta index. So a large voxel write holds its encoded blocks a
slab at a time, not all at once, and is still one atomic write. A value that
arrives out of key order is held in the batch as usual; it is written after the
streamed ones, so it wins for the same key. A streaming batch cannot be read
back (:meth:`VersionedBatch.queued` of a streamed key raises): only writers that
never read through their batch (e.g. ``put_subvolume``) use one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from dvidctl.store.engine import DataStream, WriteBatch
from dvidctl.store.keys import HDR_TOMBSTONE, HDR_VALUE, data_key, digest, u32

if TYPE_CHECKING:
    from dvidctl.store.versioned import VersionedStore

Stored = bytes  # header byte + payload, as kept in the engine

#: The bytes every live stored value starts with. Encoders that build a value in
#: one pass (block codecs) write this prefix first and hand the result to
#: :meth:`VersionedBatch.put_prefixed`; nothing above the store reads it.
VALUE_PREFIX = bytes([HDR_VALUE])


def payload_of(stored: Stored | None) -> memoryview | None:
    """The payload of a stored value, or None for a tombstone or no value."""
    if stored is None or stored[0] == HDR_TOMBSTONE:
        return None
    return memoryview(stored)[1:]


def frame(payload: bytes | memoryview) -> Stored:
    """The stored form of a live payload."""
    return VALUE_PREFIX + bytes(payload)


class StreamedValueError(RuntimeError):
    """A streaming batch was asked for a value it already handed to the engine."""


@dataclass
class VersionedBatch:
    """Writes to one node, applied atomically by :meth:`commit`.

    Later writes of the same key in one batch replace earlier ones. Use it as a
    context manager to drop what a failed writer streamed (:meth:`discard`).
    """

    store: VersionedStore
    vid: int
    values: dict[tuple[int, bytes], Stored | None] = field(default_factory=dict)
    extra: WriteBatch = field(default_factory=WriteBatch)
    #: False for unversioned instances, which write at the root even once it is committed.
    check_locked: bool = True
    #: True: the node may be committed (DVID's fullwrite / admin privilege); such a write
    #: is counted on the node record.
    allow_locked: bool = False
    #: Where values given in key order go ahead of the commit (None: not a streaming batch).
    stream: DataStream | None = None
    #: ``(digest, size)`` of each value handed to :attr:`stream`, by ``(iid, tkey)``.
    streamed: dict[tuple[int, bytes], tuple[bytes, int]] = field(default_factory=dict)

    def put(self, iid: int, tkey: bytes, payload: bytes | memoryview) -> None:
        """Queue ``tkey = payload`` for instance ``iid``."""
        self._queue((iid, tkey), frame(payload))

    def put_prefixed(self, iid: int, tkey: bytes, value: bytes) -> None:
        """Queue a value built as :data:`VALUE_PREFIX` + payload (one copy fewer)."""
        if not value.startswith(VALUE_PREFIX):
            raise ValueError("put_prefixed needs a value that starts with VALUE_PREFIX")
        self._queue((iid, tkey), value)

    def put_stored(self, iid: int, tkey: bytes, stored: bytes) -> None:
        """Queue an already-framed stored value (header included), e.g. from sync."""
        self._queue((iid, tkey), stored)

    def put_many(
        self, iid: int, tkeys: Sequence[bytes], payloads: Sequence[bytes | memoryview | None]
    ) -> None:
        """:meth:`put` (or :meth:`delete`, for None) of each pair, in order, in one call.

        The same result as the calls one by one (later writes of a key win; a
        streaming batch streams the puts whose data keys come in order), with the
        per-key work done in one pass: many keys of one instance (label indexes).
        """
        if len(tkeys) != len(payloads):
            raise ValueError("put_many needs as many payloads as type keys")
        pre = VALUE_PREFIX
        stored = [None if p is None else pre + p for p in payloads]
        keys = [(iid, tk) for tk in tkeys]
        stream = self.stream
        if stream is None or not keys:
            self.values.update(zip(keys, stored, strict=True))
            return
        values = self.values
        head, tail = u32(iid), u32(self.vid)
        last, closed = stream.last_key, stream.closed
        if not closed and None not in stored and values.keys().isdisjoint(keys):
            # The usual run (new keys in order, after the stream's last): all of it streams.
            puts = cast(list[bytes], stored)
            dks = [head + tk + tail for tk in tkeys]
            if (last is None or dks[0] > last) and all(
                a < b for a, b in zip(dks[:-1], dks[1:], strict=True)
            ):
                stream.put_run(dks, puts)
                self.streamed.update(zip(keys, [(digest(v), len(v)) for v in puts], strict=True))
                return
        run_keys: list[tuple[int, bytes]] = []
        run_dks: list[bytes] = []
        run_vals: list[bytes] = []
        for key, value in zip(keys, stored, strict=True):
            if value is not None and not closed and key not in values:
                dk = head + key[1] + tail
                if last is None or dk > last:
                    run_keys.append(key)
                    run_dks.append(dk)
                    run_vals.append(value)
                    last = dk
                    continue
            values[key] = value
        stream.put_run(run_dks, run_vals)
        self.streamed.update(zip(run_keys, [(digest(v), len(v)) for v in run_vals], strict=True))

    def _queue(self, key: tuple[int, bytes], stored: Stored) -> None:
        stream = self.stream
        if stream is not None and key not in self.values:
            dk = data_key(key[0], key[1], self.vid)
            if stream.accepts(dk):
                stream.put(dk, stored)
                self.streamed[key] = (digest(stored), len(stored))
                return
        self.values[key] = stored

    def holds(self, iid: int, tkey: bytes) -> bool:
        """Whether this batch writes (or deletes) ``tkey``."""
        return (iid, tkey) in self.values or (iid, tkey) in self.streamed

    def queued(self, iid: int, tkey: bytes) -> memoryview | None:
        """The payload this batch will write for ``tkey`` (None: not queued, or a delete)."""
        key = (iid, tkey)
        if key not in self.values and key in self.streamed:
            raise StreamedValueError("a streaming batch cannot read back the values it streamed")
        return payload_of(self.values.get(key))

    def held(self) -> dict[tuple[int, bytes], Stored | None]:
        """The writes this batch holds, to read through it; a streaming batch refuses."""
        if self.streamed:
            raise StreamedValueError("a streaming batch cannot be read through")
        return self.values

    def delete(self, iid: int, tkey: bytes) -> None:
        """Queue the deletion of ``tkey`` (a tombstone, unless nothing is visible below)."""
        self.values[(iid, tkey)] = None

    def streamed_only(self) -> Iterator[tuple[tuple[int, bytes], tuple[bytes, int]]]:
        """``((iid, tkey), (digest, size))`` of streamed values no held write replaces."""
        for key, entry in self.streamed.items():
            if key not in self.values:
                yield key, entry

    def __len__(self) -> int:
        return len(self.values) + sum(1 for _ in self.streamed_only())

    def commit(self) -> None:
        """Apply the batch (see :meth:`VersionedStore.apply`)."""
        self.store.apply(self)

    def discard(self) -> None:
        """Drop what the batch streamed (a no-op once committed)."""
        if self.stream is not None:
            self.stream.discard()

    def __enter__(self) -> VersionedBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
