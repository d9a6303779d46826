"""The binary framing of sync bodies: listings, wanted keys, values and removals.

A body is ``MAGIC`` followed by records, ending with one ``E`` record; all
integers are big-endian::

    L  u32 n | n x u32 tkey length | the n tkeys | n x 16-byte digest   a listing chunk
    K  u32 length | tkey                                               a wanted key
    V  u32 length | tkey | 16-byte digest | u64 length | stored value   a value
    W  u32 length | tkey | 16-byte digest | u8 encoding | u64 length | payload
                                                                       a value in a wire encoding
    X  u32 length | tkey                                               a key the sender lacks now
    D  u32 length | tkey                                               a key to remove
    B  u32 n | n x u32 tkey length | n x u32 value length | the n tkeys | n x 16-byte digest
       | the n stored values                                          a run of small values
    C  u64 xxh3-64 of the body up to this C                            a checkpoint
    E  u64 records before it | u64 xxh3-64 of the body up to this E     the end

The end record makes a body that was cut off (a dropped connection, a killed
peer) or damaged on the way fail as a whole: :class:`FrameReader` raises
:class:`~dvidctl.errors.CorruptDataError` instead of yielding its last record,
so a receiver that applies a batch only after reading it whole never applies
part of one. A long stream (a listing, a node's values) carries checkpoints
every megabyte or so (:func:`checkpointed`): the reader gives out records only
once a checkpoint or the end has verified them, so a damaged key is never used
and a resumed stream starts after verified records only. Each value's digest is
checked where it is written (:mod:`dvidctl.store.nodedelta`). The framing names
no datatype and decodes no value: a ``W`` record's encoding is a number the two
sides agreed on (:mod:`dvidctl.api.wire`), and its digest is still that of the
stored value.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import xxhash

from dvidctl.errors import CorruptDataError

MAGIC = b"DVSYNC1\n"
MEDIA_TYPE = "application/x-dvidctl-sync"
DIGEST_BYTES = 16
#: Largest type key and value accepted (a bound on what a damaged length can ask for).
MAX_TKEY = 1 << 20
MAX_VALUE = 1 << 31
MAX_CHUNK_KEYS = 1 << 20

#: Reads of this many bytes or more skip the buffer (a large value: one copy, not three).
BIG_TAKE = 1 << 16

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_END = struct.Struct(">QQ")


@dataclass(frozen=True)
class ListingChunk:
    """A run of ``(tkey, digest)`` entries in key order, kept as the bytes they came in."""

    lengths: bytes  # n x u32 BE
    blob: bytes  # the tkeys, back to back
    digests: bytes  # n x 16 bytes

    def __len__(self) -> int:
        return len(self.lengths) // 4

    def keys(self) -> list[bytes]:
        """The type keys."""
        out, pos = [], 0
        for (n,) in struct.iter_unpack(">I", self.lengths):
            out.append(self.blob[pos : pos + n])
            pos += n
        return out

    def entries(self) -> Iterator[tuple[bytes, bytes]]:
        """``(tkey, digest)`` pairs."""
        d = self.digests
        for i, tk in enumerate(self.keys()):
            yield tk, d[i * DIGEST_BYTES : (i + 1) * DIGEST_BYTES]


@dataclass(frozen=True)
class ValueRun:
    """A run of ``(tkey, digest, stored value)`` in key order, as the bytes they came in (``B``)."""

    lengths: bytes  # n x u32 BE tkey lengths
    sizes: bytes  # n x u32 BE value lengths
    blob: bytes  # the tkeys, back to back
    digests: bytes  # n x 16 bytes
    values: bytes | memoryview  # the values, back to back (a view into a body read whole)

    def __len__(self) -> int:
        return len(self.lengths) // 4

    def triples(self) -> list[tuple[bytes, bytes, bytes]]:
        """``(tkey, digest, stored)`` for each value (sliced a list at a time: a run is
        mostly small values, where a loop's steps per value were most of the cost)."""
        n = len(self)
        klens = struct.unpack(f">{n}I", self.lengths)
        vlens = struct.unpack(f">{n}I", self.sizes)
        blob, digs = self.blob, self.digests
        values = self.values if isinstance(self.values, bytes) else bytes(self.values)  # one copy
        tks = [blob[e - k : e] for e, k in zip(itertools.accumulate(klens), klens, strict=True)]
        ds = [digs[i : i + DIGEST_BYTES] for i in range(0, n * DIGEST_BYTES, DIGEST_BYTES)]
        vs = [values[e - m : e] for e, m in zip(itertools.accumulate(vlens), vlens, strict=True)]
        return list(zip(tks, ds, vs, strict=True))


@dataclass(frozen=True)
class Record:
    """One decoded record: ``kind`` is ``K``, ``V``, ``W``, ``X`` or ``D`` (``L`` gives a chunk)."""

    kind: str
    tkey: bytes
    digest: bytes = b""
    value: bytes = b""
    #: A ``W`` record's wire encoding number (``value`` is then in that encoding).
    encoding: int = 0


class FrameWriter:
    """Encodes one body; every method returns the bytes to send next."""

    def __init__(self) -> None:
        self._h = xxhash.xxh3_64()
        self._h.update(MAGIC)
        self.records = 0

    def _out(self, *parts: bytes) -> bytes:
        data = b"".join(parts)
        self._h.update(data)
        self.records += 1
        return data

    def start(self) -> bytes:
        """The magic that opens a body."""
        return MAGIC

    def listing(self, tkeys: Sequence[bytes], digests: Sequence[bytes]) -> bytes:
        """A listing chunk."""
        lengths = struct.pack(f">{len(tkeys)}I", *(len(t) for t in tkeys))
        return self._out(b"L", _U32.pack(len(tkeys)), lengths, *tkeys, *digests)

    def _keyed(self, kind: bytes, tkey: bytes) -> bytes:
        return self._out(kind, _U32.pack(len(tkey)), tkey)

    def key(self, tkey: bytes) -> bytes:
        """A wanted key."""
        return self._keyed(b"K", tkey)

    def missing(self, tkey: bytes) -> bytes:
        """A wanted key the sender does not hold (any more)."""
        return self._keyed(b"X", tkey)

    def delete(self, tkey: bytes) -> bytes:
        """A key the receiver removes."""
        return self._keyed(b"D", tkey)

    def value(self, tkey: bytes, dig: bytes, stored: bytes) -> bytes:
        """A stored value with its digest."""
        if len(dig) != DIGEST_BYTES:
            raise ValueError("a digest is 16 bytes")
        return self._out(b"V", _U32.pack(len(tkey)), tkey, dig, _U64.pack(len(stored)), stored)

    def value_pieces(self, tkey: bytes, dig: bytes, stored: bytes) -> tuple[bytes, bytes]:
        """:meth:`value` as its head and the value itself: a large value is sent as it is,
        not copied into one record."""
        if len(dig) != DIGEST_BYTES:
            raise ValueError("a digest is 16 bytes")
        head = b"".join((b"V", _U32.pack(len(tkey)), tkey, dig, _U64.pack(len(stored))))
        self._h.update(head)
        self._h.update(stored)
        self.records += 1
        return head, stored

    def wired(self, tkey: bytes, dig: bytes, encoding: int, payload: bytes) -> bytes:
        """A value in wire encoding ``encoding`` (1..255) with its stored value's digest."""
        if len(dig) != DIGEST_BYTES or not 0 < encoding < 256:
            raise ValueError("a digest is 16 bytes and an encoding 1..255")
        size = _U64.pack(len(payload))
        return self._out(b"W", _U32.pack(len(tkey)), tkey, dig, bytes([encoding]), size, payload)

    def run(
        self, tkeys: Sequence[bytes], digests: Sequence[bytes], values: Sequence[bytes]
    ) -> bytes:
        """A run of small stored values with their digests (one record, parsed in bulk)."""
        n = len(tkeys)
        if not n == len(digests) == len(values) or any(len(d) != DIGEST_BYTES for d in digests):
            raise ValueError("a digest is 16 bytes, one for each key and value")
        return self._out(
            b"B",
            _U32.pack(n),
            struct.pack(f">{n}I", *map(len, tkeys)),
            struct.pack(f">{n}I", *map(len, values)),
            *tkeys,
            *digests,
            *values,
        )

    def checkpoint(self) -> bytes:
        """A checkpoint: the checksum of the body so far (the reader gives out nothing before it
        is verified, so a long stream resumes from verified records only)."""
        self._h.update(b"C")
        data = _U64.pack(self._h.intdigest())
        self._h.update(data)
        self.records += 1
        return b"C" + data

    def end(self) -> bytes:
        """The end record (count and checksum of everything before it)."""
        self._h.update(b"E")
        return b"E" + _END.pack(self.records, self._h.intdigest())


#: Bytes of records between the checkpoints :func:`checkpointed` puts in.
CHECKPOINT_BYTES = 1 << 20


#: One record: its bytes, or its pieces (sent one after the other).
Encoded = bytes | tuple[bytes, ...]


def checkpointed(
    records: Iterable[Encoded], writer: FrameWriter, every: int = CHECKPOINT_BYTES
) -> Iterator[Encoded]:
    """``records`` with a checkpoint after each ``every`` bytes of them (between records)."""
    n = 0
    for rec in records:
        yield rec
        n += len(rec) if isinstance(rec, bytes) else sum(len(p) for p in rec)
        if n >= every:
            yield writer.checkpoint()
            n = 0


#: Values below this size travel in runs (``B``) rather than one record each.
RUN_VALUE = 1 << 16
#: Values, and bytes, per run.
RUN_VALUES = 256
RUN_BYTES = 1 << 20


def value_records(
    runs: Iterable[Sequence[tuple[bytes, bytes, bytes, int]]], writer: FrameWriter
) -> Iterator[Encoded]:
    """Runs of ``(tkey, digest, payload, encoding)`` as records, in order: stored values
    smaller than :data:`RUN_VALUE` in ``B`` runs (of up to :data:`RUN_VALUES` values, or
    the value that brings them to :data:`RUN_BYTES`, across the runs given), the others
    one ``V`` (or ``W``, encoding > 0) record each."""
    run = _Run(writer)
    for values in runs:
        if not values:
            continue
        tks, digs, vals, numbers = zip(*values, strict=True)
        if not any(numbers) and max(map(len, vals)) < RUN_VALUE:
            yield from run.add(tks, digs, vals)  # the common case: cut in slices
            continue
        for tk, d, v, n in values:
            if not n and len(v) < RUN_VALUE:
                yield from run.add((tk,), (d,), (v,))
                continue
            yield from run.flush()
            yield writer.wired(tk, d, n, v) if n else writer.value_pieces(tk, d, v)
    yield from run.flush()


class _Run:
    """The ``B`` run :func:`value_records` is filling."""

    def __init__(self, writer: FrameWriter) -> None:
        self.writer = writer
        self.tks: list[bytes] = []
        self.digs: list[bytes] = []
        self.vals: list[bytes] = []
        self.size = 0

    def add(
        self, tks: Sequence[bytes], digs: Sequence[bytes], vals: Sequence[bytes]
    ) -> Iterator[bytes]:
        """Add small values, giving out each run they fill."""
        i, m = 0, len(vals)
        while i < m:
            j = min(m, i + RUN_VALUES - len(self.vals))
            sizes = list(itertools.accumulate(map(len, vals[i:j]), initial=self.size))[1:]
            full = bisect.bisect_left(sizes, RUN_BYTES)  # the value that brings it there
            if full < j - i:
                j = i + full + 1
            self.tks += tks[i:j]
            self.digs += digs[i:j]
            self.vals += vals[i:j]
            self.size = sizes[j - i - 1]
            i = j
            if len(self.vals) >= RUN_VALUES or self.size >= RUN_BYTES:
                yield from self.flush()

    def flush(self) -> Iterator[bytes]:
        if self.vals:
            yield self.writer.run(self.tks, self.digs, self.vals)
            self.tks, self.digs, self.vals, self.size = [], [], [], 0


def encode(records: Iterable[Encoded], writer: FrameWriter) -> Iterator[bytes]:
    """``start``, the encoded ``records`` (made with ``writer``), then ``end``."""
    yield writer.start()
    for rec in records:
        if isinstance(rec, bytes):
            yield rec
        else:
            yield from rec
    yield writer.end()


class FrameReader:
    """Decodes a body from an iterable of byte chunks; iterate it for the records.

    Yields :class:`ListingChunk` and :class:`Record` objects. Raises
    :class:`CorruptDataError` for a body that does not start with the magic, ends
    before its end record (cut off), fails its count or checksum, or goes on past it.
    """

    def __init__(
        self, chunks: Iterable[bytes | bytearray | memoryview], what: str = "body"
    ) -> None:
        self._it = iter(chunks)
        self._buf = bytearray()
        self._pos = 0
        #: Position in the buffer up to which the checksum has been fed.
        self._hashed = 0
        self._h = xxhash.xxh3_64()
        self.what = what
        self.records = 0
        #: Bytes read so far.
        self.nbytes = 0

    def _fill(self, n: int) -> None:
        """Have at least ``n`` unread bytes in the buffer (hashing what is dropped)."""
        buf = self._buf
        while len(buf) - self._pos < n:
            chunk = next(self._it, None)
            if chunk is None:
                raise CorruptDataError(
                    f"the sync {self.what} was cut off after {self.nbytes} bytes",
                    hint="the connection dropped or the peer stopped; run the command again",
                )
            if self._pos:
                self._hash_read()
                del buf[: self._pos]
                self._pos = self._hashed = 0
            buf += chunk

    def _hash_read(self) -> None:
        """Fold the bytes read since the last call into the checksum (in bulk, not per field)."""
        if self._pos > self._hashed:
            with memoryview(self._buf) as m:
                self._h.update(m[self._hashed : self._pos])
            self._hashed = self._pos

    def _take(self, n: int) -> bytes:
        if n >= BIG_TAKE and len(self._buf) - self._pos < n:
            return self._take_big(n)
        self._fill(n)
        p = self._pos
        with memoryview(self._buf) as m:
            out = bytes(m[p : p + n])
        self._pos = p + n
        self.nbytes += n
        return out

    def _take_big(self, n: int) -> bytes:
        """``n`` bytes straight from the chunks, joined once (not through the buffer)."""
        self._hash_read()
        buf, p = self._buf, self._pos
        with memoryview(buf) as m:
            parts: list[bytes | bytearray | memoryview] = [bytes(m[p:])]
        have = len(buf) - p
        buf.clear()
        self._pos = self._hashed = 0
        while have < n:
            chunk = next(self._it, None)
            if chunk is None:
                self.nbytes += have
                raise CorruptDataError(
                    f"the sync {self.what} was cut off after {self.nbytes} bytes",
                    hint="the connection dropped or the peer stopped; run the command again",
                )
            need = n - have
            if len(chunk) > need:
                with memoryview(chunk) as m:
                    parts.append(m[:need].tobytes())
                    buf += m[need:]
            else:
                parts.append(chunk)
            have += min(len(chunk), need)
        out = b"".join(parts)
        self._h.update(out)
        self.nbytes += n
        return out

    def _u32(self) -> int:
        self._fill(4)
        (v,) = _U32.unpack_from(self._buf, self._pos)
        self._pos += 4
        self.nbytes += 4
        return int(v)

    def _tkey(self) -> bytes:
        n = self._u32()
        if not 0 < n <= MAX_TKEY:
            raise self._bad(f"a type key length of {n}")
        return self._take(n)

    def _bad(self, what: str) -> CorruptDataError:
        return CorruptDataError(f"the sync {self.what} is damaged: {what}")

    def __iter__(self) -> Iterator[ListingChunk | ValueRun | Record]:
        """The records, each given out only once a checkpoint or the end covers it."""
        if self._take(len(MAGIC)) != MAGIC:
            raise self._bad("it does not start with the sync magic")
        held: list[ListingChunk | ValueRun | Record] = []
        while True:
            kind = self._take(1)
            if kind == b"E":
                self._finish()
                yield from held
                return
            if kind == b"C":
                self._checkpoint()
                yield from held
                held.clear()
            elif kind == b"L":
                n = self._u32()
                if n > MAX_CHUNK_KEYS:
                    raise self._bad(f"a listing chunk of {n} keys")
                lengths = self._take(4 * n)
                total = sum(x for (x,) in struct.iter_unpack(">I", lengths))
                if total > MAX_TKEY * max(n, 1):
                    raise self._bad("listing key lengths")
                chunk = ListingChunk(lengths, self._take(total), self._take(DIGEST_BYTES * n))
                self.records += 1
                held.append(chunk)
            elif kind in (b"K", b"X", b"D"):
                tkey = self._tkey()
                self.records += 1
                held.append(Record(kind.decode(), tkey))
            elif kind in (b"V", b"W"):
                held.append(self._value(kind))
            elif kind == b"B":
                held.append(self._run())
            else:
                raise self._bad(f"unknown record kind {kind!r}")

    def _checkpoint(self) -> None:
        self._hash_read()
        expect = self._h.intdigest()
        (checksum,) = _U64.unpack(self._take(8))
        self.records += 1
        if checksum != expect:
            raise self._bad("a checkpoint does not match what came before it")

    def _run(self) -> ValueRun:
        n = self._u32()
        if n > MAX_CHUNK_KEYS:
            raise self._bad(f"a value run of {n} values")
        lengths, sizes = self._take(4 * n), self._take(4 * n)
        total = sum(x for (x,) in struct.iter_unpack(">I", lengths))
        size = sum(x for (x,) in struct.iter_unpack(">I", sizes))
        if total > MAX_TKEY * max(n, 1) or size > MAX_VALUE:
            raise self._bad("value run lengths")
        blob, digests = self._take(total), self._take(DIGEST_BYTES * n)
        self.records += 1
        return ValueRun(lengths, sizes, blob, digests, self._take(size))

    def _value(self, kind: bytes) -> Record:
        """A ``V`` or ``W`` record after its kind byte: three buffer fills, not one per field."""
        n = self._u32()
        if not 0 < n <= MAX_TKEY:
            raise self._bad(f"a type key length of {n}")
        wired = kind == b"W"
        head = n + DIGEST_BYTES + wired + 8
        self._fill(head)
        buf, p = self._buf, self._pos
        tkey = bytes(buf[p : p + n])
        dig = bytes(buf[p + n : p + n + DIGEST_BYTES])
        encoding = buf[p + n + DIGEST_BYTES] if wired else 0
        (size,) = _U64.unpack_from(buf, p + head - 8)
        self._pos = p + head
        self.nbytes += head
        if wired and not encoding:
            raise self._bad("a wire value without an encoding")
        if size > MAX_VALUE:
            raise self._bad(f"a value length of {size}")
        value = self._take(size)
        self.records += 1
        return Record(kind.decode(), tkey, dig, value, encoding)

    def _finish(self) -> None:
        self._hash_read()
        expect = self._h.intdigest()
        records, checksum = _END.unpack(self._take(_END.size))
        if records != self.records or checksum != expect:
            raise self._bad("its end record does not match what came before")
        if len(self._buf) > self._pos or any(len(c) for c in self._it):
            raise self._bad("bytes follow its end record")


def read_all(chunks: Iterable[bytes | bytearray | memoryview], what: str = "body") -> list[Record]:
    """Every record of a small body (wanted keys, a batch), checked whole before use."""
    out: list[Record] = []
    for rec in FrameReader(chunks, what):
        if isinstance(rec, ListingChunk):
            out.extend(Record("K", tk, d) for tk, d in rec.entries())
        elif isinstance(rec, ValueRun):
            out.extend(Record("V", tk, d, v) for tk, d, v in rec.triples())
        else:
            out.append(rec)
    return out
