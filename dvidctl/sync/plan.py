"""Which nodes a transfer moves, decided from the two sides' state documents alone.

For each node of the sender, parents first (the documents list nodes that way):

* the receiver lacks it: **create** it (incoming) and send its keys;
* the receiver has it incoming (an interrupted run, or a snapshot of a node that
  is open on the sender): diff both listings and send what differs -- unless it is a
  snapshot taken at the sender's current write stamp (not written since): same;
  one that holds nothing yet (a clone's root) is filled without listing it;
* the receiver has it complete with the same digests: **same**, nothing is listed;
* the receiver has it complete with other digests: the sender wrote it after its
  commit (``writes_after_commit`` grew there) -- **reopen** and diff it again;
  otherwise both sides changed a committed node, which is a conflict.

A committed sender node is **completed** on the receiver after its keys; an open
one stays a snapshot. A node the sender is itself still receiving is no source;
it and every node below it wait for a later run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from dvidctl.api.syncstate import NodeInfo, RepoInfo
from dvidctl.errors import ConflictError


@dataclass
class NodeStep:
    """What to do with one node."""

    info: NodeInfo
    create: bool = False
    reopen: bool = False
    #: The receiver may hold some of the node's keys: list its side too.
    list_receiver: bool = False
    #: The sender's node is committed: complete it on the receiver after its keys.
    complete: bool = False
    #: Only the note or log differ: the completion call updates them.
    meta_only: bool = False


@dataclass
class Plan:
    """The steps, in order, and what was skipped."""

    steps: list[NodeStep] = field(default_factory=list)
    #: Nodes both sides hold with the same digests.
    same: list[str] = field(default_factory=list)
    #: Nodes left for a later run (the sender is still receiving them, or a parent).
    waiting: list[str] = field(default_factory=list)

    @property
    def moving(self) -> list[NodeStep]:
        """The steps that move keys."""
        return [s for s in self.steps if not s.meta_only]


def same_digests(
    a: dict[str, str] | None, b: dict[str, str] | None, compare: Sequence[str]
) -> bool:
    """Whether two nodes' digests agree on every instance in ``compare``."""
    return a is not None and b is not None and all(a.get(d) == b.get(d) for d in compare)


def plan(
    sender: RepoInfo,
    receiver: RepoInfo,
    compare: Sequence[str],
    wanted: Collection[str] | None = None,
) -> Plan:
    """The steps that make the receiver hold the sender's nodes (``wanted`` ones only)."""
    out = Plan()
    present = {n.uuid for n in receiver.nodes}
    for node in sender.nodes:
        if wanted is not None and node.uuid not in wanted:
            continue
        if node.incoming or any(p not in present for p in node.parents):
            out.waiting.append(node.uuid)
            continue
        mine = receiver.node(node.uuid)
        present.add(node.uuid)
        if mine is None:
            out.steps.append(NodeStep(node, create=True, complete=node.locked))
        elif mine.incoming and not node.locked and node.stamp and node.stamp == mine.snapshot:
            out.same.append(node.uuid)  # a snapshot of an open node not written since
        elif mine.incoming:  # an empty one (a clone's root) holds nothing to list
            out.steps.append(NodeStep(node, list_receiver=not mine.empty, complete=node.locked))
        elif not mine.locked:
            raise ConflictError(
                f"node {node.uuid[:10]} is open on the receiving side; sync never overwrites one"
            )
        elif not node.locked:
            out.waiting.append(node.uuid)  # committed here, open there: nothing to take
        elif same_digests(node.digests, mine.digests, compare):
            out.same.append(node.uuid)
            if (node.note, node.log) != (mine.note, mine.log):
                out.steps.append(NodeStep(node, complete=True, meta_only=True))
        elif node.writes_after_commit > mine.writes_after_commit:
            out.steps.append(NodeStep(node, reopen=True, list_receiver=True, complete=True))
        else:
            raise ConflictError(
                f"committed node {node.uuid[:10]} holds different data on the two sides",
                hint="it was written after its commit on both sides (--fullwrite); "
                "keep one side's copy and sync again",
            )
    return out
