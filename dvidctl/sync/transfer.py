"""Moving nodes from one endpoint to another: diff, values in batches, completion.

For each step of a :class:`~dvidctl.sync.plan.Plan` (parents first): create the
node on the receiver if needed, then per shared instance diff the two listings
(:func:`dvidctl.sync.diff.diff`; a node just created has nothing to list there,
and a committed node's digests say which instances it wrote at all), read the
values to send from the sender in requests of about one batch each, and hand
them to the receiver in batches of at most
:attr:`Options.batch_values` values or :attr:`Options.batch_bytes` bytes, each
applied atomically and durably before the next is built. Keys the receiver holds
and the sender does not are removed (mirror semantics: a snapshot of an open node
is refreshed exactly). Last, a committed node is completed, which checks its
digests on the receiver.

A rerun diffs again, so after an interruption only what was not yet applied is
sent: at most the batch that was in flight.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from dvidctl.sync.diff import diff
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.plan import NodeStep, Plan
from dvidctl.sync.results import Progress, ProgressFn, Stats


@dataclass(frozen=True)
class Options:
    """Batch sizes of a transfer."""

    #: Values per batch the receiver applies in one write.
    batch_values: int = 512
    #: Stored bytes per batch (a batch closes at whichever limit comes first).
    batch_bytes: int = 16 << 20
    #: Keys asked for in the first values request to the sender; later requests ask
    #: for about one batch (by the mean value size so far), so that a request cut off
    #: by a failure never held more than about one batch.
    first_request: int = 32


@dataclass
class _Batch:
    puts: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.puts) + len(self.deletes)


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

    def instance(self, node: str, data_uuid: str, *, list_receiver: bool) -> None:
        """Make the receiver's entries for (node, instance) equal to the sender's."""
        theirs = self.receiver.listing(node, data_uuid) if list_receiver else iter(())
        batch = _Batch()
        for step in diff(self.sender.listing(node, data_uuid), theirs):
            self.stats.same += step.same
            for tk in step.delete:
                batch.deletes.append(tk)
                batch = self._maybe_flush(node, data_uuid, batch)
            i = 0
            while i < len(step.send):
                wanted = step.send[i : i + self._per_request()]
                i += len(wanted)
                for tk, dig, stored in self.sender.values(node, data_uuid, wanted):
                    if dig is None or stored is None:
                        batch.deletes.append(tk)  # gone from an open sender node meanwhile
                    else:
                        batch.puts.append((tk, dig, stored))
                        batch.nbytes += len(stored)
                    batch = self._maybe_flush(node, data_uuid, batch)
        if len(batch):
            self._flush(node, data_uuid, batch)

    def _per_request(self) -> int:
        """Keys for the next values request: about one batch."""
        o = self.options
        if not self.stats.keys:
            return max(1, min(o.first_request, o.batch_values))
        mean = max(1, self.stats.bytes // self.stats.keys)
        return max(1, min(o.batch_values, o.batch_bytes // mean))

    def _maybe_flush(self, node: str, data_uuid: str, batch: _Batch) -> _Batch:
        o = self.options
        if len(batch) >= o.batch_values or batch.nbytes >= o.batch_bytes:
            self._flush(node, data_uuid, batch)
            return _Batch()
        return batch

    def _flush(self, node: str, data_uuid: str, batch: _Batch) -> None:
        done = self.receiver.apply_batch(node, data_uuid, batch.puts, batch.deletes)
        self.stats.keys += done.puts
        self.stats.bytes += done.nbytes
        self.stats.deleted += done.deletes
        self.stats.batches += 1
        self._report()


class Clock:
    """Seconds since it was made, written into ``stats.seconds`` by :meth:`stop`."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        """Record the elapsed time."""
        self.stats.seconds = time.perf_counter() - self.t0
