"""Version operations bound onto :class:`Repository`.

commit, branch (create, delete, rename), checkout, tag (create, delete), log and diff.

Each is one function taking the repository first. Every change to the DAG is
one atomic write batch; the in-memory state is updated only after it is durable,
so a failed command leaves the repository exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dvidctl.api import refs
from dvidctl.api.digests import node_digests
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError
from dvidctl.ids import check_uuid, new_uuid
from dvidctl.store import metadata
from dvidctl.store.dag import NodeRecord, branch_key, branch_label, now_iso
from dvidctl.store.diff import InstanceDiff, diff_nodes
from dvidctl.store.engine import WriteBatch

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository


def _new_node(
    repo: Repository,
    wb: WriteBatch,
    parents: list[int],
    branch: str,
    note: str = "",
    uuid: str | None = None,
) -> NodeRecord:
    """Queue a new open node and the parents' child links; returns the record."""
    if uuid is not None:
        check_uuid(uuid)
        if uuid in repo.dag.by_uuid:
            raise ConflictError(f"a node with UUID {uuid} already exists")
    vid = repo.state.counters.get("vid", 0) + 1
    node = NodeRecord(
        vid=vid, uuid=uuid or new_uuid(), parents=list(parents), branch=branch, note=note
    )
    metadata.put_counter(wb, "vid", vid)
    metadata.put_node(wb, node)
    for p in parents:
        parent = _copy(repo.dag.node(p))
        parent.children.append(vid)
        parent.updated = node.created  # _apply mirrors the same stamp in memory
        metadata.put_node(wb, parent)
    return node


def _copy(node: NodeRecord) -> NodeRecord:
    return NodeRecord.from_dict(
        {**node.to_dict(), "children": list(node.children), "log": list(node.log)}
    )


def _apply(
    repo: Repository, wb: WriteBatch, nodes: list[NodeRecord], branches: dict[str, int]
) -> None:
    """Write ``wb``, then mirror the new node records and branch pointers in memory."""
    with repo.store.write_lock:
        repo.engine.write(wb)
        _mirror(repo, nodes, branches)


def _mirror(repo: Repository, nodes: list[NodeRecord], branches: dict[str, int]) -> None:
    """Mirror written node records and branch pointers in memory."""
    with repo.store.write_lock:
        for n in nodes:
            repo.dag.add(n)
            repo.state.counters["vid"] = max(repo.state.counters.get("vid", 0), n.vid)
            for p in n.parents:
                parent = repo.dag.node(p)
                if n.vid not in parent.children:
                    parent.children.append(n.vid)
                parent.updated = n.created
        repo.state.branches.update(branches)


def last_locked(repo: Repository, vid: int) -> int | None:
    """``vid`` if locked, else the nearest locked node back along its branch."""
    cur: int | None = vid
    while cur is not None and not repo.dag.node(cur).locked:
        cur = repo.dag.first_parent(cur)
    return cur


# ------------------------------------------------------------------- commit
def _update_node(repo: Repository, vid: int, change: Callable[[NodeRecord], None]) -> None:
    """Apply ``change`` to a copy of node ``vid``'s record, write it, then mirror it in memory."""
    with repo.store.write_lock:
        node = _copy(repo.dag.node(vid))
        change(node)
        node.updated = now_iso()
        wb = WriteBatch()
        metadata.put_node(wb, node)
        repo.engine.write(wb)
        repo.dag.add(node)


def lock_node(repo: Repository, vid: int, note: str = "", log: list[str] | None = None) -> None:
    """Lock (commit) node ``vid`` without opening a child (DVID's ``POST commit``)."""

    def change(node: NodeRecord) -> None:
        if node.locked:
            raise BadRequestError(f"node {node.uuid[:10]} is already committed")
        if node.incoming:
            raise BadRequestError(
                f"node {node.uuid[:10]} is being received by sync; only sync completes it"
            )
        node.locked = True
        node.digests = node_digests(repo, vid)
        if note:
            node.note = note
        node.log.extend(_stamp(log or []))

    _update_node(repo, vid, change)


