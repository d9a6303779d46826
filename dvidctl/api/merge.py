"""Merging bound onto :class:`Repository`, and DVID's merge of explicit parents.

Conflicts are found at merge time from the delta index (:mod:`dvidctl.store.mergeplan`):
``fail`` reports every conflicting key and changes nothing; ``ours``/``theirs`` write
the resolution into the merge node. A key several sides changed is first offered to
its datatype's three-way merge (``Instance.merge_values``: voxel blocks merge voxel by
voxel), so only the parts changed differently conflict, reported with their
coordinates. The whole merge is one atomic write batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dvidctl.api.versions import _copy, _mirror, _new_node, last_locked
from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError, MergeConflictError, NotFoundError
from dvidctl.store import metadata
from dvidctl.store.dag import NodeRecord, branch_key
from dvidctl.store.engine import WriteBatch
from dvidctl.store.mergeplan import (
    STRATEGIES,
    DerivedKeys,
    KeyConflict,
    KeyMerge,
    MergePlan,
    MergeRule,
    ThreeWay,
    plan_merge,
)
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository


@dataclass
class MergeResult:
    """What :func:`merge` did."""

    node: Node | None
    parents: list[str]
    resolved: int = 0
    up_to_date: bool = False
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: Keys (blocks) several sides changed that were merged part by part (voxels).
    merged_parts: int = 0
    #: Conflicting parts (voxels) of those that the strategy resolved.
    resolved_parts: int = 0


def _merge_rule(repo: Repository) -> MergeRule:
    by_iid = {rec.iid: rec for rec in repo.state.instances.values()}

    def rule(iid: int, tkey: bytes, values: list[memoryview | None]) -> bytes | None:
        rec = by_iid.get(iid)
        if rec is None:
            return None
        r = registry.get(rec.typename).merge_rule
        return r(iid, tkey, values) if r is not None else None

    return rule


def _three_way(repo: Repository, parents: list[int]) -> ThreeWay:
    """The datatypes' three-way merges, through each instance as the first parent sees it."""
    by_iid = {rec.iid: rec for rec in repo.state.instances.values()}
    node = repo.node_by_vid(parents[0])

    def three_way(
        iid: int,
        tkey: bytes,
        base: memoryview | None,
        values: list[memoryview | None],
        sides: list[int],
        strategy: str,
    ) -> KeyMerge | None:
        rec = by_iid.get(iid)
        if rec is None:
            return None
        try:
            inst = node.instance(rec.name)
        except NotFoundError:
            return None
        return inst.merge_values(tkey, base, values, sides, strategy)

    return three_way


def merge(
    repo: Repository, refs: list[str], note: str = "", *, strategy: str = "fail"
) -> MergeResult:
    """Merge the last committed node of each ref into the current branch.

    Opens a node on the current branch whose parents are the branch's last
    committed node and the last committed node of each ref; HEAD moves to it.
    Conflicts are found now, from the delta index: ``fail`` reports them all and
    changes nothing; ``ours``/``theirs`` write the resolution into the merge node.
    """
    if strategy not in STRATEGIES:
        raise BadRequestError(
            f"unknown merge strategy {strategy!r}", hint="use fail, ours or theirs"
        )
    if not refs:
        raise BadRequestError("merge needs at least one ref to merge")
    cur = repo.head_branch
    if cur is None:
        raise BadRequestError("HEAD is detached", hint="check out the branch to merge into")
    leaf = repo.head_vid
    if not repo.dag.node(leaf).locked and repo.store.has_changes(leaf):
        raise BadRequestError(
            "HEAD has uncommitted changes", hint="commit them first ('dvidctl commit -m NOTE')"
        )
    ours = last_locked(repo, leaf)
    if ours is None:
        raise BadRequestError(f"branch {cur!r} has no committed node to merge into")
    leaf_rec = repo.dag.node(leaf)
    # An uncommitted merge head keeps its parents: merging more into it adds to that merge.
    base = list(leaf_rec.parents) if not leaf_rec.locked and leaf_rec.parents else [ours]
    parents = list(base)
    for ref in refs:
        theirs = last_locked(repo, repo.resolve(ref))
        if theirs is None:
            raise BadRequestError(f"{ref!r} has no committed node to merge")
        if not any(theirs in repo.dag.ancestors(p) for p in parents):
            # An earlier "theirs" that this one descends from is redundant (and would
            # pit a branch against its own history as a spurious conflict).
            anc = repo.dag.ancestors(theirs)
            parents = [p for i, p in enumerate(parents) if i == 0 or p not in anc]
            parents.append(theirs)
    if parents == base:
        # Nothing new: every ref is already in this branch (or in its pending merge).
        return MergeResult(None, [repo.dag.node(p).uuid for p in base], up_to_date=True)
    plan = _checked_plan(repo, parents, strategy)
    with repo.store.write_lock:
        wb = WriteBatch()
        leaf_node = repo.dag.node(leaf)
        drop_leaf = not leaf_node.locked and not leaf_node.children
        if drop_leaf:
            # The empty open head is replaced by the merge node (one open head per branch).
            metadata.delete_node(wb, leaf)
            for p in leaf_node.parents:
                parent = _copy(repo.dag.node(p))
                parent.children = [c for c in parent.children if c != leaf]
                metadata.put_node(wb, parent)
            repo.dag.remove(leaf)
        node = _new_node(repo, wb, parents, branch_key(cur), note)
        metadata.put_branch(wb, branch_key(cur), node.vid)
        moved = []
        if drop_leaf:
            # Instances created on the dropped head now start at the merge node.
            for rec in repo.state.instances.values():
                if rec.root_uuid == leaf_node.uuid:
                    moved.append(replace(rec, root_uuid=node.uuid))
                    metadata.put_instance(wb, moved[-1])
        try:
            _write_merge(repo, wb, node, plan, {branch_key(cur): node.vid})
            for rec in moved:
                repo.state.instances[rec.name] = rec
        except BaseException:
            if drop_leaf:
                repo.dag.add(leaf_node)
                for p in leaf_node.parents:
                    repo.dag.node(p).children.append(leaf)
            raise
    return MergeResult(
        repo.node_by_vid(node.vid),
        [repo.dag.node(p).uuid for p in parents],
        resolved=len(plan.resolutions),
        merged_parts=plan.merged_parts,
        resolved_parts=plan.resolved_parts,
    )


