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

**Several streams** (:attr:`Options.streams`). Each (node, instance) is a unit,
moved by one :class:`~dvidctl.sync.stream.Stream` (its own connection, at most
one batch on the way: see there). Units of the next nodes are started while
earlier ones finish (nodes are created here in plan order, parents first, up to
:data:`AHEAD` nodes ahead of the oldest one not completed), so the sender reads
and frames one stream's batch while the receiver makes another's durable.
A unit takes one of :attr:`Options.streams` slots while it runs; a slot another
stream leaves idle may carry one batch read ahead (:meth:`Transfer.borrow`, see
:meth:`Stream._everything <dvidctl.sync.stream.Stream._everything>`), so never more
batches are on the way than there are streams. Nothing is marked complete before
its contents are: a node is completed (its
digests checked) in plan order, once every unit of it has ended, in this thread;
after a failure no other node is completed, the other streams stop after their
batch, and the first failure is raised. So a rerun sends again at most one batch
per stream. Branch heads move after the transfer (the callers).

**Spans.** When every node a plan moves is one the receiver holds nothing of (a
clone), each instance several of them wrote moves in one key-ordered stream instead
of a dump per node, so that the receiver's table files do not overlap
(:mod:`dvidctl.sync.spans`): every node is created first and completed last.

**Wire encoding** (:attr:`Options.wire`): label blocks may travel as DVID's label
Block under zstd when both sides speak it; :mod:`dvidctl.sync.wirechoice` decides.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue

from dvidctl.store.nodedelta import Applied
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.plan import NodeStep, Plan
from dvidctl.sync.results import Progress, ProgressFn, Stats
from dvidctl.sync.spans import Units, order_spans, span_units
from dvidctl.sync.stream import Stream
from dvidctl.sync.wirechoice import WireChoice

#: Keys a transfer moves on one stream, at most (more streams are not worth their
#: connections and threads); fewer when a quarter batch is fewer.
SMALL_TRANSFER = 1024
#: Nodes started ahead of the oldest one not completed yet (several streams).
AHEAD = 4


@dataclass(frozen=True)
class Options:
    """Batch sizes and streams of a transfer."""

    #: Values per batch the receiver applies in one write. Small values pay a synced
    #: write per batch: 16,384 of them (~1.6 MB of 64-byte keyvalues) cloned 10⁶ keys
    #: in 3.4-4.2 s against 4.7-5.5 s at 4,096 (bench/RESULTS.md, session 12).
    batch_values: int = 16384
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
    #: Concurrent streams, each with at most one batch on the way (see the module doc).
    #: Three since ingestion got short (``pagecache.prime``): a clone's large instance
    #: then reads a batch ahead from its first one (a span of each instance, three
    #: slots). CLI clone of 151 MB, 12 interleaved rounds: median 0.279 -> 0.263 s;
    #: pull of 30 MB 0.0985 -> 0.0935 s (bench/RESULTS.md, session 15).
    streams: int = 3


