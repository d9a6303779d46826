"""``push``: send a branch's committed nodes the remote lacks, then move its head there.

Only committed nodes travel: the branch's last committed node T and its ancestors.
The push is refused, before anything is sent, when it is not a fast-forward on
the remote: the remote branch has a committed node T does not descend from (pull
first), or its open head holds uncommitted writes. A server that lacks the
repository gets it, created with the same root UUID. Nodes the remote holds with
the same digests are skipped without listing them; the others are sent as in a
fetch, the other way round. The remote's branch head moves last, with a
compare-and-set on the head this push saw (an empty open head there is replaced,
as a merge replaces one). A push with nothing to send makes one request.

From a partial clone by region, a node it received holding part of the remote's
blocks is never sent: the push is refused unless the remote already has it
(:func:`_check_held`); its own commits, which cannot write those voxels, go as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvidctl.api import receive
from dvidctl.api.digests import ensure_digests, versioned_instances
from dvidctl.api.versions import last_locked
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError
from dvidctl.store.dag import branch_key
from dvidctl.sync.endpoint import Endpoint, LocalEndpoint
from dvidctl.sync.fetch import check_same_repo, endpoint_for
from dvidctl.sync.http import NoSyncApiError, Policy
from dvidctl.sync.plan import plan, same_digests
from dvidctl.sync.pushdvid import push_dvid
from dvidctl.sync.remotes import Remote
from dvidctl.sync.results import ProgressFn, PushResult
from dvidctl.sync.transfer import Clock, Options, Transfer

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.api.syncstate import NodeInfo, RepoInfo


def push(
    repo: Repository,
    remote: Remote,
    branch: str | None = None,
    *,
    progress: ProgressFn | None = None,
    policy: Policy | None = None,
    options: Options | None = None,
    endpoint: Endpoint | None = None,
) -> PushResult:
    """Push ``branch`` (default: the current one) to ``remote`` (see the module doc).

    ``endpoint``: talk to the remote through this one (kept open) instead of a new one.
    """
    name = branch or repo.head_branch
    if name is None:
        raise BadRequestError("HEAD is detached", hint="name the branch to push")
    key = branch_key(name)
    leaf = repo.state.branches.get(key)
    if leaf is None:
        raise NotFoundError(f"no branch {name!r}")
    tip = last_locked(repo, leaf)
    if tip is None:
        raise BadRequestError(f"branch {name!r} has no committed node to push", hint="commit first")
    ep = endpoint or endpoint_for(remote, policy)
    try:
        return _push(repo, remote, ep, name, tip, progress, options)
    finally:
        if endpoint is None:
            ep.close()


def _push(
    repo: Repository,
    remote: Remote,
    ep: Endpoint,
    name: str,
    tip: int,
    progress: ProgressFn | None,
    options: Options | None,
) -> PushResult:
    stats = ep.stats
    clock = Clock(stats)
    local = LocalEndpoint(repo)
    tip_uuid = repo.dag.node(tip).uuid
    result = PushResult(remote.name, name, stats, new=tip_uuid)
    try:
        their = ep.state()
    except NoSyncApiError:  # DVID itself (or --no-sync-api): its own endpoints
        return push_dvid(
            repo, remote, name, tip, policy=getattr(ep, "policy", None), progress=progress
        )
    except NotFoundError:
        mine = local.state()
        wanted = {repo.dag.node(v).uuid for v in repo.dag.ancestors(tip)}
        _check_held(repo, [n for n in mine.nodes if n.uuid in wanted], ep.name)
        ep.create_repo(mine)
        result.created_repo = True
        their = ep.state()
    check_same_repo(repo, their, ep.name)
    head = their.branches.get(branch_key(name))
    result.old = head
    if head is not None:
        _check_fast_forward(repo, their, head, tip, remote.name, name)
        if their.last_committed(head) == tip_uuid and _same_node(repo, their, tip):
            result.up_to_date = True
            receive.set_remote_refs(repo, remote.name, {name: _seen(repo, their, head)}, only=True)
            clock.stop()
            return result
    mine = local.state()
    shared = ep.put_instances(mine.instances)
    versioned = {i.data_uuid for i in mine.instances if i.versioned}
    compare = [d for d in shared if d in versioned]
    wanted = {repo.dag.node(v).uuid for v in repo.dag.ancestors(tip)}
    steps = plan(mine, their, compare, wanted)
    _check_held(repo, [step.info for step in steps.moving], ep.name)
    transfer = Transfer(local, ep, compare, stats=stats, options=options, progress=progress)
    transfer.phase = f"push {remote.name}"
    transfer.run(steps)
    for d in shared:
        if d not in versioned:
            transfer.instance(repo.dag.root.uuid, d, list_receiver=True)
    result.dropped = ep.move_branch(name, head, tip_uuid)
    receive.set_remote_refs(repo, remote.name, {name: tip_uuid}, only=True)
    if result.dropped is not None:
        node = repo.dag.nodes.get(repo.dag.by_uuid.get(result.dropped, -1))
        if node is not None and node.incoming and not node.children:
            receive.remove_node(repo, result.dropped)
    clock.stop()
    return result


def _check_held(repo: Repository, nodes: list[NodeInfo], where: str) -> None:
    """A partial clone by region pushes only nodes whose limited instances it holds whole.

    Its own commits hold nothing of those instances (their voxels are read-only
    here), so they push as usual when the remote has the nodes they descend from;
    a node it received holds part of the sender's blocks, and the remote must
    already have it (as git refuses a shallow push the remote cannot connect).
    """
    held = repo.state.held
    if held is None:
        return
    for info in nodes:
        part = [d for d in held.instances if d in (info.digests or {})]
        if part:
            names = sorted(r.name for r in repo.instances() if r.data_uuid in part)
            raise ConflictError(
                f"{where} lacks node {info.uuid[:10]}, of which this partial clone holds "
                f"only part ({held.describe()} of {', '.join(names)}); nothing was pushed",
                hint="push to the remote this clone came from, or from a full clone",
            )


def _same_node(repo: Repository, their: RepoInfo, tip: int) -> bool:
    """Whether the remote holds local node ``tip`` complete with the same digests."""
    ensure_digests(repo)
    node = repo.dag.node(tip)
    other = their.node(node.uuid)
    if other is None or not other.complete:
        return False
    theirs = {i.data_uuid for i in their.instances}
    compare = [r.data_uuid for r in versioned_instances(repo).values() if r.data_uuid in theirs]
    return same_digests(node.digests, other.digests, compare)


def _seen(repo: Repository, their: RepoInfo, head: str) -> str:
    """The remote head, or its last committed node if the head is not here."""
    if head in repo.dag.by_uuid:
        return head
    return their.last_committed(head) or head


def _check_fast_forward(
    repo: Repository, their: RepoInfo, head: str, tip: int, remote: str, name: str
) -> None:
    theirs = their.last_committed(head)
    if theirs is not None:
        vid = repo.dag.by_uuid.get(theirs)
        if vid is None or vid not in repo.dag.ancestors(tip):
            raise ConflictError(
                f"the remote branch {remote}/{name} has committed nodes this branch lacks "
                "(not a fast-forward); nothing was pushed",
                hint=f"pull first ('dvidctl pull {remote} {name}'), then push again",
            )
    node = their.node(head)
    if node is not None and not node.locked and not node.incoming and not node.empty:
        raise ConflictError(
            f"the remote branch {remote}/{name} has uncommitted changes at its open head "
            f"{head[:10]}; nothing was pushed",
            hint="commit them on the server first, or push to a new branch",
        )
