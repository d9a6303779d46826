"""Large keyvalue values: a manifest under the key, the bytes in pieces of their own.

A value longer than :data:`CHUNK_BYTES` is stored as

- its **pieces**: consecutive slices of :data:`CHUNK_BYTES` (the last one shorter),
  each under a piece type key of the same instance (:func:`keys.piece_tkey
  <dvidctl.datatypes.keyvalue.keys.piece_tkey>`: key, piece index, digest of the
  piece), written in piece order (so a streaming batch hands them to the engine as
  they are read, and RocksDB never holds the whole value in one buffer);
- its **manifest**, the payload of the key's own type key: :data:`MAGIC`, a format
  version, the value's size and xxh3-128 digest, then each piece's size and digest.

Pieces and manifest go in one atomic write; an overwrite or a delete of the key
also deletes, in that write, the pieces of the value it replaces that the new one
does not reuse (a piece with the same index and bytes keeps its key, so appending
to a large value writes only the pieces that changed). Pieces of one key are
versioned keys like any other, so a read at any node resolves the manifest and
the pieces it names at that node, from one consistent view, and verifies each
piece's digest and the value's.

Which payloads are manifests: exactly those that start with :data:`MAGIC`. A
value of any size that itself starts with those bytes is stored in pieces too,
so a stored value can never be mistaken for a manifest.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import xxhash

from dvidctl.datatypes.keyvalue import keys
from dvidctl.errors import CorruptDataError, DvidError
from dvidctl.store.engine import CF_DATA
from dvidctl.store.keys import data_prefix, split_data_key
from dvidctl.store.reader import ViewReader
from dvidctl.store.versioned import VersionedStore, payload_of

#: Values longer than this many bytes are stored in pieces of this size. Changing it
#: changes how new values are cut; stored values keep the sizes their manifest gives.
CHUNK_BYTES = 8 << 20

#: First bytes of every manifest (PNG-like: binary, and mangled by text-mode copies).
MAGIC = b"\x89dvidctl-kv-pieces\r\n\x1a\n"
_MAGIC_LEN = len(MAGIC)
_VERSION = 1
_HEAD = struct.Struct(">BQ16sI")  # version, value size, value digest, piece count
_PIECE = struct.Struct(">Q16s")  # piece size, piece digest


def digest(data: bytes | bytearray | memoryview) -> bytes:
    """The xxh3-128 digest manifests record (of a piece, or of a whole value)."""
    return xxhash.xxh3_128_digest(data)


def is_manifest(payload: bytes | bytearray | memoryview) -> bool:
    """Whether a stored payload is a manifest (see the module doc)."""
    return payload[:_MAGIC_LEN] == MAGIC


def needs_pieces(value: bytes | bytearray | memoryview) -> bool:
    """Whether ``value`` is stored in pieces: longer than a piece, or starting as a manifest."""
    return len(value) > CHUNK_BYTES or is_manifest(value)


@dataclass(frozen=True)
class Piece:
    """One piece of a large value."""

    index: int
    size: int
    digest: bytes

    def tkey(self, key: str) -> bytes:
        """The piece's type key under user key ``key``."""
        return keys.piece_tkey(key, self.index, self.digest)


@dataclass(frozen=True)
class Manifest:
    """What a large value's key holds: its size and digest, and its pieces."""

    size: int
    digest: bytes
    pieces: tuple[Piece, ...]

    def encode(self) -> bytes:
        """The stored payload."""
        head = MAGIC + _HEAD.pack(_VERSION, self.size, self.digest, len(self.pieces))
        return head + b"".join(_PIECE.pack(p.size, p.digest) for p in self.pieces)

    @classmethod
    def parse(cls, payload: bytes | bytearray | memoryview, key: str) -> Manifest:
        """Decode a stored manifest of ``key``; CorruptDataError if it does not add up."""
        view = memoryview(payload)
        at = len(MAGIC)
        if not is_manifest(view) or len(view) < at + _HEAD.size:
            raise CorruptDataError(f'keyvalue key "{key}": its manifest is cut short')
        version, size, whole, count = _HEAD.unpack_from(view, at)
        at += _HEAD.size
        if version != _VERSION:
            raise CorruptDataError(
                f'keyvalue key "{key}": manifest format {version} is not known here',
                hint="a newer dvidctl wrote it",
            )
        if len(view) != at + count * _PIECE.size:
            raise CorruptDataError(f'keyvalue key "{key}": its manifest has the wrong length')
        pieces = tuple(
            Piece(i, *_PIECE.unpack_from(view, at + i * _PIECE.size)) for i in range(count)
        )
        if sum(p.size for p in pieces) != size:
            raise CorruptDataError(f'keyvalue key "{key}": its pieces do not add up to its size')
        return cls(size, whole, pieces)

    def tkeys(self, key: str) -> list[bytes]:
        """The type keys of the pieces, in order."""
        return [p.tkey(key) for p in self.pieces]


