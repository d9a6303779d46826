"""keyvalue operations: opaque byte values under string keys (DVID_API.md §4).

Large values (longer than :data:`~.chunks.CHUNK_BYTES`) are stored as a manifest
and pieces (:mod:`.chunks`); every method here takes and gives whole values, and
nothing above this class sees pieces. :meth:`KeyValue.put_from` reads a value from
a binary file (stdin, a file) a piece at a time and streams the pieces to the
store; :meth:`KeyValue.get_to` and :meth:`KeyValue.open_value` give a value out a
piece at a time, each a view of the store's buffer (no ``bytes`` copy).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO

import xxhash

from dvidctl.datatypes.base import Instance
from dvidctl.datatypes.keyvalue import chunks, keys
from dvidctl.datatypes.keyvalue.chunks import (
    Manifest,
    Piece,
    StoredValue,
    is_manifest,
    manifest_of,
    needs_pieces,
)
from dvidctl.datatypes.keyvalue.chunks import digest as chunk_digest
from dvidctl.datatypes.keyvalue.merging import settle_pieces
from dvidctl.datatypes.keyvalue.protocol import ByteSink
from dvidctl.errors import KeyNotFoundError
from dvidctl.store.reader import prefix_finder, view_reader
from dvidctl.store.versioned import VALUE_PREFIX, VersionedBatch

#: Bytes read from, or written to, a file at a time.
PIECE = 16 << 20
#: The first read of a pipe (the buffer then doubles up to a piece).
_FIRST_READ = 64 << 10
#: ``KVEngine.facts`` key of "instance ``iid`` holds no piece of a large value at any
#: version", so that writes of small values need not look for pieces to delete each time.
_NO_PIECES = "keyvalue: no pieces"


class KeyValue(Instance):
    """A keyvalue instance at one node."""

    typename = "keyvalue"

    # ------------------------------------------------------------------ reads
    def open_value(self, key: str) -> StoredValue | None:
        """The value of ``key`` at this node, to read whole or in pieces; None if absent.

        Its pieces (a large value) are read from the same view of the database as
        the key itself, whatever is written meanwhile.
        """
        tk = keys.tkey(key)
        payload = self._get(tk)
        if payload is None or not is_manifest(payload):
            return None if payload is None else StoredValue(key, payload, None)
        # In pieces: read the key again in one view with its pieces.
        reader = view_reader(self.node.store, self.vid, self.iid)
        payload = reader.get(tk)
        return None if payload is None else StoredValue(key, payload, reader)

    def _must_open(self, key: str) -> StoredValue:
        value = self.open_value(key)
        if value is None:
            raise KeyNotFoundError(f'Key "{key}" not found')
        return value

    def get(self, key: str) -> bytes:
        """Return the value of ``key``; KeyNotFoundError if it is absent at this node."""
        got = self._get(keys.tkey(key))
        if got is not None and not is_manifest(got):
            return bytes(got)
        return self._must_open(key).read()

    def get_to(self, key: str, sink: ByteSink) -> int:
        """Write the value of ``key`` to ``sink`` in pieces; return its length.

        KeyNotFoundError (nothing written) if it is absent at this node.
        """
        value = self._must_open(key)
        for chunk in value.chunks():
            for i in range(0, len(chunk), PIECE):
                sink.write(chunk[i : i + PIECE])
        return value.size

    def get_or_none(self, key: str) -> bytes | None:
        """Return the value of ``key`` or None."""
        got = self._get(keys.tkey(key))
        if got is None or not is_manifest(got):
            return None if got is None else bytes(got)
        value = self.open_value(key)
        return None if value is None else value.read()

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a value at this node."""
        return self._get(keys.tkey(key)) is not None

    def items(
        self, first: str | None = None, last: str | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """Yield ``(key, value)`` for ``first <= key <= last`` in key order."""
        start, stop = keys.range_bounds(first, last)
        reader = view_reader(self.node.store, self.vid, self.iid)
        for tk, v in reader.scan(start, stop):
            key = keys.key_of(tk)
            yield key, bytes(v) if not is_manifest(v) else StoredValue(key, v, reader).read()

    def keys(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Keys with ``first <= key <= last`` (inclusive, byte order), at this node."""
        start, stop = keys.range_bounds(first, last)
        return [keys.key_of(tk) for tk, _ in self._scan(start, stop)]

    def get_many(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Values of several keys (None where absent)."""
        return {k: self.get_or_none(k) for k in names}

    # ----------------------------------------------------------------- merges
    def rebuild_derived(
        self, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
    ) -> int:
        """At a merge node: make the pieces of every changed key match its merged value."""
        del contested  # a contested piece belongs to a key in ``sources``
        return settle_pieces(self.node.store, batch, self.iid, sources)

    # ----------------------------------------------------------------- writes
    def put(self, key: str, value: bytes) -> None:
        """Set ``key`` to ``value`` (one atomic write)."""
        self.put_many({key: value})

    def put_from(self, key: str, source: BinaryIO) -> int:
        """Set ``key`` to the bytes ``source`` holds from its position to its end.

        Read a piece (:data:`~.chunks.CHUNK_BYTES`) at a time: a value of one piece
        goes to the store as one buffer that starts with the store's value prefix;
        a longer one is streamed to the store piece by piece (:mod:`.chunks`), so
        memory holds a few pieces, not the value. One atomic write either way.
        Returns the value's length.
        """
        tk = keys.tkey(key)
        self._check_writable()
        head = len(VALUE_PREFIX)
        first = read_piece(source)
        rest = read_piece(source) if len(first) - head == chunks.CHUNK_BYTES else VALUE_PREFIX
        if len(rest) == head and not is_manifest(memoryview(first)[head:]):
            size = len(first) - head
            with self.lock:
                stale = self._stale_pieces([key])
                with self._batch(stream=True) as b:
                    b.put_prefixed(self.iid, tk, first)
                    del first  # a streamed value can leave memory once the store took it
                    _delete_all(b, self.iid, stale)
                    self._commit(b, pieces=False)
            return size
        ahead = [first, rest]
        del first, rest
        return self._put_streamed(key, _pieces(ahead, source))

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys in one atomic write (every key and value is checked first)."""
        checked = sorted((keys.tkey(k), k, keys.check_value(k, v)) for k, v in items.items())
        with self.lock:
            stale = self._stale_pieces([k for _, k, _ in checked])
            # Streamed in key order: each framed value may leave memory as the next is
            # made. Every piece key sorts after every key, so pieces go last.
            with self._batch(stream=True) as b:
                large = []
                for tk, k, v in checked:
                    if needs_pieces(v):
                        man = manifest_of(v)
                        b.put(self.iid, tk, man.encode())
                        large.append((k, memoryview(v), man))
                    else:
                        b.put(self.iid, tk, v)
                for k, view, man in large:
                    old = stale.get(k, set())
                    at = 0
                    for piece in man.pieces:
                        ptk = piece.tkey(k)
                        if ptk in old:
                            old.discard(ptk)  # the same bytes are already there: kept
                        else:
                            b.put(self.iid, ptk, view[at : at + piece.size])
                        at += piece.size
                _delete_all(b, self.iid, stale)
                self._commit(b, pieces=bool(large))

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it had a value."""
        existed = self.exists(key)
        self.delete_many([key])
        return existed

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete several keys in one atomic write (every key is checked first).

        The pieces of a large value go in the same write.
        """
        names = list(names)
        tks = [keys.tkey(k) for k in names]
        with self.lock:
            stale = self._stale_pieces(names)
            b = self._batch()
            for tk in tks:
                b.delete(self.iid, tk)
            _delete_all(b, self.iid, stale)
            self._commit(b, pieces=False)

    def _put_streamed(self, key: str, pieces: Iterator[bytes]) -> int:
        """Write a value given as stored pieces (value prefix + bytes), one at a time."""
        head = len(VALUE_PREFIX)
        with self.lock:
            stale = self._stale_pieces([key])
            old = stale.get(key, set())
            whole = xxhash.xxh3_128()
            made = []
            with self._batch(stream=True) as b:
                for index, stored in enumerate(pieces):
                    data = memoryview(stored)[head:]
                    whole.update(data)
                    piece = Piece(index, len(data), chunk_digest(data))
                    del data
                    made.append(piece)
                    ptk = piece.tkey(key)
                    if ptk in old:
                        old.discard(ptk)  # the same bytes are already there: kept
                    else:
                        b.put_prefixed(self.iid, ptk, stored)
                    del stored  # streamed: it may leave memory before the next is read
                man = Manifest(sum(p.size for p in made), whole.digest(), tuple(made))
                b.put(self.iid, keys.tkey(key), man.encode())  # sorts before its pieces: held
                _delete_all(b, self.iid, stale)
                self._commit(b, pieces=True)
        return man.size

    def _stale_pieces(self, names: Iterable[str]) -> dict[str, set[bytes]]:
        """Per key of ``names`` whose value at this node is in pieces: its piece type keys.

        One seek when the instance never stored a large value (none at all, when that
        is known from an earlier look and nothing was written since); then one more
        per key.
        """
        store = self.node.store
        engine = store.engine
        fact = (_NO_PIECES, self.iid)
        writes = engine.writes  # before the look: a write after it changes the count
        if engine.facts.get(fact) == writes:
            return {}
        seek = prefix_finder(store, self.iid)
        if not seek(bytes([keys.CLASS_PIECE])):
            engine.facts[fact] = writes
            return {}
        out: dict[str, set[bytes]] = {}
        for k in sorted(names):
            if not seek(keys.piece_prefix(k)):
                continue
            payload = self._get(keys.tkey(k))
            if payload is not None and is_manifest(payload):
                out[k] = set(Manifest.parse(payload, k).tkeys(k))
        return out

    def _commit(self, b: VersionedBatch, *, pieces: bool) -> None:
        """Commit ``b``, keeping :data:`_NO_PIECES` known: still no pieces if ``b`` wrote
        none and no other write came between the last look and this one."""
        engine = b.store.engine
        facts, fact = engine.facts, (_NO_PIECES, self.iid)
        before = engine.writes
        b.commit()
        if not pieces and facts.get(fact) == before and engine.writes == before + 1:
            facts[fact] = before + 1
        else:
            facts.pop(fact, None)


def _delete_all(b: VersionedBatch, iid: int, stale: Mapping[str, set[bytes]]) -> None:
    """Queue the deletion of every piece type key in ``stale``."""
    for ptks in stale.values():
        for ptk in sorted(ptks):
            b.delete(iid, ptk)


def read_piece(source: BinaryIO) -> bytes:
    """:data:`VALUE_PREFIX` and then up to :data:`.chunks.CHUNK_BYTES` bytes of ``source``.

    Fewer bytes only at the end of ``source`` (just the prefix: nothing was left).
    The buffer is sized from the file when it is a regular file, and filled with
    ``readinto`` in :data:`PIECE`-sized reads; one copy turns it into ``bytes``.
    """
    head = len(VALUE_PREFIX)
    want = chunks.CHUNK_BYTES
    left = remaining_bytes(source)
    buf = bytearray(head + min(left or _FIRST_READ, want))
    buf[:head] = VALUE_PREFIX
    pos = head
    while pos - head < want:
        if pos == len(buf):  # a pipe, or a file that grew: room for more, doubling
            buf.extend(bytes(min(max(len(buf), _FIRST_READ), want - (pos - head))))
        view = memoryview(buf)
        try:
            n = source.readinto(view[pos : head + want])  # type: ignore[attr-defined]
        finally:
            view.release()
        if not n:
            break
        pos += n
    del buf[pos:]
    return bytes(buf)


def _pieces(ahead: list[bytes], source: BinaryIO) -> Iterator[bytes]:
    """The stored pieces already read (``ahead``, emptied as they go), then the rest."""
    head = len(VALUE_PREFIX)
    while ahead:
        stored = ahead.pop(0)
        if len(stored) > head:
            yield stored
        del stored
    while len(stored := read_piece(source)) > head:
        yield stored
        del stored


def remaining_bytes(source: BinaryIO) -> int:
    """Bytes left in ``source`` when it is a regular file, else 0 (not known)."""
    try:
        st = os.fstat(source.fileno())
        if not stat.S_ISREG(st.st_mode):
            return 0
        return max(0, st.st_size - source.tell())
    except (OSError, ValueError, AttributeError):  # no descriptor (BytesIO), not seekable
        return 0


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared keyvalue interface
    from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI

    _: type[KeyValueAPI] = KeyValue
