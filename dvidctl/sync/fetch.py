"""``fetch``: bring a remote's new nodes and data, and set remote-tracking refs ``REMOTE/BRANCH``.

One state request tells which nodes the remote has and what each committed one
holds (its digests); nodes this side already holds with the same digests cost
nothing more. New nodes are created here in topological order and filled by
:class:`~dvidctl.sync.transfer.Transfer`; a committed one is then completed
(digests checked), an open one stays a read-only snapshot that the next fetch
refreshes. Snapshots of nodes the remote no longer has are removed. Then every
remote branch sets ``REMOTE/BRANCH`` here, and the remote's tags whose names are
free here are added. Local branches do not move (``pull`` does that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dvidctl.api import receive
from dvidctl.api.fastforward import import_tags
from dvidctl.api.held import set_held
from dvidctl.api.syncstate import RepoInfo
from dvidctl.errors import ConflictError, NotFoundError, RemoteError
from dvidctl.store.dag import branch_label
from dvidctl.sync import leases
from dvidctl.sync.dvidstate import DVID_ENDPOINTS
from dvidctl.sync.endpoint import Endpoint, LocalEndpoint
from dvidctl.sync.http import HttpEndpoint, NoSyncApiError, Policy
from dvidctl.sync.partial import Partial, narrow
from dvidctl.sync.partial import load as load_partial
from dvidctl.sync.plan import plan
from dvidctl.sync.region import HeldSender, voxel_instances
from dvidctl.sync.remotes import Remote
from dvidctl.sync.results import FetchResult, ProgressFn, Stats
from dvidctl.sync.transfer import Clock, Options, Transfer

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def _fallback() -> Any:
    """The DVID-endpoint fallback, imported only for a server without the sync API (it
    loads the remote client's datatype views: a tenth of a second of every sync command)."""
    from dvidctl.sync import fallback

    return fallback


def remote_state(ep: Endpoint, url: str) -> RepoInfo:
    """The remote's document; a repository it lacks is a remote error (exit 9).

    A server without the sync API (DVID) is read through DVID's endpoints instead:
    the document then says so (``protocol`` 0) and :func:`fetch_from` replays its nodes.
    """
    try:
        return ep.state()
    except NoSyncApiError:
        if not isinstance(ep, HttpEndpoint):
            raise
        source = _fallback().Source(ep.base, ep.repo_ref, token=ep.token, policy=ep.policy)
        try:
            return source.state()
        finally:
            source.close()
    except NotFoundError as exc:
        raise RemoteError(
            f"{url}: {exc.message}", hint="check the UUID at the end of the remote URL"
        ) from None


def check_same_repo(repo: Repository, their: RepoInfo, url: str) -> None:
    """Refuse a remote that holds another repository."""
    if their.root != repo.root_uuid:
        raise RemoteError(
            f"{url} holds repository {their.root[:10]}, not this one ({repo.root_uuid[:10]})",
            hint="a remote must hold a copy of this repository (the same root UUID)",
        )


def endpoint_for(remote: Remote, policy: Policy | None = None) -> HttpEndpoint:
    """The HTTP endpoint of ``remote``."""
    return HttpEndpoint(remote.base, remote.repo_ref, token=remote.token, policy=policy)


def fetch(
    repo: Repository,
    remote: Remote,
    *,
    progress: ProgressFn | None = None,
    policy: Policy | None = None,
    options: Options | None = None,
    endpoint: Endpoint | None = None,
) -> FetchResult:
    """Fetch from ``remote`` into ``repo`` (see the module doc).

    ``endpoint``: talk to the remote through this one (kept open) instead of a new one.
    """
    ep = endpoint or endpoint_for(remote, policy)
    try:
        return fetch_from(repo, remote.name, ep, progress=progress, options=options)
    finally:
        if endpoint is None:
            ep.close()


def fetch_from(
    repo: Repository,
    name: str,
    ep: Endpoint,
    *,
    their: RepoInfo | None = None,
    progress: ProgressFn | None = None,
    options: Options | None = None,
    partial: Partial | None = None,
    lease: int | None = None,
) -> FetchResult:
    """:func:`fetch` from an endpoint (``their``: its state, if already read).

    A partial clone (``partial``, default: what ``.dvid/config`` records) takes only
    its instances and nodes. Label leases (:mod:`dvidctl.sync.leases`): ``lease`` labels
    are reserved for each labelmap (a clone; 0: none); None renews the leases taken from
    this remote that run low.
    """
    clock = Clock(ep.stats)
    if their is None:
        their = remote_state(ep, ep.name)
    check_same_repo(repo, their, ep.name)
    their = narrow(their, load_partial(repo.dvid_dir) if partial is None else partial)
    with receive.receiving_many(repo):
        stats, snapshots, leased = _receive(repo, name, ep, their, progress, options, lease)
    removed = _remove_stale(repo, their)
    refs = _tracking_refs(repo, name, their)
    receive.set_remote_refs(repo, name, refs)
    tags = import_tags(repo, their.tags)
    clock.stop()
    return FetchResult(
        name, stats, {f"{name}/{b}": u for b, u in refs.items()}, snapshots, tags, removed, leased
    )


def _receive(
    repo: Repository,
    name: str,
    ep: Endpoint,
    their: RepoInfo,
    progress: ProgressFn | None,
    options: Options | None,
    lease: int | None,
) -> tuple[Stats, list[str], list[dict[str, Any]]]:
    """Bring the nodes and renew the leases: through the sync API, or DVID's endpoints."""
    if their.protocol != DVID_ENDPOINTS:
        snapshots = _transfer(repo, name, ep, their, progress, options)
        return ep.stats, snapshots, leases.renew(repo, name, their, size=lease, ep=ep)
    assert isinstance(ep, HttpEndpoint)
    if repo.state.held is not None:  # new voxel instances there are limited too
        set_held(repo, repo.state.held.with_instances(voxel_instances(their.instances)))
    source = _fallback().Source(ep.base, their.root, token=ep.token, policy=ep.policy)
    source.stats = ep.stats
    try:
        stats, snapshots = _fallback().fetch_dvid(repo, name, source, their, progress=progress)
        return stats, snapshots, leases.renew(repo, name, their, size=lease, source=source)
    finally:
        source.close()


def _transfer(
    repo: Repository,
    name: str,
    ep: Endpoint,
    their: RepoInfo,
    progress: ProgressFn | None,
    options: Options | None,
) -> list[str]:
    """Move the nodes through the sync API; returns the snapshots taken or refreshed."""
    local = LocalEndpoint(repo)
    shared = local.put_instances(their.instances)
    versioned = {i.data_uuid for i in their.instances if i.versioned}
    compare = [d for d in shared if d in versioned]
    mine = local.state()
    steps = plan(their, mine, compare)
    sender = held_sender(repo, ep, their)
    transfer = Transfer(sender, local, compare, stats=ep.stats, options=options, progress=progress)
    transfer.phase = f"fetch {name}"
    transfer.run(steps)
    root = repo.dag.root.uuid
    for d in shared:
        if d not in versioned:  # unversioned: kept at the root, mirrored every time
            transfer.instance(root, d, list_receiver=True)
    return [s.info.uuid for s in steps.steps if not s.info.locked]


def held_sender(repo: Repository, ep: Endpoint, their: RepoInfo) -> Endpoint:
    """``ep``, or in a partial clone by region ``ep`` listing only the held blocks.

    The remote's voxel instances (new ones too) are all limited by the selection.
    """
    held = repo.state.held
    if held is None:
        return ep
    held = held.with_instances(voxel_instances(their.instances))
    set_held(repo, held)
    return HeldSender(ep, held, their.instances)


def _remove_stale(repo: Repository, their: RepoInfo) -> list[str]:
    """Remove snapshots of nodes the remote no longer has (an empty head a push replaced)."""
    out = []
    for vid in sorted(repo.dag.nodes, reverse=True):
        node = repo.dag.nodes.get(vid)
        if node is None or not node.incoming or node.children or their.node(node.uuid):
            continue
        if vid == repo.dag.root.vid:
            continue
        try:
            receive.remove_node(repo, node.uuid)
        except ConflictError:
            continue
        out.append(node.uuid)
    return out


def _tracking_refs(repo: Repository, name: str, their: RepoInfo) -> dict[str, str]:
    """User-facing branch -> UUID for each remote branch whose leaf is here (else as before)."""
    out = {}
    for b, uuid in their.branches.items():
        label = branch_label(b)
        if uuid in repo.dag.by_uuid:
            out[label] = uuid
        elif (old := repo.state.remote_refs.get(f"{name}/{label}")) is not None:
            out[label] = old
    return out


__all__ = ["Stats", "check_same_repo", "endpoint_for", "fetch", "fetch_from", "remote_state"]
