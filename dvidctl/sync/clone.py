"""``clone``: a new local repository holding a server's repository, with the same UUIDs.

The repository is created with the remote's root UUID, alias and description and
its root *incoming* (``Repository.init(root_uuid=..., incoming_root=True)``), the
server is remembered as remote ``origin`` (``.dvid/config``, the URL naming the
full root UUID), and everything is fetched. Then each remote branch gets a local
branch of the same name whose open head is a child of the remote branch's last
committed node, and HEAD is ``master``. Each labelmap gets a label lease reserved on the
server (:mod:`dvidctl.sync.leases`), so clones never hand out the same labels.

A clone that was interrupted is finished by running the same command again: the
directory holds a repository marked as a pending clone of that URL (or whose root
has not arrived yet), and the fetch diffs again and sends only what is missing.
``instances`` and ``node`` make a partial clone (:mod:`dvidctl.sync.partial`).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dvidctl.api import layout
from dvidctl.api.fastforward import can_fast_forward, fast_forward, open_branch
from dvidctl.api.held import set_held
from dvidctl.api.repository import Repository
from dvidctl.api.syncstate import RepoInfo
from dvidctl.api.versions import last_locked
from dvidctl.datatypes.imageblk.checks import MAX_RESERVE
from dvidctl.datatypes.labelmap.leases import DEFAULT_LEASE
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.store.dag import branch_label
from dvidctl.sync import partial, remotes
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.fetch import check_same_repo, fetch_from, remote_state
from dvidctl.sync.http import HttpEndpoint, Policy
from dvidctl.sync.partial import Partial
from dvidctl.sync.region import build_held
from dvidctl.sync.results import CloneResult, ProgressFn
from dvidctl.sync.transfer import Options

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def default_dir(alias: str, root: str) -> str:
    """Where a clone goes without a DIR: the alias if it is a plain name, else the root's prefix."""
    return alias if alias and _SAFE.match(alias) and alias not in (".", "..") else root[:12]


def clone(
    url: str,
    path: str | Path | None = None,
    *,
    token: str | None = None,
    progress: ProgressFn | None = None,
    policy: Policy | None = None,
    options: Options | None = None,
    endpoint: Endpoint | None = None,
    instances: Sequence[str] = (),
    node: str | None = None,
    bbox: str | None = None,
    roi: str | None = None,
    scales: str | None = None,
    label_lease: int = DEFAULT_LEASE,
) -> CloneResult:
    """Clone the repository ``url`` names into ``path`` (see the module doc).

    ``instances``, ``node``: a partial clone of only those instances, and only ``node``
    (a UUID prefix or branch name there) and its ancestors (:mod:`dvidctl.sync.partial`).
    ``bbox`` (``X0,Y0,Z0:X1,Y1,Z1``), ``roi`` (an roi instance there), ``scales``
    (``0,1``): only those blocks of the voxel instances (:mod:`dvidctl.sync.region`).
    ``endpoint``: talk to the server through this one (kept open) instead of a new one.
    ``label_lease``: labels of each labelmap reserved on the server for this clone to hand
    out (:mod:`dvidctl.sync.leases`; 0: none, the clone's own counter is used).
    """
    if isinstance(label_lease, bool) or not 0 <= label_lease <= MAX_RESERVE:
        raise BadRequestError(f"label lease must be 0..{MAX_RESERVE} labels, got {label_lease}")
    base, ref = remotes.split_url(url)
    asked = partial.checked(instances, node, bbox, roi, scales)  # bad input: nothing made
    ep = endpoint or HttpEndpoint(base, ref, token=token, policy=policy)
    try:
        their = remote_state(ep, url)
        target = Path(path) if path is not None else Path(default_dir(their.alias, their.root))
        origin = f"{base}/{their.root}"
        repo, resumed = _open_or_init(target, their.root, their.alias, their.description)
        with repo:
            check_same_repo(repo, their, url)
            assert repo.dvid_dir is not None
            remotes.set_url(repo.dvid_dir, "origin", origin, token)
            remotes.set_pending_clone(repo.dvid_dir, origin)
            chosen = _partial(repo.dvid_dir, their, asked, resumed)
            if chosen.region and repo.state.held is None:
                box, roi_name, held_scales = partial.region_args(chosen)
                mine = partial.narrow(their, chosen)
                held = build_held(
                    mine,
                    box=box,
                    roi=roi_name,
                    scales=held_scales,
                    node=chosen.node,
                    base=base,
                    token=token,
                )
                set_held(repo, held)
            fetched = fetch_from(
                repo,
                "origin",
                ep,
                their=their,
                progress=progress,
                options=options,
                partial=chosen,
                lease=label_lease,
            )
            branches = _local_branches(repo, fetched.refs)
            if chosen.node is not None and "master" not in branches:
                tip = last_locked(repo, repo.dag.by_uuid[chosen.node])
                if tip is not None and can_fast_forward(repo, "master", tip):
                    fast_forward(repo, "master", tip)
                    branches.insert(0, "master")
            repo.set_head("master", detached=False)
            remotes.set_pending_clone(repo.dvid_dir, None)
            path_text = str(repo.dvid_dir.parent)
        return CloneResult(path_text, their.root, fetched, branches, resumed)
    finally:
        if endpoint is None:
            ep.close()


def _partial(dvid_dir: Path, their: RepoInfo, asked: Partial, resumed: bool) -> Partial:
    """The partial clone asked for, recorded; a resumed clone keeps what it recorded."""
    if asked.node:
        asked = replace(asked, node=partial.resolve_node(their, asked.node))
    stored = partial.load(dvid_dir)
    if resumed and asked.whole:
        return stored
    if resumed and asked != stored:
        raise ConflictError(
            "this unfinished clone was started with other partial-clone choices",
            hint=f"run it again with the same ones ({stored.describe()})",
        )
    partial.save(dvid_dir, asked)
    return asked


def _open_or_init(target: Path, root: str, alias: str, description: str) -> tuple[Repository, bool]:
    """A new repository at ``target``, or the unfinished clone of the same root already there.

    A database whose making was interrupted (a clone killed in its first moments: the
    ``initializing`` mark is still there) holds nothing yet and is made again.
    """
    dvid_dir = target / layout.DIRNAME
    if (dvid_dir / layout.INITIALIZING).exists():
        shutil.rmtree(dvid_dir / "db", ignore_errors=True)
        (dvid_dir / layout.INITIALIZING).unlink()
    if not (target / ".dvid" / "db").exists():
        repo = Repository.init(
            target, alias=alias, description=description, root_uuid=root, incoming_root=True
        )
        return repo, False
    repo = Repository.open(target)
    assert repo.dvid_dir is not None
    unfinished = remotes.pending_clone(repo.dvid_dir) is not None or repo.dag.root.incoming
    if repo.root_uuid != root or not unfinished:
        repo.close()
        raise ConflictError(
            f"{target.resolve()} already holds a dvidctl repository",
            hint="clone into a new directory, or 'dvidctl fetch' in that one",
        )
    return repo, True


def _local_branches(repo: Repository, refs: dict[str, str]) -> list[str]:
    """A local branch for each remote branch, its open head on the remote's last commit."""
    made = []
    for ref, uuid in sorted(refs.items()):
        label = branch_label(ref.split("/", 1)[1])
        tip = last_locked(repo, repo.dag.by_uuid[uuid])
        if tip is None:
            continue  # nothing committed on that branch yet
        key = "" if label == "master" else label
        if key in repo.state.branches:
            if can_fast_forward(repo, label, tip):
                fast_forward(repo, label, tip)
        else:
            open_branch(repo, label, tip)
        made.append(label)
    return made
