"""The receiving side of sync: instances, incoming nodes, batches, completion, branch heads.

Used by the server's ``/api/sync`` routes (push) and by the local side of a fetch.
The life of a node on the receiver::

    (absent) --create_node--> incoming --apply_batch...--> incoming --complete_node--> committed
                                 ^                                                      |
                                 +---------------- reopen_node (the sender wrote it -----+
                                                    after its commit)

An **incoming** node is in the DAG and readable, but users cannot write, commit or
branch from it; only sync writes it. It becomes complete (committed, with its
digests) only in :func:`complete_node`, after its last batch, and only if the
digests computed here equal the sender's; otherwise it stays incoming and the
next run diffs it again. A node still open on the sender stays incoming here
(a read-only snapshot, refreshed by the next fetch). An open local node is
never made incoming: a UUID clash with one is a conflict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from dvidctl.api import wire
from dvidctl.api.digests import node_digests
from dvidctl.api.exchange import instance_by_data_uuid, node_vid, shared_config
from dvidctl.api.syncstate import InstanceInfo, NodeInfo
from dvidctl.api.versions import _copy, _mirror, _new_node, last_locked
from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError, ConflictError, CorruptDataError, NotFoundError
from dvidctl.ids import check_instance_name, check_name
from dvidctl.store import metadata, nodedelta, nodespan
from dvidctl.store.dag import NodeRecord, branch_key, branch_label, now_iso
from dvidctl.store.engine import CF_META, WriteBatch
from dvidctl.store.metadata import InstanceRecord

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def receiving_many(repo: Repository) -> AbstractContextManager[None]:
    """A context for a fetch's many batches: the engine puts off reorganising its files
    until it ends (:meth:`KVEngine.bulk_load`; RocksDB compacts once, when it closes)."""
    return repo.engine.bulk_load()


def check_root(repo: Repository, root: str) -> None:
    """Refuse to sync with a repository of another root."""
    if root != repo.root_uuid:
        raise ConflictError(
            f"the other side holds repository {root[:10]}, this is {repo.root_uuid[:10]}",
            hint="a remote must be a copy of the same repository (same root UUID)",
        )


def put_instances(repo: Repository, instances: Sequence[InstanceInfo]) -> list[str]:
    """Create the instances this side lacks and update the others' config; one atomic write.

    Returns the data UUIDs both sides now share (those sync moves). An instance
    deleted here stays deleted (its data UUID is in a ``deleted-inst`` note). For a
    shared instance the sender's config wins, except ``next_label``, which takes the
    larger value so that no label is handed out twice, and ``local_`` entries (a label
    lease), which are each side's own.
    """
    with repo.store.write_lock:
        deleted = {d.get("data_uuid") for d in metadata.deleted_instances(repo.engine)}
        by_duuid = {rec.data_uuid: rec for rec in repo.state.instances.values()}
        wb = WriteBatch(sync=True)  # durable before any batch names the new instance ids
        changed: list[InstanceRecord] = []
        shared: list[str] = []
        iid = repo.state.counters.get("iid", 0)
        for info in instances:
            if info.data_uuid in deleted:
                continue
            rec = by_duuid.get(info.data_uuid)
            if rec is None:
                check_instance_name(info.name)
                registry.get(info.typename)  # NotFoundError for a type this build lacks
                taken = repo.state.instances.get(info.name)
                if taken is not None:
                    raise ConflictError(
                        f"instance {info.name!r} exists on both sides as different instances "
                        f"(data UUIDs {taken.data_uuid[:10]} and {info.data_uuid[:10]})",
                        hint="they were created separately; rename or delete one of them",
                    )
                iid += 1
                rec = InstanceRecord(
                    name=info.name,
                    typename=info.typename,
                    iid=iid,
                    data_uuid=info.data_uuid,
                    config=shared_config(info.config),
                    versioned=info.versioned,
                    root_uuid=info.root_uuid,
                    created=info.created or now_iso(),
                    tags=dict(info.tags),
                )
                metadata.put_counter(wb, "iid", iid)
            else:
                if (rec.name, rec.typename) != (info.name, info.typename):
                    raise ConflictError(
                        f"data instance {info.data_uuid[:10]} is {rec.typename} {rec.name!r} here "
                        f"but {info.typename} {info.name!r} on the other side"
                    )
                config = {**rec.config, **shared_config(info.config)}
                if "next_label" in rec.config or "next_label" in info.config:
                    config["next_label"] = max(
                        int(rec.config.get("next_label", 0)), int(info.config.get("next_label", 0))
                    )
                tags = {**rec.tags, **info.tags}
                if config == rec.config and tags == rec.tags:
                    shared.append(rec.data_uuid)
                    continue
                rec = dataclasses.replace(rec, config=config, tags=tags)
            metadata.put_instance(wb, rec)
            changed.append(rec)
            shared.append(rec.data_uuid)
        if len(wb):
            repo.engine.write(wb)
            repo.state.counters["iid"] = iid
            for rec in changed:
                repo.state.instances[rec.name] = rec
        return shared


def create_node(repo: Repository, info: NodeInfo) -> NodeRecord:
    """Add node ``info.uuid`` as incoming, with its parents, branch, note and log.

    Idempotent: a node this side already has is returned as it is (a rerun), if it
    has the same parents; an open node of this side's own is a conflict.
    """
    with repo.store.write_lock:
        vid = repo.dag.by_uuid.get(info.uuid)
        if vid is not None:
            have = repo.dag.node(vid)
            parents = [repo.dag.node(p).uuid for p in have.parents]
            if parents != info.parents:
                raise ConflictError(f"node {info.uuid[:10]} has other parents here")
            if not have.locked and not have.incoming:
                raise ConflictError(
                    f"node {info.uuid[:10]} is an open node of this repository; "
                    "sync never overwrites one"
                )
            return have
        pvids = []
        for p in info.parents:
            pv = repo.dag.by_uuid.get(p)
            if pv is None:
                raise NotFoundError(f"parent {p[:10]} of node {info.uuid[:10]} is not here yet")
            pvids.append(pv)
        if not pvids:
            raise ConflictError(f"node {info.uuid[:10]} is a root; this repository has one")
        wb = WriteBatch(sync=True)
        node = _new_node(repo, wb, pvids, info.branch, info.note, info.uuid)
        node.log = list(info.log)
        node.incoming = True
        if info.created:
            node.created = info.created
        metadata.put_node(wb, node)
        repo.engine.write(wb)
        _mirror(repo, [node], {})
        return node


def _rewrite(repo: Repository, node: NodeRecord, sync: bool = True) -> None:
    wb = WriteBatch(sync=sync)
    metadata.put_node(wb, node)
    repo.engine.write(wb)
    repo.dag.add(node)


def reopen_node(repo: Repository, uuid: str) -> None:
    """Make a complete node incoming again: the sender changed it after its commit."""
    with repo.store.write_lock:
        node = _copy(repo.dag.node(node_vid(repo, uuid)))
        if node.incoming:
            return
        if not node.locked:
            raise ConflictError(f"node {uuid[:10]} is an open node of this repository")
        node.incoming = True
        node.digests = None
        _rewrite(repo, node)


def open_batch(repo: Repository, uuid: str, data_uuid: str) -> nodedelta.IncomingBatch:
    """A batch for incoming node ``uuid`` that values are put into as they arrive.

    Each value's digest is checked as it is put, and nothing is visible before the
    batch's ``commit`` (one atomic, durable write). An unversioned instance is
    written at the root, whatever the root's state.
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    if not rec.versioned:
        return nodedelta.IncomingBatch(repo.store, repo.dag.root.vid, rec.iid, any_node=True)
    return nodedelta.IncomingBatch(repo.store, node_vid(repo, uuid), rec.iid)


