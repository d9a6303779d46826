"""Version references: what every command and URL accepts where a node is named.

Forms, tried in this order: ``HEAD``; ``PREFIX:BRANCH`` / ``:BRANCH`` (DVID: the
leaf of BRANCH in the repo that PREFIX selects); a branch name (its leaf;
``master`` is DVID's empty branch); a tag; a unique UUID prefix. Any of them
may end with ``~N`` (N steps back along the branch: the parent on the same
branch, else the last parent, as DVID walks ancestry).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dvidctl.errors import AmbiguousRefError, BadRequestError, NotFoundError
from dvidctl.store.dag import branch_key, branch_label

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository

_TILDE = re.compile(r"^(?P<base>.*?)(?P<steps>(~\d*|\^)+)$")


def _steps(suffix: str) -> int:
    n = 0
    for part in re.findall(r"~\d*|\^", suffix):
        n += 1 if part in ("~", "^") else int(part[1:])
    return n


def resolve(repo: Repository, ref: str) -> int:
    """Return the version id that ``ref`` names in ``repo``."""
    ref = ref.strip()
    if not ref:
        raise BadRequestError("empty version reference")
    m = _TILDE.match(ref)
    if m and m.group("base"):
        vid = resolve(repo, m.group("base"))
        for _ in range(_steps(m.group("steps"))):
            parent = repo.dag.first_parent(vid)
            if parent is None:
                raise NotFoundError(f"{ref}: walks past the root node")
            vid = parent
        return vid
    if ref == "HEAD":
        return repo.head_vid
    if ":" in ref:
        if ref.count(":") > 1:
            raise BadRequestError(f"bad UUID specification {ref!r}")
        prefix, branch = ref.split(":")
        if prefix:
            _match_uuid(repo, prefix)  # selects the repo; must exist
        return _branch_leaf(repo, branch or "master", ref)
    if branch_key(ref) in repo.state.branches:
        return repo.state.branches[branch_key(ref)]
    if ref in repo.state.tags:
        return repo.state.tags[ref]
    return _match_uuid(repo, ref)


def _branch_leaf(repo: Repository, branch: str, ref: str) -> int:
    try:
        return repo.state.branches[branch_key(branch)]
    except KeyError:
        raise NotFoundError(
            f"no branch {branch!r} (in {ref!r})", hint="branches: " + ", ".join(branch_names(repo))
        ) from None


def _match_uuid(repo: Repository, prefix: str) -> int:
    matches = [u for u in repo.dag.by_uuid if u.startswith(prefix)]
    if len(matches) == 1:
        return repo.dag.by_uuid[matches[0]]
    if not matches:
        raise NotFoundError(
            f"could not find UUID with partial match to {prefix}",
            hint="branches: "
            + ", ".join(branch_names(repo))
            + ("; tags: " + ", ".join(sorted(repo.state.tags)) if repo.state.tags else ""),
        )
    shown = ", ".join(sorted(m[:12] for m in matches)[:10])
    raise AmbiguousRefError(
        f"more than one UUID matches {prefix}: {shown}", hint="give more hex digits"
    )


def branch_names(repo: Repository) -> list[str]:
    """User-facing branch names, master first."""
    names = sorted(branch_label(b) for b in repo.state.branches)
    return sorted(names, key=lambda n: n != "master")


def branch_versions(repo: Repository, branch: str) -> list[str]:
    """UUIDs of ``branch`` from its leaf up to the root, as DVID's ``getAncestryByBranch``.

    DVID's walk (datastore/repo_local.go 3207-3268), mirrored step by step:

    1. Take a node whose branch is ``branch`` (``master`` also names DVID's ``""``).
       None: ``[]``. DVID takes whichever its node map yields; this takes the oldest,
       which reaches the same leaf when the branch has no fork and always meets a fork.
    2. Walk down to the leaf through the children on the same branch; a node with two
       such children is an error (BadRequestError, DVID's message).
    3. Walk up from the leaf to the root: each node, then, for a merge node, every parent
       but the last as a single entry, going on through the **last** parent. Nodes of
       other branches are listed too, and a node reached twice is listed twice.

    The branch pointers of dvidctl are not consulted: a DVID merge child (``POST
    /repo/{uuid}/merge``, branch master, no pointer moved) is the master leaf here.
    """
    dag = repo.dag
    stored = branch_key(branch)
    on_branch = [vid for vid in sorted(dag.nodes) if dag.node(vid).branch == stored]
    if not on_branch:
        return []
    node = dag.node(on_branch[0])
    while True:
        below = [dag.node(c) for c in node.children if dag.node(c).branch == stored]
        if not below:
            break
        if len(below) > 1:
            raise BadRequestError(
                f"branch {branch_label(stored)!r} has more than 1 child: "
                f"{below[1].uuid} and {below[0].uuid}"
            )
        node = below[0]
    out: list[str] = []
    cur = node
    while True:
        out.append(cur.uuid)
        if not cur.parents:
            return out
        out.extend(dag.node(p).uuid for p in cur.parents[:-1])
        cur = dag.node(cur.parents[-1])
