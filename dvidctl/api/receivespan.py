"""Receiving spans: several incoming nodes of one instance filled by one key-ordered stream.

:mod:`dvidctl.store.nodespan` has the format (values keyed ``tkey | u32 position``,
positions in the node list the span names). A local receiver (a clone) asks for its
nodes in :func:`span_order`, its own version order, so that values come in its
data-key order and go straight into the table file each batch ingests
(:func:`open_span`); a server receiving a push gets each batch whole and puts it in
order itself (:func:`apply_span`, any order of nodes). Either way every node must be
incoming and hold nothing of the instance when its span starts: a span only adds.

**Marks: resuming a span.** Each batch a local receiver commits also records, in the
same atomic write, how far its span got (:class:`SpanMark`: the nodes, the sender's
digests of them for the instance, and the last wire key written; ``span-mark/`` in
``meta``). A fetch interrupted in a span finds the mark next time and, when the
sender still holds the same nodes with the same digests, asks for the rest of the
span after that key, without listing anything, and the receiver's table files still
do not overlap; otherwise the mark is dropped and the nodes are diffed. The mark goes
when its span ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dvidctl.api import wire
from dvidctl.api.exchange import instance_by_data_uuid, node_vid
from dvidctl.errors import BadRequestError
from dvidctl.store import nodedelta, nodespan
from dvidctl.store.engine import CF_META, WriteBatch

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def span_order(repo: Repository, uuids: Sequence[str]) -> list[str]:
    """``uuids`` in the order of this side's version ids: the order a span asks in, so that
    its wire keys sort as the data keys they become."""
    return sorted(uuids, key=lambda u: node_vid(repo, u))


@dataclass(frozen=True)
class SpanMark:
    """How far a span into this repository got (see the module doc)."""

    data_uuid: str
    #: The span's nodes, in its order (positions).
    nodes: list[str]
    #: The sender's digest of each node for the instance when the span started.
    digests: list[str]
    #: The last wire key written.
    after: bytes

    @property
    def key(self) -> bytes:
        return nodespan.mark_key(self.data_uuid, self.nodes)

    def to_json(self) -> dict[str, object]:
        """As a state document lists it."""
        return {
            "instance": self.data_uuid,
            "nodes": self.nodes,
            "digests": self.digests,
            "after": self.after.hex(),
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> SpanMark:
        """From a state document (BadRequestError if malformed)."""
        try:
            nodes, digests = d["nodes"], d["digests"]
            assert isinstance(nodes, list) and isinstance(digests, list)
            return cls(str(d["instance"]), [str(u) for u in nodes], [str(x) for x in digests],
                       bytes.fromhex(str(d["after"])))  # fmt: skip
        except (KeyError, ValueError, AssertionError):
            raise BadRequestError("a span mark in the state document is malformed") from None


def open_span(
    repo: Repository,
    data_uuid: str,
    uuids: Sequence[str],
    *,
    any_order: bool = False,
    warm: bool = False,
    digests: Sequence[str] | None = None,
) -> nodespan.SpanBatch:
    """A batch of a span at incoming nodes ``uuids`` (in :func:`span_order`, unless
    ``any_order``), values put by wire key (``warm``: see ``IncomingBatch``); with the
    sender's ``digests`` of the nodes, its commit records the span's mark."""
    rec = instance_by_data_uuid(repo, data_uuid)
    if not rec.versioned:
        raise BadRequestError(f"instance {rec.name} is unversioned: it has no span of nodes")
    vids = [node_vid(repo, u) for u in uuids]
    mark = None
    if digests is not None:
        mark = (nodespan.mark_key(data_uuid, uuids), nodespan.mark_head(uuids, digests))
    return nodespan.SpanBatch(repo.store, vids, rec.iid, any_order=any_order, warm=warm, mark=mark)


def span_marks(repo: Repository) -> list[SpanMark]:
    """The marks of the spans this repository did not finish."""
    return [SpanMark(d, nodes, digests, after) for d, nodes, digests, after in
            nodespan.read_marks(repo.engine)]  # fmt: skip


def holds_nothing(repo: Repository, uuid: str, data_uuid: str) -> bool:
    """Whether node ``uuid`` holds no key of the instance (one seek in its delta entries):
    a node that holds other instances' keys can still take this one's span."""
    rec = instance_by_data_uuid(repo, data_uuid)
    return not repo.store.has_changes(node_vid(repo, uuid), rec.iid)


def drop_span_mark(repo: Repository, data_uuid: str, uuids: Sequence[str]) -> None:
    """Forget how far a span got (it ended, or a fetch will diff its nodes instead)."""
    wb = WriteBatch(sync=True)
    wb.delete(CF_META, nodespan.mark_key(data_uuid, uuids))
    with repo.store.write_lock:
        repo.engine.write(wb)


def apply_span(
    repo: Repository,
    data_uuid: str,
    uuids: Sequence[str],
    items: Sequence[tuple[bytes, bytes, bytes, int]],
    digests: Sequence[str] | None = None,
) -> tuple[nodedelta.Applied, list[bytes]]:
    """Verify and write one whole batch of a span a server receives (durable on return).

    ``items``: ``(wire key, digest, payload, encoding number)``; wire payloads become
    the stored values this side keeps, and the wire keys of those that do not match the
    sender's digest are returned instead of written (sent again as stored). Written
    through a table file, the batch is read back into the page cache (what a push
    brought is what the next fetch reads). With the sender's ``digests`` of the nodes,
    the batch records the span's mark, which the state document then lists (a push
    interrupted in this span resumes after it).
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    puts, again = wire.decode_values(wire.encodings_of(rec.typename, rec.config), items, 4)
    batch = open_span(repo, data_uuid, uuids, any_order=True, warm=True, digests=digests)
    batch.put_many(puts)
    return batch.commit(), again