def new_version(
    repo: Repository,
    vid: int,
    *,
    branch: str | None = None,
    note: str = "",
    uuid: str | None = None,
    hex_ok: bool = False,
) -> Node:
    """Open a child of locked node ``vid`` (DVID's ``newversion``, or ``branch`` when named).

    A new branch name follows :func:`dvidctl.api.refs.check_new_name`; ``hex_ok``
    accepts a name of hex digits only (DVID's HTTP ``branch``, whose clients name
    branches as ``:NAME``).
    """
    parent = repo.dag.node(vid)
    if not parent.locked:
        raise BadRequestError(
            f"node {parent.uuid[:10]} is open; only committed nodes can get children",
            hint="commit it first ('dvidctl commit -m NOTE')",
        )
    stored = parent.branch if branch is None else branch_key(branch)
    if branch is not None and stored != parent.branch:
        refs.check_new_name(repo, branch, "branch", hex_ok=hex_ok)
    elif any(repo.dag.node(c).branch == stored for c in parent.children):
        raise ConflictError(
            f"node {parent.uuid[:10]} already has a child on branch {branch_label(stored)!r}",
            hint="start a new branch with 'dvidctl branch NAME'",
        )
    wb = WriteBatch()
    child = _new_node(repo, wb, [vid], stored, note, uuid)
    metadata.put_branch(wb, stored, child.vid)
    _apply(repo, wb, [child], {stored: child.vid})
    return repo.node_by_vid(child.vid)


def commit(
    repo: Repository, note: str = "", *, log: list[str] | None = None, ref: str | None = None
) -> tuple[Node, Node]:
    """Lock the node ``ref`` names (default HEAD) and open a child on its branch.

    Returns ``(committed node, new open child)``; HEAD follows the branch.
    """
    vid = repo.resolve(ref)
    node = repo.dag.node(vid)
    if node.locked:
        raise BadRequestError(
            f"node {node.uuid[:10]} is already committed",
            hint="check out a branch with an open head, or start one with 'dvidctl branch NAME'",
        )
    was_detached_here = repo.head_branch is None and repo.head_vid == vid
    with repo.store.write_lock:
        lock_node(repo, vid, note, log)
        child = new_version(repo, vid)
    if was_detached_here:
        repo.set_head(branch_label(node.branch), detached=False)
    return repo.node_by_vid(vid), child


def _stamp(lines: list[str]) -> list[str]:
    """DVID prefixes each log line with an RFC 3339 time and two spaces."""
    t = now_iso()
    return [f"{t}  {line}" for line in lines]


def append_log(repo: Repository, vid: int, lines: list[str]) -> None:
    """Append lines to a node's log (allowed on locked nodes, as DVID)."""
    _update_node(repo, vid, lambda node: node.log.extend(_stamp(lines)))


def set_note(repo: Repository, vid: int, note: str) -> None:
    """Replace a node's note."""
    _update_node(repo, vid, lambda node: setattr(node, "note", note))


# ------------------------------------------------------------------- branch
def branch(
    repo: Repository,
    name: str,
    from_ref: str | None = None,
    *,
    note: str = "",
    uuid: str | None = None,
) -> Node:
    """Open a node on new branch ``name`` as a child of ``from_ref``.

    The default parent is the last committed node of the current branch. The
    name follows :func:`dvidctl.api.refs.check_new_name` (one namespace with
    tags; not hex digits only).
    """
    refs.check_new_name(repo, name, "branch")
    if from_ref is None:
        parent = last_locked(repo, repo.head_vid)
        if parent is None:
            raise BadRequestError(
                "the current branch has no committed node to branch from",
                hint="commit first ('dvidctl commit -m NOTE')",
            )
    else:
        parent = repo.resolve(from_ref)
    return new_version(repo, parent, branch=name, note=note, uuid=uuid)


def _existing_branch(repo: Repository, name: str, doing: str) -> str:
    """The stored name of branch ``name``; not master, which DVID's repos always have."""
    key = branch_key(name)
    if key not in repo.state.branches:
        raise NotFoundError(
            f"no branch {name!r}", hint="branches: " + ", ".join(refs.branch_names(repo))
        )
    if key == "":
        raise BadRequestError(f"master is DVID's default branch; it cannot be {doing}")
    return key


