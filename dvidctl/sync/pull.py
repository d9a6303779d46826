"""``pull``: fetch, then bring ``REMOTE/BRANCH`` into the current branch.

After the fetch, the remote branch's last committed node T is merged into the
current branch: nothing to do if the branch already holds T; a fast-forward
(:func:`dvidctl.api.fastforward.fast_forward`) if the branch has no committed node
T lacks and its open head wrote nothing; otherwise a merge, exactly as
``dvidctl merge`` (conflicts listed, nothing changed, unless ``--strategy``).
What a remote branch holds beyond T (writes in a node still open there) is not
pulled: only committed nodes are merged, as everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvidctl.api.fastforward import can_fast_forward, fast_forward
from dvidctl.api.versions import last_locked
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.store.dag import branch_key
from dvidctl.store.mergeplan import STRATEGIES
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.fetch import fetch
from dvidctl.sync.http import Policy
from dvidctl.sync.remotes import Remote
from dvidctl.sync.results import ProgressFn, PullResult
from dvidctl.sync.transfer import Options

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def pull(
    repo: Repository,
    remote: Remote,
    branch: str | None = None,
    *,
    strategy: str = "fail",
    progress: ProgressFn | None = None,
    policy: Policy | None = None,
    options: Options | None = None,
    endpoint: Endpoint | None = None,
) -> PullResult:
    """Fetch ``remote``, then merge ``REMOTE/BRANCH`` (default: the current branch's name)."""
    if strategy not in STRATEGIES:  # refused before anything is fetched
        raise BadRequestError(
            f"unknown merge strategy {strategy!r}", hint="use fail, ours or theirs"
        )
    current = repo.head_branch
    if current is None:
        raise BadRequestError("HEAD is detached", hint="check out the branch to pull into")
    if branch_key(current) not in repo.state.branches:
        raise NotFoundError(f"branch {current!r} does not exist")
    wanted = branch or current
    fetched = fetch(
        repo, remote, progress=progress, policy=policy, options=options, endpoint=endpoint
    )
    ref = f"{remote.name}/{wanted}"
    if ref not in repo.state.remote_refs:
        raise NotFoundError(
            f"remote {remote.name!r} has no branch {wanted!r}",
            hint="remote branches: "
            + (
                ", ".join(
                    r for r in sorted(repo.state.remote_refs) if r.startswith(remote.name + "/")
                )
                or "none"
            ),
        )
    theirs = last_locked(repo, repo.resolve(ref))
    result = PullResult(fetched, current, ref, "up-to-date")
    if theirs is None:
        return result  # the remote branch has nothing committed yet
    tip = last_locked(repo, repo.state.branches[branch_key(current)])
    if tip is not None and theirs in repo.dag.ancestors(tip):
        return result
    if can_fast_forward(repo, current, theirs):
        head = fast_forward(repo, current, theirs)
        result.action = "fast-forward"
        result.head = head.uuid if head is not None else None
        return result
    merged = repo.merge([repo.dag.node(theirs).uuid], f"pull: merge {ref}", strategy=strategy)
    result.action = "merge"
    result.head = merged.node.uuid if merged.node is not None else None
    result.resolved = merged.resolved
    return result
