"""The two ends of a transfer, behind one interface: a local repository or a server.

:class:`Endpoint` is what :mod:`dvidctl.sync.transfer` moves a node between; a
fetch sends from an :class:`~dvidctl.sync.http.HttpEndpoint` to a
:class:`LocalEndpoint`, a push the other way round, so both are one transfer.
:class:`LocalEndpoint` calls the api's exchange functions directly (the same ones
the server's ``/api/sync`` routes call), so it is also the in-memory twin used to
test the transfer without HTTP.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from dvidctl.api import exchange, receive, receivespan, wire
from dvidctl.api.syncstate import InstanceInfo, NodeInfo, RepoInfo
from dvidctl.datatypes.registry import WireEncoding
from dvidctl.store.nodedelta import Applied, check_stored
from dvidctl.sync.diff import Keys, chunked
from dvidctl.sync.results import Stats

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository

#: ``(tkey, digest, stored)``; digest and stored are None for a key the sender lacks now.
Value = tuple[bytes, bytes | None, bytes | None]


class BatchWriter(Protocol):
    """One batch on its way into a receiver (:meth:`Endpoint.batch`)."""

    @property
    def puts(self) -> int:
        """Values put so far."""
        ...

    @property
    def deletes(self) -> int:
        """Removals so far."""
        ...

    @property
    def nbytes(self) -> int:
        """Stored bytes put so far."""
        ...

    @property
    def overlaps(self) -> bool:
        """Whether its commit may run on a worker while the next batch is read (a remote
        receiver: the read is local, its one request is the only batch on the wire)."""
        ...

    def __len__(self) -> int:
        """Values and removals so far."""
        ...

    def put(self, tkey: bytes, dig: bytes, stored: bytes) -> None:
        """Add a value (a local receiver checks its digest now)."""
        ...

    def delete(self, tkey: bytes) -> None:
        """Add a removal."""
        ...

    def commit(self) -> Applied:
        """Apply the batch atomically and durably."""
        ...

    def discard(self) -> None:
        """Drop it (nothing written)."""
        ...


class Endpoint(Protocol):
    """One side of a transfer."""

    #: For messages: ``local`` or the remote's URL.
    name: str
    #: Requests made and body bytes moved through this endpoint (and, for a transfer,
    #: the counters it fills in).
    stats: Stats
    #: Wire encodings the side speaks besides stored bytes (read with its state).
    speaks: list[str]
    #: Body bytes and seconds of its values and batch requests (0 for a local side).
    link_bytes: int
    link_seconds: float

    def encoding_for(self, data_uuid: str, name: str) -> WireEncoding | None:
        """Instance ``data_uuid``'s wire encoding ``name``, if this side can build it."""
        ...

    def use_encoding(self, data_uuid: str, enc: WireEncoding | None) -> None:
        """Move values of ``data_uuid`` in ``enc`` from now on (None: stored bytes)."""
        ...

    def fork(self) -> Endpoint:
        """The same side for another stream of a transfer, used from another thread: a
        server's has a connection and counters of its own (and shares the encodings)."""
        ...

    # ------------------------------------------------------------ sending
    def state(self) -> RepoInfo:
        """The side's repository document (NotFoundError if it has none)."""
        ...

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        """Node ``node``'s sorted entries for instance ``data_uuid``, in chunks."""
        ...

    def values(
        self, node: str, data_uuid: str, tkeys: Sequence[bytes], max_bytes: int | None = None
    ) -> Iterator[Value]:
        """The stored values of ``tkeys`` at ``node``, in the order asked, digests checked.

        With ``max_bytes``: only up to the value that brings the stored bytes to it.
        """
        ...

    def dump(
        self,
        node: str,
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[Value]:
        """Every value ``node`` stored for ``data_uuid``, in key order, digests checked.

        After ``after``; with the limits, only up to the value that brings the count or
        the stored bytes to one (one batch).
        """
        ...

    # ---------------------------------------------------------- receiving
    def create_repo(self, info: RepoInfo) -> None:
        """Create the repository (root UUID, alias, description) with an incoming root."""
        ...

    def put_instances(self, instances: Sequence[InstanceInfo]) -> list[str]:
        """Create / update instances; the data UUIDs both sides now share."""
        ...

    def create_node(self, info: NodeInfo) -> None:
        """Add an incoming node (idempotent)."""
        ...

    def reopen_node(self, uuid: str) -> None:
        """Make a complete node incoming again (the sender changed it after commit)."""
        ...

    def apply_batch(
        self,
        node: str,
        data_uuid: str,
        puts: Sequence[tuple[bytes, bytes, bytes]],
        deletes: Sequence[bytes],
    ) -> Applied:
        """Verify and apply one batch, durably."""
        ...

    def batch(self, node: str, data_uuid: str) -> BatchWriter:
        """A new batch for (node, instance), applied by its ``commit``."""
        ...

    def complete_node(self, info: NodeInfo, compare: Sequence[str]) -> bool:
        """Check digests and mark the node complete (note and log brought up to date)."""
        ...

    def mark_snapshot(self, uuid: str, stamp: str) -> None:
        """Record the sender's write stamp a snapshot of an open node was taken at."""
        ...

    def move_branch(self, name: str, old: str | None, new: str) -> str | None:
        """Compare-and-set a branch head; the UUID of a dropped empty head, if any."""
        ...

    def lease_labels(self, name: str, count: int) -> tuple[int, int]:
        """Reserve ``count`` labels of labelmap ``name`` for a clone's lease: ``(first, last)``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class LocalEndpoint:
    """A local repository as one side of a transfer."""

    name = "local"
    speaks = wire.SPOKEN
    dumps = True
    #: It sends and receives spans of nodes (:mod:`dvidctl.store.nodespan`).
    spans = True
    takes_spans = True
    link_bytes = 0
    link_seconds = 0.0

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.stats = Stats()

    def encoding_for(self, data_uuid: str, name: str) -> WireEncoding | None:
        rec = exchange.instance_by_data_uuid(self.repo, data_uuid)
        return wire.encoding_for(rec.typename, rec.config, name)

    def use_encoding(self, data_uuid: str, enc: WireEncoding | None) -> None:
        """Nothing: a local side hands over stored values."""

    def fork(self) -> LocalEndpoint:
        """Itself: its reads and batches are safe from several threads (writes take the
        store's write lock)."""
        return self

    def state(self) -> RepoInfo:
        return exchange.repo_state(self.repo)

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        return chunked(exchange.node_listing(self.repo, node, data_uuid))

    def values(
        self, node: str, data_uuid: str, tkeys: Sequence[bytes], max_bytes: int | None = None
    ) -> Iterator[Value]:
        for tk, d, stored in exchange.node_values(self.repo, node, data_uuid, tkeys, max_bytes):
            if d is not None and stored is not None:
                check_stored(tk, d, stored)  # a damaged stored value is not sent on
            yield tk, d, stored

    def dump(
        self,
        node: str,
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[Value]:
        return itertools.chain.from_iterable(
            self.dump_runs(node, data_uuid, after, max_values, max_bytes)
        )

    def dump_runs(
        self,
        node: str,
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[list[Value]]:
        """:meth:`dump` in runs (as the repository reads them), each value checked."""
        got = exchange.node_dump(
            self.repo, node, data_uuid, after, max_values=max_values, max_bytes=max_bytes
        )
        return _checked(got)

    def span_runs(
        self,
        nodes: Sequence[str],
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[list[Value]]:
        """Several nodes' values in one key-ordered stream (:mod:`dvidctl.store.nodespan`),
        in runs, each value checked."""
        got = exchange.span_dump(
            self.repo, data_uuid, list(nodes), after, max_values=max_values, max_bytes=max_bytes
        )
        return _checked(got)

    def span_order(self, nodes: Sequence[str]) -> list[str]:
        """``nodes`` in the order a span into this side asks for them."""
        return receivespan.span_order(self.repo, nodes)

    def span_batch(
        self, nodes: Sequence[str], data_uuid: str, digests: Sequence[str] | None = None
    ) -> BatchWriter:
        """A batch of a span into ``nodes`` (in :meth:`span_order`), values by wire key;
        with the sender's ``digests`` of the nodes, it records the span's mark."""
        return receivespan.open_span(self.repo, data_uuid, nodes, digests=digests)

    def span_marks(self) -> list[receivespan.SpanMark]:
        """The marks of the spans into this repository that did not end."""
        return receivespan.span_marks(self.repo)

    def holds_nothing(self, node: str, data_uuid: str) -> bool:
        """Whether ``node`` here holds no key of the instance."""
        return receivespan.holds_nothing(self.repo, node, data_uuid)

    def drop_span_mark(self, data_uuid: str, nodes: Sequence[str]) -> None:
        """Forget a span's mark (it ended, or its nodes are diffed instead)."""
        receivespan.drop_span_mark(self.repo, data_uuid, nodes)

    def create_repo(self, info: RepoInfo) -> None:
        receive.check_root(self.repo, info.root)

    def put_instances(self, instances: Sequence[InstanceInfo]) -> list[str]:
        return receive.put_instances(self.repo, instances)

    def create_node(self, info: NodeInfo) -> None:
        receive.create_node(self.repo, info)

    def reopen_node(self, uuid: str) -> None:
        receive.reopen_node(self.repo, uuid)

    def apply_batch(
        self,
        node: str,
        data_uuid: str,
        puts: Sequence[tuple[bytes, bytes, bytes]],
        deletes: Sequence[bytes],
    ) -> Applied:
        return receive.apply_batch(self.repo, node, data_uuid, puts, deletes)

    def batch(self, node: str, data_uuid: str) -> BatchWriter:
        return receive.open_batch(self.repo, node, data_uuid)

    def complete_node(self, info: NodeInfo, compare: Sequence[str]) -> bool:
        return receive.complete_node(self.repo, info, compare)

    def mark_snapshot(self, uuid: str, stamp: str) -> None:
        receive.mark_snapshot(self.repo, uuid, stamp)

    def move_branch(self, name: str, old: str | None, new: str) -> str | None:
        return receive.move_branch(self.repo, name, old, new)

    def lease_labels(self, name: str, count: int) -> tuple[int, int]:
        return exchange.lease_labels(self.repo, name, count)

    def close(self) -> None:
        """Nothing to release: the caller owns the repository."""


def _checked(runs: Iterator[list[exchange.Wired]]) -> Iterator[list[Value]]:
    """Runs of stored values as a local sender hands them over, each value checked (a
    damaged stored value is not sent on)."""
    for run in runs:
        for key, d, stored, _ in run:
            check_stored(key, d, stored)
        yield [(key, d, stored) for key, d, stored, _ in run]


if TYPE_CHECKING:  # mypy checks that LocalEndpoint satisfies the interface
    _: type[Endpoint] = LocalEndpoint
