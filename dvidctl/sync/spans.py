"""Which units of a transfer move as *spans*: several new nodes of an instance in one stream.

A clone (or a fetch of several new nodes) fills nodes the receiver holds nothing of.
Moved node after node, each node's values cover its instance's whole key range, so
the receiver's table files overlap and its close compacts them all; a span moves the
values of all those nodes in the receiver's key order instead, so each batch's table
file goes to the bottom level and nothing is left to compact
(:mod:`dvidctl.store.nodespan`; bench/RESULTS.md, session 14).

A plan moves by spans when two committed nodes or more it moves wrote an instance
the receiver holds nothing of at those nodes (nodes created by this transfer, an
incoming node still empty: a clone's root, or one that holds only other instances'
keys: an interrupted clone), the sender offers spans (a server's state document
lists the ``span`` feature; a sender wrapped to filter its listings, as a partial
clone by region does, offers none) and the receiver takes them (a local repository;
a server whose document lists ``span-batch``, which gets each batch whole and puts
it in its own key order). Each such instance is then one span unit over those nodes;
an instance only one of them wrote stays a dump of that node, as does a node open on
the sender (a snapshot, which may change: only committed nodes are spanned, so that
a span can be resumed), and the nodes the receiver holds part of (a snapshot to
refresh, a node reopened) are diffed as usual. Every node is created first, parents
first, and completed last, in plan order, once every unit has ended.

**Resuming.** A local receiver records with each batch how far its span got
(:mod:`dvidctl.api.receivespan`'s marks). The next plan takes a mark up as a span
that starts after its last key when every node of it is still to move, committed on
the sender with the digest the mark recorded; it drops the others first, and their
nodes are diffed. So an interrupted clone sends again at most the batch in flight
per stream, lists nothing of a resumed span's nodes, and its table files still do
not overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dvidctl.api.receivespan import SpanMark
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.plan import NodeStep, Plan

#: Nodes one span names at most. Every request of a span carries its node list (about
#: 35 bytes a node: 36 KB at most, 0.2% of a 16 MiB batch); a plan of more nodes moves
#: an instance as several spans of consecutive nodes, whose table files overlap each
#: other's (one layer per span, where node by node made one per node). The sender
#: scans the instance's range once per span.
SPAN_NODES = 1024


@dataclass
class Span:
    """One span unit: an instance's values at ``nodes`` (in the receiver's order, once
    :func:`order_spans` ran), from after ``after`` (a resumed span)."""

    data_uuid: str
    nodes: list[str]
    after: bytes | None = None
    #: The sender's digest of each node for the instance (its mark records them), or
    #: None when a node is open there (its span cannot be resumed).
    digests: list[str] | None = None


@dataclass
class Units:
    """The units of a plan moved by spans."""

    spans: list[Span] = field(default_factory=list)
    #: ``(node UUID, data_uuid, list_receiver)`` of the other units, moved node by node:
    #: the instances one new node wrote (a dump), and those of nodes the receiver holds
    #: part of (a snapshot to refresh, a node reopened: a diff).
    single: list[tuple[str, str, bool]] = field(default_factory=list)
    #: Marks of interrupted spans that cannot be resumed: dropped before anything moves.
    stale: list[SpanMark] = field(default_factory=list)

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
    marks = getattr(receiver, "span_marks", None)
    out = Units()
    covered = _resumed(out, marks() if marks is not None else [], moving, units_of)
    holds_nothing = getattr(receiver, "holds_nothing", None)
    by_instance: dict[str, list[NodeStep]] = {}
    for step in moving:
        u = step.info.uuid
        for data_uuid, lr in units_of(step):
            if (u, data_uuid) in covered:
                continue
            if not step.info.locked or step.reopen:  # a snapshot, or a node written again
                out.single.append((u, data_uuid, lr))
            elif not lr or (holds_nothing is not None and holds_nothing(u, data_uuid)):
                wrote = step.info.digests
                if wrote is not None and data_uuid not in wrote:
                    continue  # nothing of it on either side: nothing to move or remove
                by_instance.setdefault(data_uuid, []).append(step)  # nothing of it here yet
            else:
                out.single.append((u, data_uuid, True))
    for data_uuid, steps in by_instance.items():
        if len(steps) == 1:
            out.single.append((steps[0].info.uuid, data_uuid, False))
            continue
        digests = [(s.info.digests or {}).get(data_uuid) for s in steps]
        full = None if None in digests else [str(d) for d in digests]
        out.spans.append(Span(data_uuid, [s.info.uuid for s in steps], digests=full))
    # Nothing to span and no mark to drop: node by node, nodes started ahead as usual.
    return out if out.spans or out.stale else None


def _resumed(
    out: Units,
    marks: list[SpanMark],
    moving: list[NodeStep],
    units_of: Callable[[NodeStep], list[tuple[str, bool]]],
) -> set[tuple[str, str]]:
    """Add a resumed span for each mark the plan can take up (every node of it still to
    move, not reopened, committed on the sender with the digest the mark recorded, and
    writing its instance); the others are stale. Returns the (node, instance) pairs the
    resumed spans cover."""
    steps = {s.info.uuid: s for s in moving}
    covered: set[tuple[str, str]] = set()
    for m in marks:
        ok = all(
            (step := steps.get(u)) is not None
            and not step.reopen
            and step.info.locked
            and (step.info.digests or {}).get(m.data_uuid) == digest
            and any(d == m.data_uuid for d, _ in units_of(step))
            and (u, m.data_uuid) not in covered
            for u, digest in zip(m.nodes, m.digests, strict=True)
        )
        if not ok:
            out.stale.append(m)
            continue
        out.spans.append(Span(m.data_uuid, list(m.nodes), m.after, list(m.digests)))
        covered.update((u, m.data_uuid) for u in m.nodes)
    return covered


def order_spans(units: Units, receiver: Endpoint) -> None:
    """Put each new span's nodes in the receiver's order (its nodes exist by now), in
    spans of at most :data:`SPAN_NODES` consecutive nodes (a resumed span keeps its own)."""
    order = receiver.span_order  # type: ignore[attr-defined]
    spans = []
    for sp in units.spans:
        if sp.after is not None:
            spans.append(sp)
            continue
        pos = {u: i for i, u in enumerate(sp.nodes)}
        ordered = order(sp.nodes)
        for i in range(0, len(ordered), SPAN_NODES):
            part = ordered[i : i + SPAN_NODES]
            digests = None if sp.digests is None else [sp.digests[pos[u]] for u in part]
            spans.append(Span(sp.data_uuid, part, None, digests))
    units.spans = spans
