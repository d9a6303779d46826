"""Receiving spans: several incoming nodes of one instance filled by one key-ordered stream.

:mod:`dvidctl.store.nodespan` has the format (values keyed ``tkey | u32 position``,
positions in the node list the span names). A local receiver (a clone) asks for its
nodes in :func:`span_order`, its own version order, so that values come in its
data-key order and go straight into the table file each batch ingests
(:func:`open_span`); a server receiving a push gets each batch whole and puts it in
order itself (:func:`apply_span`, any order of nodes). Either way every node must be
incoming and hold nothing of the instance when its span starts: a span only adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dvidctl.api import wire
from dvidctl.api.exchange import instance_by_data_uuid, node_vid
from dvidctl.errors import BadRequestError
from dvidctl.store import nodedelta, nodespan

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def span_order(repo: Repository, uuids: Sequence[str]) -> list[str]:
    """``uuids`` in the order of this side's version ids: the order a span asks in, so that
    its wire keys sort as the data keys they become."""
    return sorted(uuids, key=lambda u: node_vid(repo, u))


def open_span(
    repo: Repository,
    data_uuid: str,
    uuids: Sequence[str],
    *,
    any_order: bool = False,
    warm: bool = False,
) -> nodespan.SpanBatch:
    """A batch of a span at incoming nodes ``uuids`` (in :func:`span_order`, unless
    ``any_order``), values put by wire key (``warm``: see ``IncomingBatch``)."""
    rec = instance_by_data_uuid(repo, data_uuid)
    if not rec.versioned:
        raise BadRequestError(f"instance {rec.name} is unversioned: it has no span of nodes")
    vids = [node_vid(repo, u) for u in uuids]
    return nodespan.SpanBatch(repo.store, vids, rec.iid, any_order=any_order, warm=warm)


def apply_span(
    repo: Repository,
    data_uuid: str,
    uuids: Sequence[str],
    items: Sequence[tuple[bytes, bytes, bytes, int]],
) -> tuple[nodedelta.Applied, list[bytes]]:
    """Verify and write one whole batch of a span a server receives (durable on return).

    ``items``: ``(wire key, digest, payload, encoding number)``; wire payloads become
    the stored values this side keeps, and the wire keys of those that do not match the
    sender's digest are returned instead of written (sent again as stored). Written
    through a table file, the batch is read back into the page cache (what a push
    brought is what the next fetch reads).
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    puts, again = wire.decode_values(wire.encodings_of(rec.typename, rec.config), items, 4)
    batch = open_span(repo, data_uuid, uuids, any_order=True, warm=True)
    batch.put_many(puts)
    return batch.commit(), again