def _derived_keys(repo: Repository) -> DerivedKeys:
    by_iid = {rec.iid: rec for rec in repo.state.instances.values()}

    def derived(iid: int) -> Callable[[bytes], bool] | None:
        rec = by_iid.get(iid)
        if rec is None or not rec.versioned:
            return None
        return registry.get(rec.typename).derived_key

    return derived


def _checked_plan(repo: Repository, parents: list[int], strategy: str) -> MergePlan:
    """Plan a merge of ``parents``; MergeConflictError listing every conflict if any remain."""
    plan = plan_merge(
        repo.store,
        parents,
        strategy=strategy,
        rule=_merge_rule(repo),
        derived=_derived_keys(repo),
        three_way=_three_way(repo, parents),
    )
    # Keys of deleted instances stay in the delta index until gc: nothing reads them.
    live = {rec.iid for rec in repo.state.instances.values()}
    plan.conflicts = [c for c in plan.conflicts if c.iid in live]
    plan.resolutions = {k: v for k, v in plan.resolutions.items() if k[0] in live}
    collisions = _collisions(repo, plan, parents)
    if collisions:
        # No strategy resolves these: neither side's labels are right, both are needed.
        labels = sum(int(c.get("count", 0)) for c in collisions)
        raise MergeConflictError(
            f"merge would join {labels} label(s) handed out independently on several sides "
            "(label-collision); nothing was changed",
            hint="the sides were clones that allocated labels on their own: redo the "
            "mutations of one side on top of the other (see the list)",
            details=collisions + _describe_conflicts(repo, plan.conflicts, parents),
        )
    if plan.conflicts:
        details = _describe_conflicts(repo, plan.conflicts, parents)
        raise MergeConflictError(
            f"merge has {len(details)} conflicting key(s){_voxel_note(plan.conflicts)}; "
            "nothing was changed",
            hint="see the list; merge again with --strategy ours or --strategy theirs",
            details=details,
        )
    return plan


def _collisions(repo: Repository, plan: MergePlan, parents: list[int]) -> list[dict[str, Any]]:
    """What the instances refuse beyond conflicting keys (labels allocated on two sides),
    asked of each instance with changed keys, through the first parent."""
    by_iid: dict[int, dict[bytes, list[int]]] = {}
    for (iid, tkey), sides in plan.changed.items():
        by_iid.setdefault(iid, {})[tkey] = sides
    names = {rec.iid: rec.name for rec in repo.state.instances.values()}
    node = repo.node_by_vid(parents[0])
    out: list[dict[str, Any]] = []
    for iid in sorted(by_iid):
        name = names.get(iid)
        try:
            inst = node.instance(name) if name is not None else None
        except NotFoundError:  # not at the first parent (made on another side)
            inst = None
        if inst is None:
            continue
        for found in inst.merge_collisions(by_iid[iid], parents):
            sides = [repo.dag.node(parents[i]).uuid for i in found.get("sides", [])]
            out.append({"instance": name, **found, "sides": sides})
    return out