class Transfer(WireChoice):
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
        self._keys_total: int | None = None
        self._node = ""
        self._init_wire()
        #: Counters, progress and encoding choices are shared by the streams.
        self._lock = threading.RLock()
        #: Set when a stream failed: the others stop after their batch.
        self.stop = threading.Event()
        self._failure: BaseException | None = None
        self._main = Stream(self, sender, receiver)
        self._streams: list[Stream] = [self._main]
        #: Batches on the way at most (one per stream): units running, plus batches read
        #: ahead on slots the units left idle (:meth:`borrow`).
        self._budget = max(1, self.options.streams)
        self._busy = self._waiting = 0
        self._slots = threading.Condition(self._lock)

    def _report(self) -> None:
        if self.progress is not None:
            with self._lock:
                done, total, node = self._done, self._total, self._node
                keys = self._keys_total
                self.progress(Progress(self.phase, done, total, self.stats, node, keys))

    def run(self, plan: Plan) -> None:
        """Every step of ``plan``, in order (several streams: see the module doc)."""
        self._total = len(plan.moving)
        self._keys_total = _keys_total(plan, self._units)
        self.stats.nodes_same += len(plan.same)
        self._report()
        n = self._stream_count(plan)
        for step in plan.steps:  # before the streams: a datatype's first import (a CLI's)
            for data_uuid, _ in self._units(step):  # then holds up no stream's batch
                self.encoding(data_uuid)
        units = span_units(plan, self.sender, self.receiver, self._units)
        try:
            if units is not None:
                self._spanned(plan, units, min(n, len(units)))
            elif n <= 1:
                for step in plan.steps:
                    self.node(step)
            else:
                self._concurrent(plan, n)
        finally:
            self._join_streams()

    def node(self, step: NodeStep) -> None:
        """Move one node on the main stream (see the module doc)."""
        self._start(step)
        for data_uuid, list_receiver in self._units(step):
            self._main.instance(step.info.uuid, data_uuid, list_receiver=list_receiver)
        self._finish(step)

    def instance(self, node: str, data_uuid: str, *, list_receiver: bool) -> None:
        """Make the receiver's entries for (node, instance) equal to the sender's (main stream)."""
        self._main.instance(node, data_uuid, list_receiver=list_receiver)

    def _units(self, step: NodeStep) -> list[tuple[str, bool]]:
        """``(data_uuid, list_receiver)`` of each instance of the step to move."""
        info = step.info
        if step.meta_only or (not info.locked and info.empty and not step.list_receiver):
            return []  # nothing to move: an open node that wrote nothing, new here
        out = []
        for data_uuid in self.compare:
            wrote = info.digests is None or data_uuid in info.digests
            if wrote or step.list_receiver:
                out.append((data_uuid, step.list_receiver))
        return out

    def _start(self, step: NodeStep) -> None:
        """Create or reopen the step's node on the receiver (in plan order: parents first)."""
        self._node = step.info.uuid
        if not step.meta_only:
            if step.create:
                self.receiver.create_node(step.info)
            if step.reopen:
                self.receiver.reopen_node(step.info.uuid)

    def _finish(self, step: NodeStep) -> None:
        """Complete the step's node, every unit of it done (in plan order)."""
        info = step.info
        self._node = info.uuid
        if step.complete:
            self.receiver.complete_node(info, self.compare)
        elif not info.locked and info.stamp:
            self.receiver.mark_snapshot(info.uuid, info.stamp)
        with self._lock:
            if not step.meta_only:
                self.stats.nodes += 1
                self._done += 1
        self._report()

    # ------------------------------------------------------------ streams
    def _stream_count(self, plan: Plan) -> int:
        """Streams to run: one unless both ends can fork one, and there are several units
        and more keys to share than a quarter batch or :data:`SMALL_TRANSFER`, whichever
        is fewer (a small transfer is not worth the connections and threads; the committed
        nodes' digests count their keys, not their bytes: a node of a few thousand large
        values is many batches)."""
        n = max(1, self.options.streams)
        forks = all(callable(getattr(type(ep), "fork", None)) for ep in self._eps)
        units = keys = 0
        for step in plan.steps:
            for data_uuid, _ in self._units(step):
                units += 1
                count = _key_count(step, data_uuid)
                keys += self.options.batch_values + 1 if count is None else count
        if not forks or keys <= min(SMALL_TRANSFER, self.options.batch_values // 4):
            return 1
        return min(n, units)

    def _join_streams(self) -> None:
        """Add the forked endpoints' request counters (the streams', and the connections
        they read ahead on) to the main endpoints' and close them."""
        for st in self._streams:
            pairs = [(self.sender, st.ahead)] if st.ahead is not None else []
            if st is not self._main:
                pairs += [(self.sender, st.sender), (self.receiver, st.receiver)]
            for mine, theirs in pairs:
                if theirs is mine:
                    continue
                mine.stats.requests += theirs.stats.requests
                mine.stats.up += theirs.stats.up
                mine.stats.down += theirs.stats.down
                theirs.close()
            st.ahead = None
        del self._streams[1:]

    def _fork_streams(self, n: int) -> Callable[[Callable[[Stream], None]], None]:
        """``n`` streams of forked endpoints (the main ones stay with this thread: node
        creation and completion), and a function that runs a job on a free one, recording
        the first failure and stopping the others after their batch."""
        free: SimpleQueue[Stream] = SimpleQueue()
        for _ in range(n):
            st = Stream(self, self.sender.fork(), self.receiver.fork())
            self._streams.append(st)
            free.put(st)

        def on_stream(job: Callable[[Stream], None]) -> None:
            st = free.get()
            try:
                job(st)
            except BaseException as exc:
                with self._lock:
                    if self._failure is None and not self.stop.is_set():
                        self._failure = exc
                    self.stop.set()
                raise
            finally:
                free.put(st)

        return on_stream

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _concurrent(self, plan: Plan, n: int) -> None:
        """The units on ``n`` streams, nodes started up to :data:`AHEAD` ahead."""
        on_stream = self._fork_streams(n)

        def unit(node: str, data_uuid: str, list_receiver: bool) -> None:
            on_stream(lambda st: st.instance(node, data_uuid, list_receiver=list_receiver))

        started: deque[tuple[NodeStep, list[Future[None]]]] = deque()
        with ThreadPoolExecutor(n, thread_name_prefix="dvidctl-sync-stream") as pool:
            try:
                for step in plan.steps:
                    while started and (
                        len(started) >= AHEAD or all(f.done() for f in started[0][1])
                    ):
                        self._end(*started.popleft())
                    self._start(step)
                    futs = [pool.submit(unit, step.info.uuid, d, lr) for d, lr in self._units(step)]
                    started.append((step, futs))
                while started:
                    self._end(*started.popleft())
            except BaseException:
                self.stop.set()
                for _, futs in started:
                    for f in futs:
                        f.cancel()
                raise
            finally:
                self._raise_failure()

    def _spanned(self, plan: Plan, units: Units, n: int) -> None:
        """Every node created (parents first), the units moved (spans, and the others node
        by node, on ``n`` streams), then every node completed in plan order
        (:mod:`dvidctl.sync.spans`)."""
        drop = getattr(self.receiver, "drop_span_mark", None)  # a server's go at completion
        if drop is not None:
            for mark in units.stale:  # before anything moves: its nodes are diffed
                drop(mark.data_uuid, mark.nodes)
        for step in plan.steps:
            self._start(step)
        order_spans(units, self.receiver)
        jobs: list[Callable[[Stream], None]] = [partial(Stream.span, span=sp) for sp in units.spans]
        jobs += [
            partial(Stream.instance, node=u, data_uuid=d, list_receiver=lr)
            for u, d, lr in units.single
        ]
        if n <= 1:
            for job in jobs:
                job(self._main)
        else:
            on_stream = self._fork_streams(n)
            with ThreadPoolExecutor(n, thread_name_prefix="dvidctl-sync-stream") as pool:
                futs = [pool.submit(on_stream, job) for job in jobs]
                try:
                    for f in futs:
                        f.result()
                except BaseException:
                    self.stop.set()
                    for f in futs:
                        f.cancel()
                    raise
                finally:
                    self._raise_failure()
        for step in plan.steps:
            self._finish(step)

    def _end(self, step: NodeStep, futs: list[Future[None]]) -> None:
        """Wait for the step's units, then complete its node."""
        for f in futs:
            f.result()
        self._finish(step)

    # ------------------------------------------------------------ slots
    def enter(self) -> None:
        """A unit starts: it takes a slot (waiting while batches read ahead hold them all)."""
        with self._slots:
            self._waiting += 1
            try:
                self._slots.wait_for(lambda: self._busy < self._budget)
            finally:
                self._waiting -= 1
            self._busy += 1

    def leave(self) -> None:
        """A unit ended: its slot is free."""
        with self._slots:
            self._busy -= 1
            self._slots.notify_all()

    def borrow(self) -> bool:
        """Take an idle slot for a batch read ahead (False: none, or a unit waits for one)."""
        with self._slots:
            if self._waiting or self._busy >= self._budget:
                return False
            self._busy += 1
            self.stats.ahead += 1
            return True

    def give_back(self) -> None:
        """Free a slot taken by :meth:`borrow`."""
        self.leave()

    # ------------------------------------------------------------ counters
    def count_same(self, n: int) -> None:
        """Keys both listings held with the same digest."""
        with self._lock:
            self.stats.same += n

    def per_request(self) -> int:
        """Keys for the next values request: about one batch."""
        o = self.options
        if not self.stats.keys:
            return max(1, min(o.first_request, o.batch_values))
        mean = max(1, self.stats.bytes // self.stats.keys)
        return max(1, min(o.batch_values, o.batch_bytes // mean))

    def applied(self, stream: Stream, data_uuid: str, done: Applied) -> None:
        """Count a batch a stream made durable (and let ``auto`` decide after the first)."""
        with self._lock:
            self.stats.keys += done.puts
            self.stats.bytes += done.nbytes
            self.stats.deleted += done.deletes
            self.stats.batches += 1
            if data_uuid in self._pending and stream.sample:
                self._decide(data_uuid, stream.sample)
        self._report()


def _key_count(step: NodeStep, data_uuid: str) -> int | None:
    """Keys the sender's node holds for the instance (its digest says), else None."""
    digests = step.info.digests or {}
    _, _, count = str(digests.get(data_uuid, "")).partition(":")
    return int(count) if count.isdigit() else None


def _keys_total(plan: Plan, units_of: Callable[[NodeStep], list[tuple[str, bool]]]) -> int | None:
    """The keys the plan's units hold on the sender, if every one's digest counts them."""
    total = 0
    for step in plan.moving:
        for data_uuid, _ in units_of(step):
            n = _key_count(step, data_uuid)
            if n is None:
                return None
            total += n
    return total


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