def apply_batch(
    repo: Repository,
    uuid: str,
    data_uuid: str,
    puts: Sequence[tuple[bytes, bytes, bytes]],
    deletes: Sequence[bytes] = (),
    *,
    warm: bool = False,
) -> nodedelta.Applied:
    """Verify and write one batch at incoming node ``uuid`` (durable when this returns).

    An unversioned instance is written at the root, whatever the root's state.
    ``warm``: a batch written through a table file is read back into the page cache
    (a server's: what a push brought is what the next fetch reads).
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    if not rec.versioned:
        vid = repo.dag.root.vid
        return nodedelta.apply_incoming(
            repo.store, vid, rec.iid, puts, deletes, any_node=True, warm=warm
        )
    vid = node_vid(repo, uuid)
    return nodedelta.apply_incoming(repo.store, vid, rec.iid, puts, deletes, warm=warm)


def apply_wire_batch(
    repo: Repository,
    uuid: str,
    data_uuid: str,
    items: Sequence[tuple[bytes, bytes, bytes, int]],
    deletes: Sequence[bytes] = (),
    *,
    warm: bool = False,
) -> tuple[nodedelta.Applied, list[bytes]]:
    """:func:`apply_batch` of ``(tkey, digest, payload, encoding number)`` values.

    Wire payloads become the stored values this side keeps (:func:`wire.decode_values`);
    the keys whose stored value does not match the sender's digest are not written
    but returned, for the sender to send again as stored bytes.
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    puts, again = wire.decode_values(wire.encodings_of(rec.typename, rec.config), items)
    return apply_batch(repo, uuid, data_uuid, puts, deletes, warm=warm), again


