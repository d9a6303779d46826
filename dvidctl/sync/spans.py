"""Which units of a transfer move as *spans*: several new nodes of an instance in one stream.

A clone (or a fetch of several new nodes) fills nodes the receiver holds nothing of.
Moved node after node, each node's values cover its instance's whole key range, so
the receiver's table files overlap and its close compacts them all; a span moves the
values of all those nodes in the receiver's key order instead, so each batch's table
file goes to the bottom level and nothing is left to compact
(:mod:`dvidctl.store.nodespan`; bench/RESULTS.md, session 14).

A plan moves by spans when two nodes or more it moves are ones the receiver holds
nothing of (created by this transfer, or an incoming node still empty: a clone's
root) and wrote the same instance, the sender offers spans (a server's state
document lists the ``span`` feature; a sender wrapped to filter its listings, as a
partial clone by region does, offers none) and the receiver takes them (a local
repository; a server whose document lists ``span-batch``, which gets each batch
whole and puts it in its own key order). Then each instance written by two such
nodes or more is one span unit over those nodes; an instance only one of them wrote
stays a dump of that node, and the nodes the receiver holds part of (a snapshot to
refresh, a node reopened) are diffed as usual. Every node is created first, parents
first, and completed last, in plan order, once every unit has ended: an interrupted
span leaves incoming nodes that a rerun diffs as usual (at most the batch in flight
per stream again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.plan import NodeStep, Plan

#: Nodes one span names at most. Every request of a span carries its node list (about
#: 35 bytes a node: 36 KB at most, 0.2% of a 16 MiB batch); a plan of more nodes moves
#: an instance as several spans of consecutive nodes, whose table files overlap each
#: other's (one layer per span, where node by node made one per node). The sender
#: scans the instance's range once per span.
SPAN_NODES = 1024


@dataclass
class Units:
    """The units of a plan moved by spans."""

    #: ``(data_uuid, node UUIDs in the receiver's span order)``: one stream each.
    spans: list[tuple[str, list[str]]] = field(default_factory=list)
    #: ``(node UUID, data_uuid, list_receiver)`` of the other units, moved node by node:
    #: the instances one new node wrote (a dump), and those of nodes the receiver holds
    #: part of (a snapshot to refresh, a node reopened: a diff).
    single: list[tuple[str, str, bool]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.spans) + len(self.single)


def offers_spans(sender: Endpoint, receiver: Endpoint) -> bool:
    """Whether ``sender`` sends spans and ``receiver`` takes them (their own classes say)."""
    sends = callable(getattr(type(sender), "span_runs", None)) and bool(
        getattr(sender, "spans", False)
    )
    takes = callable(getattr(type(receiver), "span_batch", None)) and bool(
        getattr(receiver, "takes_spans", False)
    )
    return sends and takes


def span_units(
    plan: Plan,
    sender: Endpoint,
    receiver: Endpoint,
    units_of: Callable[[NodeStep], list[tuple[str, bool]]],
) -> Units | None:
    """The plan's units as spans (see the module doc), or None to move node by node."""
    if not offers_spans(sender, receiver):
        return None
    moving = plan.moving
    fresh = [s for s in moving if not (s.list_receiver or s.reopen)]
    by_instance: dict[str, list[str]] = {}
    for step in fresh:
        for data_uuid, _ in units_of(step):
            by_instance.setdefault(data_uuid, []).append(step.info.uuid)
    if all(len(nodes) < 2 for nodes in by_instance.values()):
        return None
    out = Units()
    for data_uuid, nodes in by_instance.items():
        if len(nodes) == 1:
            out.single.append((nodes[0], data_uuid, False))
        else:
            out.spans.append((data_uuid, nodes))
    for step in moving:
        if step.list_receiver or step.reopen:
            out.single += [(step.info.uuid, d, lr) for d, lr in units_of(step)]
    return out


def order_spans(units: Units, receiver: Endpoint) -> None:
    """Put each span's nodes in the receiver's order (its nodes exist by now), in spans
    of at most :data:`SPAN_NODES` consecutive nodes."""
    order = receiver.span_order  # type: ignore[attr-defined]
    spans = []
    for d, nodes in units.spans:
        ordered = order(nodes)
        spans += [(d, ordered[i : i + SPAN_NODES]) for i in range(0, len(ordered), SPAN_NODES)]
    units.spans = spans
