"""Moving nodes from one endpoint to another: diff, values in batches, completion.

For each step of a :class:`~dvidctl.sync.plan.Plan` (parents first): create the
node on the receiver if needed, then per shared instance diff the two listings
(:func:`dvidctl.sync.diff.diff`; a committed node's digests say which instances
it wrote at all), read the values to send from the sender in requests of about
one batch each -- or, for a node just created there, which holds nothing, read
every value of it in one stream (``dump``: no listing, no wanted keys) -- and hand
them to the receiver in batches of at most
:attr:`Options.batch_values` values or :attr:`Options.batch_bytes` bytes, each
applied atomically and durably. Keys the receiver holds and the sender does not
are removed (mirror semantics: a snapshot of an open node is refreshed exactly).
Last, a committed node is completed, which checks its digests on the receiver.

**One batch on the way per stream.** Every request for values asks for at most
what fits in the receiver's current batch (``dump`` and ``values`` take the
batch's limits; the sender ends its answer after the value that fills it), and
the next request is made only once that batch is durable. A local receiver
writes each value as it arrives (:meth:`Endpoint.batch`: digest checked, then
into the table file the batch's commit ingests), so the disk works while the
rest of the batch is on the wire; a remote receiver gets each batch in one
request, applied on a worker while the next one is read locally (its one
request is still the only batch on the wire). So a rerun after an interruption
diffs again and sends again at most the one batch that was not durable yet.

**Wire encoding** (:attr:`Options.wire`): label blocks may travel as DVID's label
Block under zstd (``labelblock``, 2-3.5x fewer bytes, :mod:`dvidctl.api.wire`)
when both sides speak it. ``auto`` picks per transfer: it starts with stored
bytes, and after the first batch of an instance that has the encoding compares
the seconds the smaller form would save on the link seen so far (bytes over the
rate of the requests made) with the seconds converting costs (timed on values
of that batch, both ways); it switches when the link is the slower.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from dvidctl.datatypes.registry import WireEncoding
from dvidctl.errors import CorruptDataError
from dvidctl.store.nodedelta import Applied
from dvidctl.sync.diff import diff
from dvidctl.sync.endpoint import BatchWriter, Endpoint
from dvidctl.sync.plan import NodeStep, Plan
from dvidctl.sync.results import Progress, ProgressFn, Stats


@dataclass(frozen=True)
class Options:
    """Batch sizes of a transfer."""

    #: Values per batch the receiver applies in one write.
    batch_values: int = 4096
    #: Stored bytes per batch (a batch closes at whichever limit comes first).
    batch_bytes: int = 16 << 20
    #: Keys asked for in the first values request to the sender; later requests ask
    #: for about one batch (by the mean value size so far), so that a request cut off
    #: by a failure never held more than about one batch.
    first_request: int = 32
    #: Label blocks on the wire: ``stored``, ``labelblock`` or ``auto`` (see the module doc).
    wire: str = "auto"
    #: Values of the first batch ``auto`` times converting.
    sample: int = 1


class Transfer:
    """Moves the nodes of a plan from ``sender`` to ``receiver``, counting into ``stats``."""

    def __init__(
        self,
        sender: Endpoint,
        receiver: Endpoint,
        compare: Sequence[str],
        *,
        stats: Stats,
        options: Options | None = None,
        progress: ProgressFn | None = None,
        phase: str = "sync",
    ) -> None:
        self.sender = sender
        self.receiver = receiver
        self.compare = list(compare)
        self.stats = stats
        self.options = options or Options()
        self.progress = progress
        self.phase = phase
        self._done = 0
        self._total = 0
        self._node = ""
        #: ``auto``'s choice once made (None: not yet), and each instance's encoding.
        self._auto: bool | None = None
        self._encodings: dict[str, WireEncoding | None] = {}
        self._pending: dict[str, WireEncoding] = {}
        #: What ``auto`` measured: per value, seconds converting and bytes saved, and
        #: the link's bytes per second.
        self.measured: dict[str, float] = {}
        #: The apply worker of the instance being moved, and the batch it is applying.
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: tuple[Future[Applied], str] | None = None
        #: Values of the current instance's first batch (``auto`` times converting some).
        self._sample: list[tuple[bytes, bytes]] = []

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(Progress(self.phase, self._done, self._total, self.stats, self._node))

    def run(self, plan: Plan) -> None:
        """Every step of ``plan``, in order."""
        self._total = len(plan.moving)
        self.stats.nodes_same += len(plan.same)
        self._report()
        for step in plan.steps:
            self.node(step)

    def node(self, step: NodeStep) -> None:
        """Move one node (see the module doc)."""
        info = step.info
        self._node = info.uuid
        if not step.meta_only:
            if step.create:
                self.receiver.create_node(info)
            if step.reopen:
                self.receiver.reopen_node(info.uuid)
            for data_uuid in self.compare:
                wrote = info.digests is None or data_uuid in info.digests
                if wrote or step.list_receiver:
                    self.instance(info.uuid, data_uuid, list_receiver=step.list_receiver)
        if step.complete:
            self.receiver.complete_node(info, self.compare)
        elif not info.locked and info.stamp:
            self.receiver.mark_snapshot(info.uuid, info.stamp)
        if not step.meta_only:
            self.stats.nodes += 1
            self._done += 1
        self._report()

    def _encoding(self, data_uuid: str) -> None:
        """Set (once per instance) the wire encoding its values travel in."""
        if data_uuid in self._encodings:
            return
        mode, name = self.options.wire, "labelblock"
        offered: WireEncoding | None = None
        if all(name in ep.speaks for ep in self._eps):
            offered = self.sender.encoding_for(data_uuid, name)
            offered = offered or self.receiver.encoding_for(data_uuid, name)
        enc = offered if mode == name or (mode == "auto" and self._auto) else None
        if offered is not None:
            self.stats.labels = "labelblock" if enc is not None else "stored"
            if mode == "auto" and self._auto is None:
                self._pending[data_uuid] = offered  # decided after its first batch
        self._encodings[data_uuid] = enc
        for ep in self._eps:
            ep.use_encoding(data_uuid, enc)

    @property
    def _eps(self) -> tuple[Endpoint, Endpoint]:
        return self.sender, self.receiver

    def _decide(self, data_uuid: str) -> None:
        """``auto``: time converting values of the first batch; switch if the link is the slower."""
        enc = self._pending.pop(data_uuid, None)
        if enc is None:
            return
        if self._auto is None:
            self._auto = self._judge(enc, self._sample)
            if self._auto is None:
                self._pending[data_uuid] = enc  # nothing to judge by yet
                return
            self.stats.labels = "labelblock" if self._auto else "stored"
        if self._auto:
            self._encodings[data_uuid] = enc
            for ep in self._eps:
                ep.use_encoding(data_uuid, enc)

    def _judge(self, enc: WireEncoding, sample: list[tuple[bytes, bytes]]) -> bool | None:
        """Whether ``enc`` saves more link seconds than it costs (None: nothing to tell by)."""
        link_b = sum(ep.link_bytes for ep in self._eps)
        link_s = sum(ep.link_seconds for ep in self._eps)
        t0 = time.perf_counter()
        wired: list[tuple[bytes, bytes]] = []
        saved = 0.0
        for tk, v in sample[:64]:
            w = enc.encode_many([(tk, v)])[0]
            if w is not None:
                wired.append((tk, w))
                saved += len(v) - len(w)
                if len(wired) >= self.options.sample:
                    break
        if not wired or link_s <= 0 or link_b <= 0:
            return None
        enc.decode_many(wired)
        conv = (time.perf_counter() - t0) / len(wired)
        saved /= len(wired)
        rate = link_b / link_s
        self.measured = {"convert_s": conv, "saved_bytes": saved, "link_bytes_per_s": rate}
        return saved / rate > conv

    def instance(self, node: str, data_uuid: str, *, list_receiver: bool) -> None:
        """Make the receiver's entries for (node, instance) equal to the sender's.

        A remote receiver's batches are applied on a worker thread, one at a time,
        while the next one is read here; a local one writes as values arrive.
        """
        self._encoding(data_uuid)
        self._sample = []
        with ThreadPoolExecutor(1, thread_name_prefix="dvidctl-sync-apply") as pool:
            self._pool = pool
            try:
                if list_receiver or not self._dumps:
                    self._diffed(node, data_uuid, list_receiver)
                else:  # the receiver holds none of it: every value, one batch per request
                    self._everything(node, data_uuid)
                self._wait()
            finally:
                self._pool = None
                if self._inflight is not None:  # a failure: let the batch in flight end
                    self._inflight[0].exception()
                    self._inflight = None

    @property
    def _dumps(self) -> bool:
        """Whether the sender's own class streams whole nodes (a wrapper that filters the
        sender's listing, such as a partial clone's, and does not say how it dumps, is
        read through listings and values as before)."""
        own = callable(getattr(type(self.sender), "dump", None))
        return own and bool(getattr(self.sender, "dumps", True))  # an older server: no dump

    def _put(self, batch: BatchWriter, data_uuid: str, tk: bytes, dig: bytes, v: bytes) -> None:
        batch.put(tk, dig, v)
        if data_uuid in self._pending and len(self._sample) < 64:
            self._sample.append((tk, v))

    def _diffed(self, node: str, data_uuid: str, list_receiver: bool) -> None:
        o = self.options
        theirs = self.receiver.listing(node, data_uuid) if list_receiver else iter(())
        batch = self.receiver.batch(node, data_uuid)
        for step in diff(self.sender.listing(node, data_uuid), theirs):
            self.stats.same += step.same
            for tk in step.delete:
                batch.delete(tk)
                batch = self._maybe_flush(node, data_uuid, batch)
            i = 0
            while i < len(step.send):
                room = max(1, o.batch_values - len(batch))
                wanted = step.send[i : i + min(room, self._per_request())]
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
        self._close(node, data_uuid, batch)

    def _everything(self, node: str, data_uuid: str) -> None:
        o = self.options
        after: bytes | None = None
        while True:
            batch = self.receiver.batch(node, data_uuid)
            n = nbytes = 0
            for tk, dig, stored in self.sender.dump(
                node, data_uuid, after, o.batch_values, o.batch_bytes
            ):
                n += 1
                after = tk if after is None or tk > after else after
                if dig is not None and stored is not None:
                    nbytes += len(stored)
                    self._put(batch, data_uuid, tk, dig, stored)
            self._close(node, data_uuid, batch)
            if n < o.batch_values and nbytes < o.batch_bytes:
                return  # the sender's answer ended before a batch was full: the last one

    def _per_request(self) -> int:
        """Keys for the next values request: about one batch."""
        o = self.options
        if not self.stats.keys:
            return max(1, min(o.first_request, o.batch_values))
        mean = max(1, self.stats.bytes // self.stats.keys)
        return max(1, min(o.batch_values, o.batch_bytes // mean))

    def _maybe_flush(self, node: str, data_uuid: str, batch: BatchWriter) -> BatchWriter:
        o = self.options
        if len(batch) >= o.batch_values or batch.nbytes >= o.batch_bytes:
            self._flush(data_uuid, batch)
            return self.receiver.batch(node, data_uuid)
        return batch

    def _close(self, node: str, data_uuid: str, batch: BatchWriter) -> None:
        if len(batch):
            self._flush(data_uuid, batch)
        else:
            batch.discard()

    def _flush(self, data_uuid: str, batch: BatchWriter) -> None:
        """Commit ``batch``: durable before the next request for values, unless the
        receiver is remote (then on the worker, after the one before it)."""
        self._wait()
        if self._pool is None or not batch.overlaps:
            self._applied(data_uuid, batch.commit())
            return
        self._inflight = (self._pool.submit(batch.commit), data_uuid)

    def _wait(self) -> None:
        """Wait for the batch in flight (its failure is raised here)."""
        if self._inflight is None:
            return
        fut, data_uuid = self._inflight
        self._inflight = None
        self._applied(data_uuid, fut.result())

    def _applied(self, data_uuid: str, done: Applied) -> None:
        self.stats.keys += done.puts
        self.stats.bytes += done.nbytes
        self.stats.deleted += done.deletes
        self.stats.batches += 1
        if data_uuid in self._pending and self._sample:
            self._decide(data_uuid)
        self._report()


class Clock:
    """Seconds since it was made, and this process's CPU seconds meanwhile, written into
    ``stats.seconds`` and ``stats.cpu_seconds`` by :meth:`stop`."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def stop(self) -> None:
        """Record the elapsed time."""
        self.stats.seconds = time.perf_counter() - self.t0
        self.stats.cpu_seconds = time.process_time() - self.cpu0
