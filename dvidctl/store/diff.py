"""Differences between two nodes, computed from the delta index.

Only keys written by nodes that are ancestors of one node but not of the other
can differ, so the cost grows with what changed between them, not with the
size of the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dvidctl.store.keys import HDR_TOMBSTONE
from dvidctl.store.versioned import VersionedStore


@dataclass
class InstanceDiff:
    """Type keys of one instance that were added, changed or deleted from A to B."""

    iid: int
    added: list[bytes] = field(default_factory=list)
    changed: list[bytes] = field(default_factory=list)
    deleted: list[bytes] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def diff_nodes(
    store: VersionedStore,
    a: int,
    b: int,
    iids: set[int] | None = None,
    *,
    hidden: Callable[[int, bytes], bool] | None = None,
) -> dict[int, InstanceDiff]:
    """Return per-instance differences going from node ``a`` to node ``b``.

    ``hidden(iid, tkey)``: type keys that are parts of another key's value (a large
    keyvalue value's pieces), left out unread; that key itself shows the change.
    """
    dag = store.dag
    anc_a, anc_b = dag.ancestors(a), dag.ancestors(b)
    keys: set[tuple[int, bytes]] = set()
    for v in anc_a ^ anc_b:
        for iid, tkey, _ in store.changes(v):
            if (iids is None or iid in iids) and not (hidden and hidden(iid, tkey)):
                keys.add((iid, tkey))
    out: dict[int, InstanceDiff] = {}
    for iid, tkey in sorted(keys):
        versions = store.versions(iid, tkey)
        va, vb = store.resolve(versions, a), store.resolve(versions, b)
        la = va is not None and va[0] != HDR_TOMBSTONE
        lb = vb is not None and vb[0] != HDR_TOMBSTONE
        d = out.setdefault(iid, InstanceDiff(iid))
        if la and lb:
            if va != vb:
                d.changed.append(tkey)
        elif lb:
            d.added.append(tkey)
        elif la:
            d.deleted.append(tkey)
    return {k: v for k, v in out.items() if v}
