"""What a sync did: counters that the transfer fills in, and the result of each operation.

Every operation returns a dataclass (``to_dict`` gives the ``--json`` summary)
and reports progress through a callback taking a :class:`Progress` (only
``commands/`` draws it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Stats:
    """Counters of one transfer (from the local side's point of view for ``up``/``down``)."""

    #: Nodes whose contents moved (created, refreshed or completed).
    nodes: int = 0
    #: Nodes found the same on both sides by their digests, without listing them.
    nodes_same: int = 0
    #: Values written on the receiver, and their stored bytes.
    keys: int = 0
    bytes: int = 0
    #: Keys the receiver removed (mirror semantics).
    deleted: int = 0
    #: Keys both listings held with the same digest (listed, not sent).
    same: int = 0
    #: Batches applied by the receiver, and of them those read ahead on a slot another
    #: stream left idle (:meth:`dvidctl.sync.stream.Stream._everything`).
    batches: int = 0
    ahead: int = 0
    #: HTTP requests made, and body bytes sent to / received from the remote.
    requests: int = 0
    up: int = 0
    down: int = 0
    seconds: float = 0.0
    #: CPU seconds this process spent meanwhile (all its threads).
    cpu_seconds: float = 0.0
    #: How label blocks travelled: ``labelblock`` or ``stored`` ("" if none did);
    #: ``dvid-blocks`` through DVID's endpoints (the fallback).
    labels: str = ""
    #: What the DVID-endpoint fallback could not bring as DVID serves it, and what it
    #: did instead (a server without an endpoint).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["cpu_seconds"] = round(self.cpu_seconds, 3)
        return out


@dataclass
class Progress:
    """A snapshot for a progress bar: nodes done of total, and the counters so far."""

    phase: str
    nodes_done: int
    nodes_total: int
    stats: Stats
    #: The node being moved (UUID), if any.
    node: str = ""
    #: The keys the moving nodes hold, when their digests count them all (None: not
    #: known): the bar's measure, since a clone's spans complete every node at its end.
    keys_total: int | None = None


ProgressFn = Callable[[Progress], None]


@dataclass
class FetchResult:
    """What ``fetch`` brought."""

    remote: str
    stats: Stats
    #: Remote-tracking refs now set (``origin/master`` -> UUID).
    refs: dict[str, str] = field(default_factory=dict)
    #: Snapshots of remote nodes that are still open there.
    snapshots: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: Stale snapshots removed (nodes the remote no longer has).
    removed: list[str] = field(default_factory=list)
    #: Label leases taken or renewed (``instance``, ``start``, ``end``) or not (``error``).
    leases: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "remote": self.remote,
            **self.stats.to_dict(),
            "refs": dict(self.refs),
            "snapshots": list(self.snapshots),
            "tags": list(self.tags),
            "removed": list(self.removed),
            "leases": list(self.leases),
        }


@dataclass
class PushResult:
    """What ``push`` sent."""

    remote: str
    branch: str
    stats: Stats
    old: str | None = None
    new: str | None = None
    up_to_date: bool = False
    created_repo: bool = False
    #: The remote's empty open head the push replaced, if any.
    dropped: str | None = None
    #: ``sync`` (the sync API) or ``dvid`` (DVID's own endpoints: a server without it).
    via: str = "sync"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "remote": self.remote,
            "branch": self.branch,
            "old": self.old,
            "new": self.new,
            "up_to_date": self.up_to_date,
            "created_repo": self.created_repo,
            "dropped": self.dropped,
            "via": self.via,
            **self.stats.to_dict(),
        }


@dataclass
class PullResult:
    """What ``pull`` did: its fetch, then a fast-forward, a merge or nothing."""

    fetch: FetchResult
    branch: str
    merged_from: str
    #: ``up-to-date``, ``fast-forward`` or ``merge``.
    action: str
    head: str | None = None
    resolved: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            **self.fetch.to_dict(),
            "branch": self.branch,
            "merged_from": self.merged_from,
            "action": self.action,
            "head": self.head,
            "resolved_keys": self.resolved,
        }


@dataclass
class CloneResult:
    """What ``clone`` made."""

    path: str
    root: str
    fetch: FetchResult
    branches: list[str] = field(default_factory=list)
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "path": self.path,
            "root": self.root,
            "branches": list(self.branches),
            "resumed": self.resumed,
            **self.fetch.to_dict(),
        }
