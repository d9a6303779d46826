"""Local branches over what sync brought: fast-forward, new branches, tags.

In DVID's model a branch ends in an open node where writes go. A local branch
*fast-forwards* to a committed node T when it has no committed node that T lacks
(its last committed node is T or an ancestor of T) and its open head wrote
nothing: the empty head is replaced by a new open child of T on the same branch,
in one atomic write (as a merge replaces an empty head). A head with writes is
refused, as ``merge`` refuses it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from dvidctl.api.versions import _copy, _mirror, _new_node, last_locked
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.store import metadata
from dvidctl.store.dag import NodeRecord, branch_key
from dvidctl.store.engine import WriteBatch

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository


def can_fast_forward(repo: Repository, branch: str, target: int) -> bool:
    """Whether ``branch`` has no committed node that ``target`` lacks."""
    leaf = repo.state.branches[branch_key(branch)]
    tip = last_locked(repo, leaf)
    return tip is None or tip in repo.dag.ancestors(target)


def fast_forward(repo: Repository, branch: str, target: int) -> Node | None:
    """Move ``branch`` to a new open child of committed node ``target``; None if up to date.

    Raises ConflictError when it is not a fast-forward (merge instead) and
    BadRequestError when the branch's open head holds uncommitted writes.
    """
    key = branch_key(branch)
    dag = repo.dag
    if not dag.node(target).locked or dag.node(target).incoming:
        raise BadRequestError(f"node {dag.node(target).uuid[:10]} is not a complete committed node")
    with repo.store.write_lock:
        leaf = repo.state.branches[key]
        tip = last_locked(repo, leaf)
        if tip is not None and tip not in dag.ancestors(target):
            raise ConflictError(f"branch {branch!r} has committed nodes the other side lacks")
        head = dag.node(leaf)
        if tip == target and not head.locked:
            return None
        wb = WriteBatch()
        drop = not head.locked and not head.incoming
        if drop:
            if repo.store.has_changes(leaf):
                raise BadRequestError(
                    f"branch {branch!r} has uncommitted changes",
                    hint="commit them first ('dvidctl commit -m NOTE')",
                )
            _drop_head(repo, wb, head)
        try:
            node = _new_node(repo, wb, [target], key)
            metadata.put_branch(wb, key, node.vid)
            moved = _move_instance_roots(repo, wb, head, node) if drop else []
            repo.engine.write(wb)
        except BaseException:
            if drop:
                _restore_head(repo, head)
            raise
        _mirror(repo, [node], {key: node.vid})
        for rec in moved:
            repo.state.instances[rec.name] = rec
    return repo.node_by_vid(node.vid)


def open_branch(repo: Repository, branch: str, target: int) -> Node:
    """Create local branch ``branch`` with a new open child of committed node ``target``.

    The name comes from the other side, whose nodes carry it, so only the tag
    namespace is checked here (the naming rule holds there already).
    """
    key = branch_key(branch)
    if key in repo.state.branches:
        raise ConflictError(f"branch {branch!r} already exists")
    if branch in repo.state.tags:
        raise ConflictError(f"{branch!r} is a tag here (branches and tags share one namespace)")
    with repo.store.write_lock:
        wb = WriteBatch()
        node = _new_node(repo, wb, [target], key)
        metadata.put_branch(wb, key, node.vid)
        repo.engine.write(wb)
        _mirror(repo, [node], {key: node.vid})
    return repo.node_by_vid(node.vid)


def import_tags(repo: Repository, tags: dict[str, str]) -> list[str]:
    """Add the other side's tags whose name is free here and whose node is committed here."""
    wb = WriteBatch()
    added: dict[str, int] = {}
    for name, uuid in sorted(tags.items()):
        vid = repo.dag.by_uuid.get(uuid)
        if vid is None or name in repo.state.tags or branch_key(name) in repo.state.branches:
            continue
        rec = repo.dag.node(vid)
        if rec.locked and not rec.incoming:
            metadata.put_tag(wb, name, vid)
            added[name] = vid
    if added:
        with repo.store.write_lock:
            repo.engine.write(wb)
            repo.state.tags.update(added)
    return sorted(added)


def _drop_head(repo: Repository, wb: WriteBatch, head: NodeRecord) -> None:
    metadata.delete_node(wb, head.vid)
    for p in head.parents:
        parent = _copy(repo.dag.node(p))
        parent.children = [c for c in parent.children if c != head.vid]
        metadata.put_node(wb, parent)
    repo.dag.remove(head.vid)


def _restore_head(repo: Repository, head: NodeRecord) -> None:
    repo.dag.add(head)
    for p in head.parents:
        repo.dag.node(p).children.append(head.vid)


def _move_instance_roots(
    repo: Repository, wb: WriteBatch, old: NodeRecord, new: NodeRecord
) -> list[metadata.InstanceRecord]:
    """Instances created on a dropped empty head now start at its replacement."""
    moved = []
    for rec in repo.state.instances.values():
        if rec.root_uuid == old.uuid:
            moved.append(dataclasses.replace(rec, root_uuid=new.uuid))
            metadata.put_instance(wb, moved[-1])
    return moved


__all__ = ["can_fast_forward", "fast_forward", "import_tags", "open_branch"]