def manifest_of(value: bytes | bytearray | memoryview) -> Manifest:
    """The manifest of an in-memory value cut in :data:`CHUNK_BYTES` pieces."""
    view = memoryview(value)
    pieces = tuple(
        Piece(i, len(view[at : at + CHUNK_BYTES]), digest(view[at : at + CHUNK_BYTES]))
        for i, at in enumerate(range(0, len(view), CHUNK_BYTES))
    )
    return Manifest(len(view), digest(view), pieces)


class StoredValue:
    """A value as stored at one node: plain (one payload) or in pieces.

    Read its bytes with :meth:`chunks`, all from the view it was opened in.
    """

    def __init__(self, key: str, payload: memoryview, reader: ViewReader | None) -> None:
        self.key = key
        self._reader = reader
        self.manifest = Manifest.parse(payload, key) if is_manifest(payload) else None
        self._payload = payload if self.manifest is None else None

    @property
    def size(self) -> int:
        """The value's length in bytes."""
        if self.manifest is not None:
            return self.manifest.size
        assert self._payload is not None
        return len(self._payload)

    @property
    def payload(self) -> memoryview | None:
        """The whole value of a plain value (None for a value in pieces)."""
        return self._payload

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[memoryview]:
        """The bytes ``[start, stop)`` in order, a piece at a time, each piece verified.

        Reading the whole value also checks its digest (at the end: CorruptDataError
        after the last piece when the pieces do not make the value).
        """
        stop = self.size if stop is None else min(stop, self.size)
        if self.manifest is None:
            assert self._payload is not None
            if start < stop:
                yield self._payload[start:stop]
            return
        whole = xxhash.xxh3_128() if start == 0 and stop == self.size else None
        at = 0
        for piece in self.manifest.pieces:
            lo, hi = at, at + piece.size
            at = hi
            if hi <= start:
                continue
            if lo >= stop:
                break
            data = self._piece(piece)
            if whole is not None:
                whole.update(data)
            if lo < stop and hi > start:
                yield data[max(start - lo, 0) : min(stop, hi) - lo]
        if whole is not None and whole.digest() != self.manifest.digest:
            raise CorruptDataError(
                f'keyvalue key "{self.key}": its pieces do not make the value its manifest names'
            )

    def read(self, start: int = 0, stop: int | None = None) -> bytes:
        """The bytes ``[start, stop)`` as one ``bytes``."""
        if self.manifest is None:
            assert self._payload is not None
            return bytes(self._payload[start:stop])
        return b"".join(self.chunks(start, stop))

    def _piece(self, piece: Piece) -> memoryview:
        assert self._reader is not None  # a value in pieces is opened with its view
        data = self._reader.get(piece.tkey(self.key))
        if data is None:
            raise CorruptDataError(
                f'keyvalue key "{self.key}": piece {piece.index} of its value is missing',
                hint="'dvidctl fsck' checks every large value",
            )
        if len(data) != piece.size or digest(data) != piece.digest:
            raise CorruptDataError(
                f'keyvalue key "{self.key}": piece {piece.index} of its value is damaged',
                hint="'dvidctl fsck' checks every large value",
            )
        return data


def check_values(store: VersionedStore, iid: int) -> Iterator[tuple[str, str]]:
    """``(where, what is wrong)`` for every stored manifest of instance ``iid`` whose
    value cannot be read whole at its version (``dvidctl fsck``).

    Each version of each manifest: it decodes, each piece it names is readable at
    that version with its size and digest, and the pieces make the value's digest.
    One piece is held at a time.
    """
    lo = data_prefix(iid, bytes([keys.CLASS_KV]))
    hi = data_prefix(iid, bytes([keys.CLASS_KV + 1]))
    for k, stored in store.engine.scan(CF_DATA, lo, hi):
        _, tk, vid = split_data_key(k)
        payload = payload_of(stored)
        if payload is None or not is_manifest(payload):
            continue
        key = keys.key_of(tk)
        where = f"keyvalue key {key!r} at version {vid}"
        try:
            man = Manifest.parse(payload, key)
            whole = xxhash.xxh3_128()
            for piece in man.pieces:
                data = store.get(vid, iid, piece.tkey(key))
                if data is None:
                    raise CorruptDataError(f"piece {piece.index} of the value is missing")
                if len(data) != piece.size or digest(data) != piece.digest:
                    raise CorruptDataError(f"piece {piece.index} does not match its digest")
                whole.update(data)
                del data
            if whole.digest() != man.digest:
                raise CorruptDataError("the pieces do not make the digest of the value")
        except DvidError as exc:
            yield where, exc.message
