"""A whole sync body held in one buffer: checked once, then read without a copy per piece.

:class:`~dvidctl.httpkit.frames.FrameReader` decodes a body as it streams in, chunk by
chunk, folding every byte into the running checksum and joining values out of the
chunks. A body of bounded size (one receiver's batch of values: the sender ends its
answer when the batch is full) can instead be read whole into one reused buffer
(a socket's ``readinto``) and then decoded here:

1. the body must start with the magic and end with an ``E`` record whose checksum,
   xxh3-64 of everything before it, is computed in one pass over the buffer (the
   ``C`` checkpoints inside are then covered by it and skipped);
2. only then are its records decoded, each value copied out of the buffer once (into
   the ``bytes`` the store takes), and the record count checked against the ``E``
   record's.

So a body cut off or damaged anywhere gives out no record at all
(:class:`~dvidctl.errors.CorruptDataError`), as with the streaming reader, whose
format this is (:mod:`.frames`).
"""

from __future__ import annotations

import struct

import xxhash

from dvidctl.errors import CorruptDataError
from dvidctl.httpkit.frames import (
    DIGEST_BYTES,
    MAGIC,
    MAX_CHUNK_KEYS,
    MAX_TKEY,
    MAX_VALUE,
    ListingChunk,
    Record,
    ValueRun,
)

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_END = struct.Struct(">QQ")
_END_BYTES = 1 + _END.size


def read_body(view: memoryview, what: str = "body") -> list[ListingChunk | ValueRun | Record]:
    """The records of the whole body ``view`` (see the module doc); nothing unless it is whole.

    The records hold copies, but for a :class:`ValueRun`'s values, a view into ``view``:
    take its :meth:`~ValueRun.triples` (copies) before the buffer is used again.
    """
    n = len(view)
    if n < len(MAGIC) + _END_BYTES or view[: len(MAGIC)] != MAGIC:
        if n < len(MAGIC) or view[: len(MAGIC)] == MAGIC:
            raise _cut(what, n)
        raise _bad(what, "it does not start with the sync magic")
    end = n - _END_BYTES
    if view[end] != ord("E"):
        raise _cut(what, n)
    records, checksum = _END.unpack_from(view, end + 1)
    if xxhash.xxh3_64_intdigest(view[: end + 1]) != checksum:
        raise _cut(what, n)  # a body that stops early ends in other bytes than its end record
    out, count = _decode(view, len(MAGIC), end, what)
    if count != records:
        raise _bad(what, "its end record does not match what came before")
    return out


def _decode(
    view: memoryview, pos: int, end: int, what: str
) -> tuple[list[ListingChunk | ValueRun | Record], int]:
    out: list[ListingChunk | ValueRun | Record] = []
    count = 0

    def need(k: int) -> None:
        if pos + k > end:
            raise _bad(what, "a record runs past the end")

    while pos < end:
        kind = view[pos]
        pos += 1
        count += 1
        if kind == 0x43:  # C: covered by the end record's checksum
            need(8)
            pos += 8
        elif kind in (0x56, 0x57):  # V, W
            need(4)
            (k,) = _U32.unpack_from(view, pos)
            if not 0 < k <= MAX_TKEY:
                raise _bad(what, f"a type key length of {k}")
            wired = kind == 0x57
            head = 4 + k + DIGEST_BYTES + wired + 8
            need(head)
            tkey = bytes(view[pos + 4 : pos + 4 + k])
            dig = bytes(view[pos + 4 + k : pos + 4 + k + DIGEST_BYTES])
            encoding = view[pos + 4 + k + DIGEST_BYTES] if wired else 0
            (size,) = _U64.unpack_from(view, pos + head - 8)
            if wired and not encoding:
                raise _bad(what, "a wire value without an encoding")
            if size > MAX_VALUE:
                raise _bad(what, f"a value length of {size}")
            pos += head
            need(size)
            value = bytes(view[pos : pos + size])
            pos += size
            out.append(Record(chr(kind), tkey, dig, value, encoding))
        elif kind == 0x42:  # B
            need(4)
            (m,) = _U32.unpack_from(view, pos)
            if m > MAX_CHUNK_KEYS:
                raise _bad(what, f"a value run of {m} values")
            pos += 4
            need(8 * m)
            lengths = bytes(view[pos : pos + 4 * m])
            sizes = bytes(view[pos + 4 * m : pos + 8 * m])
            pos += 8 * m
            total = sum(struct.unpack(f">{m}I", lengths))
            size = sum(struct.unpack(f">{m}I", sizes))
            if total > MAX_TKEY * max(m, 1) or size > MAX_VALUE:
                raise _bad(what, "value run lengths")
            need(total + DIGEST_BYTES * m + size)
            blob = bytes(view[pos : pos + total])
            pos += total
            digests = bytes(view[pos : pos + DIGEST_BYTES * m])
            pos += DIGEST_BYTES * m
            # Each value is copied out once, by ValueRun.triples (a view here, not a copy).
            out.append(ValueRun(lengths, sizes, blob, digests, view[pos : pos + size]))
            pos += size
        elif kind in (0x4B, 0x58, 0x44):  # K, X, D
            need(4)
            (k,) = _U32.unpack_from(view, pos)
            if not 0 < k <= MAX_TKEY:
                raise _bad(what, f"a type key length of {k}")
            need(4 + k)
            out.append(Record(chr(kind), bytes(view[pos + 4 : pos + 4 + k])))
            pos += 4 + k
        elif kind == 0x4C:  # L
            need(4)
            (m,) = _U32.unpack_from(view, pos)
            if m > MAX_CHUNK_KEYS:
                raise _bad(what, f"a listing chunk of {m} keys")
            pos += 4
            need(4 * m)
            lengths = bytes(view[pos : pos + 4 * m])
            pos += 4 * m
            total = sum(struct.unpack(f">{m}I", lengths))
            if total > MAX_TKEY * max(m, 1):
                raise _bad(what, "listing key lengths")
            need(total + DIGEST_BYTES * m)
            blob = bytes(view[pos : pos + total])
            pos += total
            out.append(ListingChunk(lengths, blob, bytes(view[pos : pos + DIGEST_BYTES * m])))
            pos += DIGEST_BYTES * m
        else:
            raise _bad(what, f"unknown record kind {bytes([kind])!r}")
    return out, count


def _cut(what: str, n: int) -> CorruptDataError:
    return CorruptDataError(
        f"the sync {what} was cut off or damaged after {n} bytes",
        hint="the connection dropped or the peer stopped; run the command again",
    )


def _bad(what: str, why: str) -> CorruptDataError:
    return CorruptDataError(f"the sync {what} is damaged: {why}")


__all__ = ["read_body"]