def unreached_nodes(repo: Repository, name: str) -> list[int]:
    """Nodes of branch ``name`` that no other branch's leaf or tag reaches, newest first.

    A node is reached if it is an ancestor of (or is) another branch's leaf or a
    tagged node. An open leaf that wrote nothing does not count: it holds no work.
    """
    key = branch_key(name)
    leaf = repo.state.branches[key]
    heads = [v for b, v in repo.state.branches.items() if b != key]
    heads += list(repo.state.tags.values())
    reached: set[int] = set()
    for v in heads:
        reached |= repo.dag.ancestors(v)
    out = repo.dag.ancestors(leaf) - reached
    if not repo.dag.node(leaf).locked and not repo.store.has_changes(leaf):
        out -= {leaf}
    return sorted(out, reverse=True)


def delete_branch(repo: Repository, name: str, *, force: bool = False) -> Node:
    """Remove branch ``name`` (only the name: its nodes stay in the DAG); returns its leaf.

    As git: the checked-out branch cannot be deleted, nor, unless ``force``, a
    branch with nodes nothing else reaches (:func:`unreached_nodes`). DVID never
    deletes nodes, so they stay addressable by UUID and keep their branch name,
    which therefore cannot be given to a new branch.
    """
    key = _existing_branch(repo, name, "deleted")
    if repo.head_branch == branch_label(key):
        raise BadRequestError(
            f"cannot delete branch {name!r}: it is checked out",
            hint="check out another branch first ('dvidctl checkout master')",
        )
    lost = unreached_nodes(repo, name)
    if lost and not force:
        raise BadRequestError(
            f"branch {name!r} has {len(lost)} node(s) that no other branch or tag reaches: "
            + ", ".join(repo.dag.node(v).uuid[:10] for v in lost[:5])
            + (", ..." if len(lost) > 5 else ""),
            hint=f"merge or tag them first, or delete anyway with 'dvidctl branch -D {name}' "
            "(the nodes stay, addressable by UUID)",
        )
    leaf = repo.state.branches[key]
    wb = WriteBatch()
    metadata.delete_branch(wb, key)
    with repo.store.write_lock:
        repo.engine.write(wb)
        del repo.state.branches[key]
    return repo.node_by_vid(leaf)


def rename_branch(repo: Repository, old: str, new: str) -> Node:
    """Rename branch ``old`` to ``new`` (the naming rule applies); HEAD follows; returns the leaf.

    The branch name stored on each of its nodes (DVID's ``Branch``) changes too,
    in the same atomic write, so DVID clients and ``NAME~N`` see the new name.
    """
    key = _existing_branch(repo, old, "renamed")
    refs.check_new_name(repo, new, "branch")
    new_key = branch_key(new)
    leaf = repo.state.branches[key]
    moved = [_copy(n) for n in repo.dag.nodes.values() if n.branch == key]
    wb = WriteBatch()
    for node in moved:
        node.branch = new_key
        metadata.put_node(wb, node)
    metadata.delete_branch(wb, key)
    metadata.put_branch(wb, new_key, leaf)
    head_follows = repo.head_branch == branch_label(key)
    with repo.store.write_lock:
        repo.engine.write(wb)
        for node in moved:
            repo.dag.add(node)
        del repo.state.branches[key]
        repo.state.branches[new_key] = leaf
    if head_follows:
        repo.set_head(new, detached=False)
    return repo.node_by_vid(leaf)


def checkout(repo: Repository, ref: str) -> Node:
    """Move HEAD to a branch (``NAME``, ``:NAME``) or to any other node (detached).

    As git: a NAME that is no branch, tag or node here but exactly one remote's branch
    (``REMOTE/NAME``) becomes a local branch first, its open head a child of that
    branch's last committed node.
    """
    try:
        vid = repo.resolve(ref)  # unknown, empty and ambiguous refs fail here
    except NotFoundError:
        if not _branch_from_remote(repo, ref):
            raise
        vid = repo.resolve(ref)
    name = refs.branch_named(repo, ref)
    if name is not None:
        repo.set_head(name, detached=False)
    else:
        repo.set_head(repo.dag.node(vid).uuid, detached=True)
    return repo.head


