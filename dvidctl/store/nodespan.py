"""Several nodes' values of one instance in one key-ordered stream: a *span*.

A clone used to receive node after node. A key's versions are adjacent in ``data``
(``iid | tkey | vid``), so each node's values cover the whole key range of an
instance, and the table files a node-by-node clone ingests overlap those of every
node before: the close had to merge them all (:mod:`.space`; 0.4-0.9 s of
bench_sync's 120 MB clone, as long as the transfer, and minutes for a large
repository). A span moves the values of several nodes that the receiver holds nothing
of in the receiver's own key order instead: every batch covers a range of keys no
other batch touches, so each table file goes to the bottom level as it is and nothing
is left to compact.

**Wire keys.** A span answers records whose key is ``tkey | u32 BE position``, the
position being the node's index in the list the receiver asked with. The receiver
lists its nodes in the order of its own version ids, so sorted wire keys are its
sorted data keys (``iid | tkey | vid``) whatever the sender's version ids are; a
batch may end anywhere, and ``after`` is the last wire key of the batch before.

* :func:`span_runs` -- the sender: one scan of the instance's ``data`` range, the
  wanted nodes' values kept, each key's versions put in the receiver's order, each
  value with the xxh3-128 of its bytes (the receiver checks it; completion then
  compares the node digests, which come from the delta index, so a value that does not
  match its index entry is caught there);
* :class:`SpanBatch` -- the receiver: an :class:`~.nodedelta.IncomingBatch` whose
  values belong to several incoming nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from operator import itemgetter

import xxhash

from dvidctl.errors import BadRequestError
from dvidctl.store.engine import CF_DATA, CF_META, KVEngine, prefix_end
from dvidctl.store.keys import u32
from dvidctl.store.metadata import SPAN_MARK_PREFIX
from dvidctl.store.nodedelta import Applied, IncomingBatch
from dvidctl.store.nodedump import Stored
from dvidctl.store.versioned import VersionedStore

#: Entries one scan step reads (their values included): small enough that reading past
#: a batch's end costs little, large enough that a step costs little per entry.
_STEP = 32


def mark_key(data_uuid: str, nodes: Sequence[str]) -> bytes:
    """The ``meta`` key of a span's mark (an instance's spans start at distinct nodes)."""
    return SPAN_MARK_PREFIX + f"{data_uuid}/{nodes[0]}".encode()


def mark_head(nodes: Sequence[str], digests: Sequence[str]) -> bytes:
    """A mark's value up to its last wire key (:class:`SpanBatch` adds that)."""
    return json.dumps({"nodes": list(nodes), "digests": list(digests)}).encode()


def read_marks(engine: KVEngine) -> list[tuple[str, list[str], list[str], bytes]]:
    """``(data_uuid, nodes, digests, last wire key)`` of every span mark (unreadable ones
    left out: a mark only saves work)."""
    out = []
    for k, v in engine.scan_prefix(CF_META, SPAN_MARK_PREFIX):
        head, _, after = bytes(v).partition(b"\n")
        try:
            doc = json.loads(head)
            data_uuid = k[len(SPAN_MARK_PREFIX) :].decode().split("/")[0]
            nodes, digests = [str(u) for u in doc["nodes"]], [str(d) for d in doc["digests"]]
        except (ValueError, KeyError, TypeError):
            continue
        if nodes and len(digests) == len(nodes) and after and mark_key(data_uuid, nodes) == k:
            out.append((data_uuid, nodes, digests, after))
    return out


def split_wire_key(wkey: bytes) -> tuple[bytes, int]:
    """``(tkey, position)`` of a span's wire key."""
    if len(wkey) < 5:
        raise BadRequestError(f"span key {wkey.hex()} is too short")
    return wkey[:-4], int.from_bytes(wkey[-4:], "big")


def span_runs(
    engine: KVEngine,
    iid: int,
    vids: Sequence[int],
    after: bytes | None = None,
    max_values: int | None = None,
    max_bytes: int | None = None,
) -> Iterator[list[Stored]]:
    """Lists of ``(wire key, digest, stored)``: every value nodes ``vids`` stored for ``iid``.

    In wire-key order (type key, then position in ``vids``), from the first wire key
    greater than ``after``. With the limits, it ends after the value that brings the
    count or the stored bytes to one (the receiver's batch). Each list holds at most
    one scan step's values, so memory stays bounded however many versions a type key
    has. Bad arguments raise here, before anything is read.
    """
    position = {u32(v): u32(i) for i, v in enumerate(vids)}
    if len(position) != len(vids):
        raise BadRequestError("a span names a node twice")
    prefix = u32(iid)
    start = prefix if after is None else prefix + split_wire_key(after)[0]
    if not vids:
        return iter(())
    ordered = list(vids) == sorted(vids)  # positions follow this side's key order (a clone's)
    return _runs(engine, prefix, start, position, ordered, after, max_values, max_bytes)


def _runs(
    engine: KVEngine,
    prefix: bytes,
    start: bytes,
    position: dict[bytes, bytes],
    ordered: bool,
    after: bytes | None,
    max_values: int | None,
    max_bytes: int | None,
) -> Iterator[list[Stored]]:
    values_left = -1 if max_values is None else max(1, max_values)
    bytes_left = -1 if max_bytes is None else max(0, max_bytes)
    steps = engine.scan_chunks(CF_DATA, start, prefix_end(prefix), _STEP)
    source = _in_order(steps, position) if ordered else _regrouped(engine, steps, position)
    try:
        for run in source:
            if after is not None and run[0][0] <= after:
                run = [item for item in run if item[0] > after]
                if not run:
                    continue
            out, values_left, bytes_left, done = _limited(run, values_left, bytes_left)
            yield out
            if done:
                return
    finally:
        steps.close()  # type: ignore[attr-defined]


