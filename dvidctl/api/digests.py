"""Node digests: one string per data instance that says what a node holds, fixed once committed.

A node's digest for an instance is :func:`dvidctl.store.nodedigest.entries_digest` of
its delta entries (``"<xxh3-128 hex>:<keys>"``), keyed by the instance's data UUID,
which is the same on every server. Two sides with equal digests for a node hold the
same node, so sync compares DAGs in one request, whatever the key count.

Digests cover the live, versioned instances: an unversioned instance keeps its
keys at the root whatever the root's state (sync mirrors those separately), and a
deleted instance's keys await gc. They are computed when a node is committed
(:func:`dvidctl.api.versions.lock_node`) or completed by sync, dropped by a write
after commit (``VersionedStore.apply``), and computed again on demand
(:func:`ensure_digests`), which also covers repositories made before digests existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvidctl.store import metadata, nodedigest
from dvidctl.store.dag import NodeRecord
from dvidctl.store.engine import WriteBatch
from dvidctl.store.metadata import InstanceRecord

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def versioned_instances(repo: Repository) -> dict[int, InstanceRecord]:
    """The live versioned instances, by local instance id."""
    return {rec.iid: rec for rec in repo.state.instances.values() if rec.versioned}


def node_digests(repo: Repository, vid: int) -> dict[str, str]:
    """Per data UUID, the digest of what node ``vid`` wrote (instances it did not write: absent)."""
    recs = versioned_instances(repo)
    raw = nodedigest.instance_digests(repo.engine, vid)
    return {recs[i].data_uuid: d for i, d in raw.items() if i in recs}


def needs_digests(node: NodeRecord) -> bool:
    """Whether ``node`` is committed, complete and has no (current) digests."""
    return node.locked and not node.incoming and node.digests is None


def ensure_digests(repo: Repository) -> int:
    """Compute the digests of every committed node that lacks them; returns how many.

    They are saved when the repository is writable (one write), so this costs a
    scan of each such node's delta once.
    """
    todo = [n for n in repo.dag.nodes.values() if needs_digests(n)]
    if not todo:
        return 0
    wb = WriteBatch()
    with repo.store.write_lock:
        done = []
        for node in todo:
            if not needs_digests(node):
                continue
            rec = NodeRecord.from_dict({**node.to_dict(), "children": list(node.children)})
            rec.digests = node_digests(repo, node.vid)
            metadata.put_node(wb, rec)
            done.append(rec)
        if repo.engine.supports_writes and len(wb):
            repo.engine.write(wb)
        for rec in done:
            repo.dag.add(rec)
    return len(done)