def complete_node(repo: Repository, info: NodeInfo, compare: Sequence[str]) -> bool:
    """Mark incoming node ``info.uuid`` complete and committed, as on the sender.

    Its digests are computed here and must equal the sender's for every shared
    instance in ``compare`` (a mismatch is :class:`CorruptDataError` and leaves it
    incoming, so the next run diffs it again). For a node that is already complete
    with the same digests, only its note and log are brought up to date. Returns
    whether anything was written.
    """
    if not info.locked or info.digests is None:
        raise BadRequestError(f"node {info.uuid[:10]} is open on the sender; it stays a snapshot")
    with repo.store.write_lock:
        vid = node_vid(repo, info.uuid)
        node = _copy(repo.dag.node(vid))
        if not node.incoming and not node.locked:
            raise ConflictError(f"node {info.uuid[:10]} is an open node of this repository")
        fresh = node.incoming or node.digests is None
        mine = node_digests(repo, vid) if fresh else dict(node.digests or {})
        limited = _held_instances(repo)
        if fresh:
            for d in limited:  # holds part of the sender's node: records the sender's digest
                mine.pop(d, None)
                if d in info.digests:
                    mine[d] = info.digests[d]
        wrong = [d for d in compare if d not in limited and mine.get(d) != info.digests.get(d)]
        if wrong:
            _write_dropping_marks(repo, node.uuid, WriteBatch(sync=True))  # diffed next time
            raise CorruptDataError(
                f"node {info.uuid[:10]} does not match the sender after the transfer "
                f"({len(wrong)} instance(s) differ)",
                hint="it stays incomplete; run the command again to send what differs",
            )
        same_meta = (node.note, node.log) == (info.note, info.log)
        if not node.incoming and same_meta:
            return False
        node.incoming = False
        node.locked = True
        node.digests = mine
        node.snapshot = None
        node.note, node.log = info.note, list(info.log)
        node.created = info.created or node.created
        node.writes_after_commit = max(node.writes_after_commit, info.writes_after_commit)
        node.updated = info.updated or now_iso()
        wb = WriteBatch(sync=True)
        metadata.put_node(wb, node)
        _write_dropping_marks(repo, node.uuid, wb)  # its spans' marks: done
        repo.dag.add(node)
        return True


def _write_dropping_marks(repo: Repository, uuid: str, wb: WriteBatch) -> None:
    """Write ``wb`` with the marks of the spans node ``uuid`` was in deleted."""
    for d, nodes, _, _ in nodespan.read_marks(repo.engine):
        if uuid in nodes:
            wb.delete(CF_META, nodespan.mark_key(d, nodes))
    repo.engine.write(wb)


def _held_instances(repo: Repository) -> frozenset[str]:
    held = repo.state.held
    return frozenset(held.instances) if held is not None else frozenset()


def complete_unverified(repo: Repository, info: NodeInfo) -> None:
    """Mark incoming node ``info.uuid`` committed, its digests computed here.

    For a sender that has no digests to compare with (a server without the sync
    API: the DVID-endpoint fallback, which compared every value it replayed).
    """
    with repo.store.write_lock:
        node = _copy(repo.dag.node(node_vid(repo, info.uuid)))
        if not node.incoming:
            return
        node.incoming, node.locked, node.snapshot = False, True, None
        node.digests = node_digests(repo, node.vid)
        node.note, node.log = info.note, list(info.log)
        node.created = info.created or node.created
        node.updated = info.updated or now_iso()
        _rewrite(repo, node)


def mark_snapshot(repo: Repository, uuid: str, stamp: str) -> None:
    """Record that incoming node ``uuid`` now mirrors the sender's node as of ``stamp``."""
    with repo.store.write_lock:
        node = _copy(repo.dag.node(node_vid(repo, uuid)))
        if not node.incoming or node.locked:
            raise BadRequestError(f"node {uuid[:10]} is not a snapshot of an open node")
        if node.snapshot != stamp:
            node.snapshot = stamp
            _rewrite(repo, node)