def _write_merge(
    repo: Repository, wb: WriteBatch, node: NodeRecord, plan: MergePlan, branches: dict[str, int]
) -> None:
    """Write the merge node in one atomic batch: ``wb``'s metadata, the plan's
    resolutions, and the derived data (pyramids) rebuilt from what the node now holds.

    The node joins the in-memory DAG first, so that reads at it resolve through its
    parents while the derived data is computed, and leaves it again if anything fails.
    """
    repo.dag.add(node)
    try:
        batch = repo.store.batch(node.vid)
        batch.extra = wb
        for (iid, tkey), stored in plan.resolutions.items():
            batch.put_stored(iid, tkey, stored)
        _rebuild_derived(repo, node.vid, plan, batch)
        repo.store.apply(batch)
    except BaseException:
        repo.dag.remove(node.vid)
        raise
    _mirror(repo, [node], branches)


def _rebuild_derived(repo: Repository, vid: int, plan: MergePlan, batch: VersionedBatch) -> None:
    """Let each instance with changed source keys rebuild its derived keys into ``batch``."""
    names = {rec.iid: rec.name for rec in repo.state.instances.values()}
    node = repo.node_by_vid(vid)
    for iid in sorted(set(plan.sources) | set(plan.contested)):
        name = names.get(iid)
        if name is None:
            continue
        node.instance(name).rebuild_derived(
            batch, plan.sources.get(iid, []), plan.contested.get(iid, [])
        )


def merge_nodes(
    repo: Repository,
    parent_vids: list[int],
    note: str = "",
    strategy: str = "fail",
    *,
    uuid: str | None = None,
) -> MergeResult:
    """Open a node whose parents are ``parent_vids`` (DVID's ``POST /api/repo/{uuid}/merge``).

    As DVID: every parent must be committed, the child is open, its branch is
    master (``""``) and no branch pointer moves. Unlike DVID, which examines no
    data and lets conflicts surface later as read errors, conflicts are found
    now: ``fail`` refuses with the list; ``ours``/``theirs`` resolve them into
    the new node (the first parent is "ours").
    """
    if strategy not in STRATEGIES:
        raise BadRequestError(
            f"unknown merge strategy {strategy!r}", hint="use fail, ours or theirs"
        )
    parents = list(dict.fromkeys(parent_vids))
    if len(parents) < 2:
        raise BadRequestError("merge needs at least two distinct parents")
    for p in parents:
        rec = repo.dag.node(p)
        if not rec.locked:
            raise BadRequestError(f"merge parent {rec.uuid} is not committed (locked)")
    plan = _checked_plan(repo, parents, strategy)
    with repo.store.write_lock:
        wb = WriteBatch()
        node = _new_node(repo, wb, parents, "", note, uuid)
        _write_merge(repo, wb, node, plan, {})
    return MergeResult(
        repo.node_by_vid(node.vid),
        [repo.dag.node(p).uuid for p in parents],
        resolved=len(plan.resolutions),
        merged_parts=plan.merged_parts,
        resolved_parts=plan.resolved_parts,
    )


def _voxel_note(conflicts: list[KeyConflict]) -> str:
    """`` (N voxel(s) changed differently on both sides)`` when parts of keys conflict."""
    n = sum(c.partial.conflicts for c in conflicts if c.partial is not None)
    return f" ({n} voxel(s) changed differently on several sides)" if n else ""


def _describe_conflicts(
    repo: Repository, conflicts: list[KeyConflict], parents: list[int]
) -> list[dict[str, Any]]:
    """One dict per conflicting key; a key merged part by part adds ``voxels`` and ``where``
    (the count of conflicting voxels and the first of them, XYZ)."""
    by_iid = {rec.iid: rec for rec in repo.state.instances.values()}
    out = []
    for c in conflicts:
        rec = by_iid.get(c.iid)
        spec = registry.get(rec.typename) if rec else None
        d: dict[str, Any] = {
            "instance": rec.name if rec else str(c.iid),
            "key": spec.describe_key(c.tkey) if spec else c.tkey.hex(),
            "sides": [repo.dag.node(parents[i]).uuid for i in c.sides],
        }
        if c.partial is not None:
            d["voxels"] = c.partial.conflicts
            d["where"] = c.partial.where
        out.append(d)
    return out
