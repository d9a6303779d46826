"""One stream of a transfer: (node, instance) units moved over a connection of its own.

A :class:`Stream` holds a sender and a receiver endpoint of its own (for a server:
its own kept-alive connection and counters, :meth:`Endpoint.fork`) and moves one
unit at a time -- the receiver's entries for one (node, instance) made equal to
the sender's -- in batches, with at most **one batch on the way**: every request
for values asks for at most what fits in the receiver's current batch (``dump``
and ``values`` take the batch's limits; the sender ends its answer after the
value that fills it), and the stream's next request is made only once that
batch is durable. A local receiver puts the values of a server's answer into the
batch a run at a time (:meth:`Endpoint.batch`: digests checked, then into the
table file the batch's commit ingests); a remote receiver gets each batch in one
request, applied on the stream's worker while the next one is read locally (its
one request is still the only batch on the wire). So a rerun after an
interruption diffs again and sends again at most the one batch per stream that
was not durable yet.

:class:`~dvidctl.sync.transfer.Transfer` runs several streams at once
(:attr:`Options.streams <dvidctl.sync.transfer.Options.streams>`), so that the
sender prepares one stream's batch while the receiver makes another's durable;
what a batch did is counted through the transfer (:meth:`Transfer.applied`). The
streams share one budget of slots, one batch on the way each: a stream whose unit
is the only one left (a node of one large instance) reads its next batch ahead on
a second connection while it makes the current one durable, on a slot the others
left idle (:meth:`Transfer.borrow`), so the bound stays one batch per stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, cast

from dvidctl.errors import CorruptDataError, DvidError
from dvidctl.store.nodedelta import Applied
from dvidctl.sync.diff import diff
from dvidctl.sync.endpoint import BatchWriter, Endpoint, Value

if TYPE_CHECKING:
    from dvidctl.sync.spans import Span
    from dvidctl.sync.transfer import Transfer


class Stopped(DvidError):
    """Another stream of the transfer failed: this one stops after its batch (internal)."""


class Stream:
    """One stream of ``transfer`` between ``sender`` and ``receiver`` (see the module doc)."""

    def __init__(self, transfer: Transfer, sender: Endpoint, receiver: Endpoint) -> None:
        self.transfer = transfer
        self.sender = sender
        self.receiver = receiver
        #: The apply worker of the unit being moved, and the batch it is applying.
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: tuple[Future[Applied], str] | None = None
        #: Values of the current unit's first batch (``auto`` times converting some).
        self.sample: list[tuple[bytes, bytes]] = []
        #: Bytes a unit's keys carry after the type key (a span's node position: 4).
        self._suffix = 0
        #: Set by the transfer when another stream failed.
        self.stop: threading.Event = transfer.stop
        #: The sender's second connection, for a batch read ahead on a slot another stream
        #: leaves idle (:meth:`_everything`); made when first used.
        self.ahead: Endpoint | None = None

    @property
    def dumps(self) -> bool:
        """Whether the sender's own class streams whole nodes (a wrapper that filters the
        sender's listing, such as a partial clone's, and does not say how it dumps, is
        read through listings and values as before)."""
        own = callable(getattr(type(self.sender), "dump", None))
        return own and bool(getattr(self.sender, "dumps", True))  # an older server: no dump

    def instance(self, node: str, data_uuid: str, *, list_receiver: bool) -> None:
        """Make the receiver's entries for (node, instance) equal to the sender's."""
        if list_receiver or not self.dumps:
            self._unit(data_uuid, lambda: self._diffed(node, data_uuid, list_receiver))
        else:  # the receiver holds none of it: every value, one batch per request
            read, open_batch = self._dumping(node, data_uuid)
            self._unit(data_uuid, lambda: self._everything(data_uuid, read, open_batch))

    def span(self, span: Span) -> None:
        """Give the receiver's ``span.nodes`` (in its span order, each holding nothing of
        the instance but what this span brought before ``span.after``) the sender's values
        of them, all in one key-ordered stream (:mod:`dvidctl.store.nodespan`), one batch
        per request. The receiver's mark of the span stays until its nodes complete (a
        rerun before then asks for nothing more of an ended span, and lists nothing)."""
        o = self.transfer.options
        nodes, data_uuid = span.nodes, span.data_uuid

        def read(sender: Endpoint | None, after: bytes | None) -> list[list[Value]]:
            assert sender is not None
            span_runs = sender.span_runs  # type: ignore[attr-defined]
            return list(span_runs(nodes, data_uuid, after, o.batch_values, o.batch_bytes))

        def open_batch() -> BatchWriter:
            return self.receiver.span_batch(nodes, data_uuid, span.digests)  # type: ignore[attr-defined]

        self._suffix = 4
        try:
            move = partial(self._everything, data_uuid, read, open_batch, span.after)
            self._unit(data_uuid, move)
        finally:
            self._suffix = 0

    def _unit(self, data_uuid: str, move: Callable[[], None]) -> None:
        self.transfer.encoding(data_uuid)
        self.sample = []
        self.transfer.enter()
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="dvidctl-sync-apply") as pool:
                self._pool = pool
                try:
                    move()
                    self._wait()
                finally:
                    self._pool = None
                    if self._inflight is not None:  # a failure: let the batch in flight end
                        self._inflight[0].exception()
                        self._inflight = None
        finally:
            self.transfer.leave()

    def _check(self) -> None:
        if self.stop.is_set():
            raise Stopped("another stream of the transfer failed")

    def _put(self, batch: BatchWriter, data_uuid: str, tk: bytes, dig: bytes, v: bytes) -> None:
        batch.put(tk, dig, v)
        if len(self.sample) < 64 and self.transfer.undecided(data_uuid):
            self.sample.append((tk, v))

    def _put_run(
        self, batch: BatchWriter, data_uuid: str, run: list[tuple[bytes, bytes, bytes]]
    ) -> None:
        """:meth:`_put` for each value of ``run``, in one call where the batch takes runs."""
        put_many = getattr(batch, "put_many", None)
        if put_many is None:
            for tk, dig, v in run:
                batch.put(tk, dig, v)
        else:
            put_many(run)
        room = 64 - len(self.sample)
        if room > 0 and self.transfer.undecided(data_uuid):
            cut = self._suffix  # a span's wire keys end in a node position: not the type key's
            self.sample.extend((tk[: len(tk) - cut], v) for tk, _, v in run[:room])

    def _diffed(self, node: str, data_uuid: str, list_receiver: bool) -> None:
        o = self.transfer.options
        theirs = self.receiver.listing(node, data_uuid) if list_receiver else iter(())
        batch = self.receiver.batch(node, data_uuid)
        for step in diff(self.sender.listing(node, data_uuid), theirs):
            self.transfer.count_same(step.same)
            for tk in step.delete:
                batch.delete(tk)
                batch = self._maybe_flush(node, data_uuid, batch)
            i = 0
            while i < len(step.send):
                self._check()
                room = max(1, o.batch_values - len(batch))
                wanted = step.send[i : i + min(room, self.transfer.per_request())]
                got = 0
                room_bytes = max(1, o.batch_bytes - batch.nbytes)
                for tk, dig, stored in self.sender.values(node, data_uuid, wanted, room_bytes):
                    got += 1
                    if dig is None or stored is None:
                        batch.delete(tk)  # gone from an open sender node meanwhile
                    else:
                        self._put(batch, data_uuid, tk, dig, stored)
                if not got:
                    raise CorruptDataError("the sender answered no value of those asked for")
                i += got
                batch = self._maybe_flush(node, data_uuid, batch)
        self._close(data_uuid, batch)

    def _everything(
        self,
        data_uuid: str,
        read: Callable[[Endpoint | None, bytes | None], list[list[Value]]],
        open_batch: Callable[[], BatchWriter],
        after: bytes | None = None,
    ) -> None:
        """Every value of a unit (a node's dump, or a span), one batch per request: ``read``
        gives one batch's runs from a sender after a key, ``open_batch`` the receiver's batch;
        the first batch starts after ``after`` (a resumed span), else at the start.

        A batch read whole from a server says where the next one starts before any of
        it is written: when a slot of the transfer's streams is idle
        (:meth:`Transfer.borrow`), the next batch is asked for on a second connection
        while this one is written and made durable, so one large unit keeps the sender
        and the receiver busy at once. The slot is given back once this batch is durable
        (the next one then rides on the stream's own): never more batches on the way
        than the transfer has streams.
        """
        o = self.transfer.options
        ahead: Future[list[list[Value]]] | None = None
        owed = False
        with ThreadPoolExecutor(1, thread_name_prefix="dvidctl-sync-ahead") as reader:
            try:
                while True:
                    self._check()
                    if ahead is not None:
                        runs, ahead = ahead.result(), None
                    else:
                        runs = read(self.sender, after)
                    n = nbytes = 0
                    puts = []
                    for run in runs:
                        if not run:
                            continue
                        n += len(run)
                        top = max(map(itemgetter(0), run))
                        after = top if after is None or top > after else after
                        _, digs, vals = zip(*run, strict=True)
                        if None in digs or None in vals:
                            good = [(t, d, v) for t, d, v in run if d is not None and v is not None]
                            vals = tuple(v for _, _, v in good)
                        else:
                            good = cast(list[tuple[bytes, bytes, bytes]], run)  # none missing
                        nbytes += sum(map(len, vals))
                        puts.append(good)
                    full = n >= o.batch_values or nbytes >= o.batch_bytes
                    if full and self._reads_ahead() and self.transfer.borrow():
                        owed = True
                        ahead = reader.submit(read, self.ahead, after)
                    batch = open_batch()
                    for good in puts:
                        self._put_run(batch, data_uuid, good)
                    self._close(data_uuid, batch)
                    if owed:  # this batch is durable: the next one rides on our own slot
                        owed = False
                        self.transfer.give_back()
                    if not full:
                        return  # the sender's answer ended before a batch was full: the last one
            finally:
                if ahead is not None:
                    ahead.cancel()
                    if not ahead.cancelled():
                        ahead.exception()  # let the read ahead end before the slot is free
                if owed:
                    self.transfer.give_back()

    def _reads_ahead(self) -> bool:
        """Whether this stream can read a batch ahead: a sender that answers in whole
        batches of runs and forks a second connection (a server), read into a local
        receiver (a remote one already overlaps: its batch is applied on the worker)."""
        if self.ahead is None:
            fork = getattr(type(self.sender), "fork", None)
            if not callable(fork) or not callable(getattr(self.sender, "dump_runs", None)):
                return False
            self.ahead = self.sender.fork()  # type: ignore[attr-defined]
        return True

    def _dumping(
        self, node: str, data_uuid: str
    ) -> tuple[
        Callable[[Endpoint | None, bytes | None], list[list[Value]]], Callable[[], BatchWriter]
    ]:
        """:meth:`_everything`'s ``read`` and ``open_batch`` for one node's dump: a batch read
        whole in runs, the sender's own (a server's answer), or its values gathered a few
        hundred at a time."""
        o = self.transfer.options

        def read(sender: Endpoint | None, after: bytes | None) -> list[list[Value]]:
            assert sender is not None
            args = (node, data_uuid, after, o.batch_values, o.batch_bytes)
            runs = getattr(sender, "dump_runs", None)
            if runs is not None:
                return list(runs(*args))
            out: list[list[Value]] = [[]]
            for item in sender.dump(*args):
                if len(out[-1]) >= 256:
                    out.append([])
                out[-1].append(item)
            return out

        return read, lambda: self.receiver.batch(node, data_uuid)

    def _maybe_flush(self, node: str, data_uuid: str, batch: BatchWriter) -> BatchWriter:
        o = self.transfer.options
        if len(batch) >= o.batch_values or batch.nbytes >= o.batch_bytes:
            self._flush(data_uuid, batch)
            return self.receiver.batch(node, data_uuid)
        return batch

    def _close(self, data_uuid: str, batch: BatchWriter) -> None:
        if len(batch):
            self._flush(data_uuid, batch)
        else:
            batch.discard()

    def _flush(self, data_uuid: str, batch: BatchWriter) -> None:
        """Commit ``batch``: durable before the next request for values, unless the
        receiver is remote (then on the worker, after the one before it)."""
        self._wait()
        if self._pool is None or not batch.overlaps:
            self.transfer.applied(self, data_uuid, batch.commit())
            return
        self._inflight = (self._pool.submit(batch.commit), data_uuid)

    def _wait(self) -> None:
        """Wait for the batch in flight (its failure is raised here)."""
        if self._inflight is None:
            return
        fut, data_uuid = self._inflight
        self._inflight = None
        self.transfer.applied(self, data_uuid, fut.result())
