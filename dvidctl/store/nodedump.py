"""Everything one node stored for one instance, in key order and in runs: a sync dump's reads.

A receiver that holds nothing of a node asks for all of it, one batch after the
other (``after`` the last key it got). :func:`stored_runs` answers with lists of
``(tkey, digest, stored)``, reading the node's delta in chunks and the values in
bulk, so a small value costs a few list operations rather than a trip through
generator layers (10⁶ keyvalue keys: ~1.5 µs a value, from ~5).

Values are read by one of two means, chosen as the dump goes (:class:`_Reader`):

* a scan of the data range the wanted keys span, while the node holds most of it
  (a root, or a node that wrote nearly every key): one sequential read, ~0.7 µs an
  entry;
* point reads otherwise (a node that changed a few keys among many versions):
  ~2.5 µs a key, but no read of other nodes' values.

Nothing here decodes or checks a value: the receiver checks every digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from dvidctl.store.engine import CF_DATA, CF_DELTA, KVEngine, prefix_end
from dvidctl.store.keys import u32

#: One stored value as a dump sends it: ``(tkey, digest, stored)``.
Stored = tuple[bytes, bytes, bytes]

#: Delta entries read at a time.
_LISTED = 1024
#: Stored bytes one read aims at: the first bytes of an answer leave early, and a
#: read is large enough to cost little per key.
READ_BYTES = 2 << 20
#: Values larger than this on average are never read by a scan: the other versions
#: a scan passes over would cost their bytes, and a point read costs little per byte.
_SCAN_VALUE = 16 << 10
#: Rounds of point reads after a scan found the range sparse (doubled each time).
_BACKOFF = 8


def stored_runs(
    engine: KVEngine,
    vid: int,
    iid: int,
    after: bytes | None = None,
    max_values: int | None = None,
    max_bytes: int | None = None,
) -> Iterator[list[Stored]]:
    """Lists of ``(tkey, digest, stored)`` for every key node ``vid`` stored for ``iid``.

    In key order, from the first type key after ``after``. A key whose value is gone
    (an open node changed since its delta was read) is left out. With the limits, it
    ends after the value that brings the count or the stored bytes to one (the
    receiver's batch). The delta is read as of the call.
    """
    prefix = u32(vid) + u32(iid)
    start = prefix if after is None else prefix + after + b"\x00"
    listed = engine.scan_chunks(CF_DELTA, start, prefix_end(prefix), _LISTED)
    return _runs(listed, _Reader(engine, vid, iid), max_values, max_bytes)


def _runs(
    listed: Iterator[list[tuple[bytes, bytes]]],
    reader: _Reader,
    max_values: int | None,
    max_bytes: int | None,
) -> Iterator[list[Stored]]:
    import numpy as np  # here: 'status' and the like need no numpy

    values_left = -1 if max_values is None else max(1, max_values)
    bytes_left = -1 if max_bytes is None else max(0, max_bytes)
    pending: list[tuple[bytes, bytes]] = []
    want = 16  # keys per read, adapted to about READ_BYTES by the sizes seen
    while True:
        if len(pending) < want:
            pending += next(listed, [])
            if not pending:
                return
        take = want if values_left < 0 else min(want, values_left)
        piece, pending = pending[:take], pending[take:]
        tks = [k[8:] for k, _ in piece]
        got = reader.read(tks)
        if None in got:  # gone since the listing: left out
            both = zip(tks, piece, got, strict=True)
            kept = [(t, d, v) for t, (_, d), v in both if v is not None]
            if not kept:
                continue
            tks, digs, vals = (list(c) for c in zip(*kept, strict=True))
        else:
            digs, vals = [d for _, d in piece], cast(list[bytes], got)
        run = list(zip(tks, digs, vals, strict=True))
        sizes = np.cumsum(np.fromiter(map(len, vals), np.int64, len(vals)))
        last = len(run) if values_left < 0 else min(len(run), values_left)
        if bytes_left >= 0:
            last = min(last, int(np.searchsorted(sizes, bytes_left)) + 1)
        yield run[:last] if last < len(run) else run
        if values_left >= 0:
            values_left -= last
            if values_left <= 0:
                return
        if bytes_left >= 0:
            bytes_left -= int(sizes[last - 1])
            if bytes_left <= 0:
                return
        reader.mean = max(1, int(sizes[-1]) // len(run))
        want = max(1, min(_LISTED, READ_BYTES // reader.mean))


class _Reader:
    """The values node ``vid`` stored for ``iid`` under type keys, by scan or by point reads."""

    def __init__(self, engine: KVEngine, vid: int, iid: int) -> None:
        self.engine = engine
        self._head, self._tail = u32(iid), u32(vid)
        #: Mean size of the values read so far (a scan is for small ones).
        self.mean = 0
        self._wait = 0
        self._backoff = _BACKOFF

    def read(self, tks: list[bytes]) -> list[bytes | None]:
        head, tail = self._head, self._tail
        keys = [head + tk + tail for tk in tks]
        if len(keys) > 1 and 0 < self.mean <= _SCAN_VALUE:  # sizes known, and small
            if self._wait:
                self._wait -= 1
            else:
                got = self._scanned(keys)
                if got is not None:
                    self._backoff = _BACKOFF
                    return got
                self._wait, self._backoff = self._backoff, self._backoff * 2
        return self.engine.multi_get(CF_DATA, keys)

    def _scanned(self, keys: list[bytes]) -> list[bytes | None] | None:
        """The values of ``keys`` from one scan of the range they span, or None when the
        range holds more than twice as many entries (other nodes' versions)."""
        budget = 2 * len(keys) + 16
        chunks = self.engine.scan_chunks(CF_DATA, min(keys), max(keys) + b"\x00", budget + 1)
        try:
            seen = next(chunks, [])
        finally:
            chunks.close()  # type: ignore[attr-defined]
        if len(seen) > budget:
            return None
        found = dict(seen)
        return list(map(found.get, keys))