def remove_node(repo: Repository, uuid: str) -> bool:
    """Remove an incoming node that has no children (a snapshot its sender no longer has)."""
    vid = repo.dag.by_uuid.get(uuid)
    if vid is None:
        return False
    node = repo.dag.node(vid)
    if not node.incoming or node.children:
        raise ConflictError(f"node {uuid[:10]} is not a removable snapshot")
    nodedelta.drop_node_data(repo.store, vid)
    with repo.store.write_lock:
        wb = WriteBatch()
        metadata.delete_node(wb, vid)
        for p in node.parents:
            parent = _copy(repo.dag.node(p))
            parent.children = [c for c in parent.children if c != vid]
            metadata.put_node(wb, parent)
        for ref, u in list(repo.state.remote_refs.items()):
            if u == uuid:
                metadata.delete_remote_ref(wb, ref)
                del repo.state.remote_refs[ref]
        repo.engine.write(wb)
        repo.dag.remove(vid)
    return True


def move_branch(repo: Repository, name: str, old: str | None, new: str) -> str | None:
    """Point branch ``name`` at committed node ``new`` if it still points at ``old``.

    Compare-and-set: a branch that moved since the sender looked (another push) is a
    conflict, and so is a step that is not a fast-forward. An open head left behind
    is dropped if it is empty (as a merge replaces one) and refused otherwise.
    Returns the UUID of a dropped head, or None. Moving to where it already is
    succeeds (a rerun).
    """
    key = branch_key(name)
    if key:
        check_name(name, "branch")
    with repo.store.write_lock:
        cur = repo.state.branches.get(key)
        cur_uuid = repo.dag.node(cur).uuid if cur is not None else None
        if cur_uuid == new:
            return None
        if cur_uuid != old:
            raise ConflictError(
                f"branch {branch_label(key)!r} moved to {str(cur_uuid)[:10]} meanwhile",
                hint="fetch, then try again",
            )
        target = repo.dag.node(node_vid(repo, new))
        if not target.locked or target.incoming:
            raise BadRequestError(f"node {new[:10]} is not a complete committed node here")
        if cur is None and name in repo.state.tags:
            raise ConflictError(f"{name!r} is a tag here (branches and tags share one namespace)")
        wb = WriteBatch(sync=True)
        dropped: NodeRecord | None = None
        if cur is not None:
            tip = last_locked(repo, cur)
            if tip is not None and tip not in repo.dag.ancestors(target.vid):
                raise ConflictError(
                    f"moving branch {branch_label(key)!r} to {new[:10]} is not a fast-forward"
                )
            head = repo.dag.node(cur)
            if not head.locked and not head.incoming:
                if head.children or repo.store.has_changes(cur):
                    raise ConflictError(
                        f"branch {branch_label(key)!r} has uncommitted changes at its open head "
                        f"{head.uuid[:10]}",
                        hint="commit them there first, or push to another branch",
                    )
                dropped = head
                metadata.delete_node(wb, cur)
                for p in head.parents:
                    parent = _copy(repo.dag.node(p))
                    parent.children = [c for c in parent.children if c != cur]
                    metadata.put_node(wb, parent)
        moved = []
        if dropped is not None:
            for rec in repo.state.instances.values():
                if rec.root_uuid == dropped.uuid:
                    moved.append(dataclasses.replace(rec, root_uuid=new))
                    metadata.put_instance(wb, moved[-1])
        metadata.put_branch(wb, key, target.vid)
        repo.engine.write(wb)
        if dropped is not None:
            repo.dag.remove(dropped.vid)
        for rec in moved:
            repo.state.instances[rec.name] = rec
        repo.state.branches[key] = target.vid
        return dropped.uuid if dropped is not None else None


def set_remote_refs(
    repo: Repository, remote: str, refs: dict[str, str], *, only: bool = False
) -> None:
    """Make ``REMOTE/BRANCH`` name each of ``refs`` (user-facing branch -> UUID of a node here).

    The remote's other refs are removed (its branches are exactly ``refs``), unless
    ``only``: then just these are set (a push knows one branch).
    """
    prefix = remote + "/"
    wanted = {prefix + b: u for b, u in refs.items() if u in repo.dag.by_uuid}
    wb = WriteBatch()
    stale = [r for r in repo.state.remote_refs if r.startswith(prefix) and r not in wanted]
    if only:
        stale = []
    for ref in stale:
        metadata.delete_remote_ref(wb, ref)
    for ref, u in wanted.items():
        if repo.state.remote_refs.get(ref) != u:
            metadata.put_remote_ref(wb, ref, u)
    if len(wb):
        with repo.store.write_lock:
            repo.engine.write(wb)
            for ref in stale:
                del repo.state.remote_refs[ref]
            repo.state.remote_refs.update(wanted)