def _branch_from_remote(repo: Repository, name: str) -> bool:
    """Make local branch ``name`` from the one remote branch of that name, if there is one."""
    found = [u for r, u in repo.state.remote_refs.items() if r.split("/", 1)[1] == name]
    if len(found) != 1 or ":" in name or "~" in name or "/" in name:
        return False
    tip = last_locked(repo, repo.dag.by_uuid[found[0]])
    if tip is None:
        return False
    from dvidctl.api.fastforward import open_branch  # (it builds on this module)

    open_branch(repo, name, tip)
    return True


def tag(repo: Repository, name: str, ref: str | None = None) -> Node:
    """Name a committed node (the name follows :func:`dvidctl.api.refs.check_new_name`)."""
    refs.check_new_name(repo, name, "tag")
    vid = repo.resolve(ref)
    node = repo.dag.node(vid)
    if not node.locked:
        raise BadRequestError(
            f"node {node.uuid[:10]} is open; only committed nodes can be tagged",
            hint="commit first, or tag HEAD~1",
        )
    wb = WriteBatch()
    metadata.put_tag(wb, name, vid)
    repo.engine.write(wb)
    repo.state.tags[name] = vid
    return repo.node_by_vid(vid)


def delete_tag(repo: Repository, name: str) -> Node:
    """Remove tag ``name`` (the node stays); returns the node it named."""
    vid = repo.state.tags.get(name)
    if vid is None:
        tags = ", ".join(sorted(repo.state.tags)) or "none"
        raise NotFoundError(f"no tag {name!r}", hint=f"tags: {tags}")
    wb = WriteBatch()
    metadata.delete_tag(wb, name)
    with repo.store.write_lock:
        repo.engine.write(wb)
        del repo.state.tags[name]
    return repo.node_by_vid(vid)


# ---------------------------------------------------------------- log, diff
def log(repo: Repository, *, all_branches: bool = True, ref: str | None = None) -> list[Node]:
    """Nodes newest first: every node, or the ancestors of ``ref`` (default HEAD)."""
    if all_branches and ref is None:
        vids = list(repo.dag.nodes)
    else:
        vids = list(repo.dag.ancestors(repo.resolve(ref)))
    return [repo.node_by_vid(v) for v in sorted(vids, reverse=True)]


def diff(
    repo: Repository, ref_a: str, ref_b: str, *, instance: str | None = None
) -> dict[str, dict[str, list[str]]]:
    """Per instance, the keys added, changed and deleted going from ``ref_a`` to ``ref_b``."""
    return diff_versions(repo, repo.resolve(ref_a), repo.resolve(ref_b), instance=instance)


def diff_versions(
    repo: Repository, a: int, b: int, *, instance: str | None = None
) -> dict[str, dict[str, list[str]]]:
    """:func:`diff` between two version ids (the server resolves its own references)."""
    from dvidctl.datatypes import registry

    recs = repo.state.instances
    if instance is not None:
        repo.instance_record(instance)  # NotFoundError listing the instances
    iids = {recs[instance].iid} if instance is not None else None
    by_iid = {rec.iid: rec for rec in recs.values()}
    out: dict[str, dict[str, list[str]]] = {}
    d: InstanceDiff
    hiders = {iid: registry.get(rec.typename).hidden_key for iid, rec in by_iid.items()}

    def hidden(iid: int, tkey: bytes) -> bool:
        hide = hiders.get(iid)
        return hide is not None and hide(tkey)

    for iid, d in diff_nodes(repo.store, a, b, iids, hidden=hidden).items():
        rec = by_iid.get(iid)
        if rec is None:
            continue
        desc = registry.get(rec.typename).describe_key
        out[rec.name] = {
            "added": [desc(t) for t in d.added],
            "changed": [desc(t) for t in d.changed],
            "deleted": [desc(t) for t in d.deleted],
        }
    return out