def _in_order(
    steps: Iterator[list[tuple[bytes, bytes]]], position: dict[bytes, bytes]
) -> Iterator[list[Stored]]:
    """The wanted nodes' values of each scan step, as they come (already in wire-key order)."""
    xd = xxhash.xxh3_128_digest
    for step in steps:
        got = [(k, v, position.get(k[-4:])) for k, v in step]
        run = [(k[4:-4] + p, xd(v), v) for k, v, p in got if p is not None]
        if run:
            yield run


def _regrouped(
    engine: KVEngine, steps: Iterator[list[tuple[bytes, bytes]]], position: dict[bytes, bytes]
) -> Iterator[list[Stored]]:
    """Each type key's versions in position order, when that is not this side's version
    order: the scan gives their keys, and their values are read again a few at a time
    (holding a key's versions whole could take gigabytes: a value rewritten by each of
    a thousand nodes)."""
    group: list[tuple[bytes, bytes]] = []  # (wire key, data key) of one type key's versions
    for step in steps:
        for k, _ in step:
            p = position.get(k[-4:])
            if p is None:
                continue
            tk = k[4:-4]
            if group and group[0][0][:-4] != tk:
                yield from _reread(engine, group)
                group = []
            group.append((tk + p, k))
    yield from _reread(engine, group)


def _reread(engine: KVEngine, group: list[tuple[bytes, bytes]]) -> Iterator[list[Stored]]:
    xd = xxhash.xxh3_128_digest
    group.sort()
    for i in range(0, len(group), _STEP):
        part = group[i : i + _STEP]
        got = engine.multi_get(CF_DATA, [dk for _, dk in part])
        run = [(wk, xd(v), v) for (wk, _), v in zip(part, got, strict=True) if v is not None]
        if run:
            yield run


def _limited(
    run: list[Stored], values_left: int, bytes_left: int
) -> tuple[list[Stored], int, int, bool]:
    """``run`` up to the value that brings the count or the bytes to a limit; the limits
    left and whether one was reached (-1: no limit)."""
    done = False
    if values_left >= 0 and len(run) >= values_left:
        run, done = run[:values_left], True
    if bytes_left >= 0:
        total = 0
        for i, (_, _, v) in enumerate(run):
            total += len(v)
            if total >= bytes_left:
                run, done = run[: i + 1], True
                break
        bytes_left -= total
    if values_left >= 0:
        values_left -= len(run)
    return run, values_left, bytes_left, done


class SpanBatch(IncomingBatch):
    """One batch of a span at incoming nodes ``vids`` (ascending, unless ``any_order``),
    built as values arrive.

    Values are put by wire key (:func:`split_wire_key`); their data keys come in key
    order, so they go into the table file the commit ingests as they arrive, and each
    batch's file covers keys no other batch of the span has. A span only adds values to
    nodes that held nothing of the instance when it started, once each, so a commit
    replaces no stored bytes (no lookup of the delta entries).
    """

    def __init__(
        self,
        store: VersionedStore,
        vids: Sequence[int],
        iid: int,
        *,
        warm: bool = False,
        any_order: bool = False,
        mark: tuple[bytes, bytes] | None = None,
    ) -> None:
        if not vids or len(set(vids)) != len(vids):
            raise BadRequestError("a span's nodes must be distinct, in version order")
        if not any_order and list(vids) != sorted(vids):
            raise BadRequestError("a span's nodes must be distinct, in version order")
        #: Nodes named in another order than this side's (a server's batch, which comes
        #: whole): each :meth:`put_many` puts its values in data-key order first.
        self.any_order = any_order
        #: ``(meta key, head)``: the commit also writes ``head | \n | the last wire key
        #: put`` there, in the same atomic write, so that an interrupted span can resume
        #: after it (the receiver's record of how far the span got).
        self.mark = mark
        self._last_wk = b""
        self.vids = list(vids)
        super().__init__(store, self.vids[0], iid, warm=warm)
        self._suffixes = [u32(v) for v in self.vids]
        self._delta_pres = [u32(v) + u32(iid) for v in self.vids]

    def _check_node(self) -> None:
        for vid in self.vids:
            self._check_vid(vid)

    def put(self, tkey: bytes, dig: bytes, stored: bytes) -> None:
        """Add one received value by its wire key (see :meth:`put_many`)."""
        self.put_many([(tkey, dig, stored)])

    def put_many(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> None:
        """Add ``(wire key, digest, stored)`` values (every digest checked first)."""
        self._check_all(items)
        suffixes, delta_pres, pre = self._suffixes, self._delta_pres, self._data_pre
        n = len(suffixes)
        placed = []
        for wk, dig, stored in items:
            tk, p = wk[:-4], int.from_bytes(wk[-4:], "big")
            if not tk or p >= n:
                self.discard()
                raise BadRequestError(f"span key {bytes(wk[:40]).hex()} names no node of the span")
            placed.append((pre + tk + suffixes[p], delta_pres[p] + tk, dig, stored))
        if self.any_order:
            placed.sort(key=itemgetter(0))
        if items and self.mark is not None:
            self._last_wk = max(self._last_wk, max(wk for wk, _, _ in items))
        self._add(placed)

    def delete(self, tkey: bytes) -> None:
        """A span only adds values."""
        raise BadRequestError("a span removes nothing: it fills nodes that hold nothing")

    def _replaced(self) -> int:
        return 0

    def commit(self) -> Applied:
        """Write the batch (and the span's mark) in one atomic, durable engine write."""
        if self.mark is not None and self.puts:
            key, head = self.mark
            self._wb.ops.append((CF_META, key, head + b"\n" + self._last_wk))
        return super().commit()
