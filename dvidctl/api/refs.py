"""Version references: what every command and URL accepts where a node is named.

Forms: ``HEAD``; ``REMOTE/BRANCH`` (a remote-tracking ref, set by sync);
``PREFIX:BRANCH`` / ``:BRANCH`` (DVID: the leaf of BRANCH in
the repo that PREFIX selects); a branch name (its leaf; ``master`` is DVID's
empty branch); a tag; a unique UUID prefix. Any of them may end with ``~N``
(N steps back along the branch: the parent on the same branch, else the last
parent, as DVID walks ancestry).

A bare name is looked up as a branch, a tag and (when it is lowercase hex) a
UUID prefix at once: if these name different nodes the ref is ambiguous and
the error lists every candidate; no kind silently wins. New names follow one
rule (:func:`check_new_name`) so that this stays rare: branches and tags share
one namespace, and a name of hex digits only is refused because it reads as a
UUID prefix.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dvidctl.errors import AmbiguousRefError, BadRequestError, ConflictError, NotFoundError
from dvidctl.ids import check_name
from dvidctl.store.dag import branch_key, branch_label

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository

_TILDE = re.compile(r"^(?P<base>.*?)(?P<steps>(~\d*|\^)+)$")
#: What can be read as a UUID prefix: UUIDs are lowercase hex.
_HEX = re.compile(r"^[0-9a-f]+$")


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
    if "/" in ref:
        return remote_ref(repo, ref)
    if ":" in ref:
        if ref.count(":") > 1:
            raise BadRequestError(f"bad UUID specification {ref!r}")
        prefix, branch = ref.split(":")
        if prefix:
            _match_uuid(repo, prefix)  # selects the repo; must exist
        return _branch_leaf(repo, branch or "master", ref)
    return _resolve_name(repo, ref)


def _resolve_name(repo: Repository, ref: str) -> int:
    """A bare name: branch, tag or UUID prefix; an error lists the candidates if they differ."""
    if len(ref) == 32 and ref in repo.dag.by_uuid:
        return repo.dag.by_uuid[ref]  # a full UUID (names are never 32 hex digits)
    names = [
        (kind, vid)
        for kind, vid in (
            ("branch", repo.state.branches.get(branch_key(ref))),
            ("tag", repo.state.tags.get(ref)),
        )
        if vid is not None
    ]
    if not names:
        return _match_uuid(repo, ref)
    nodes = [v for u, v in repo.dag.by_uuid.items() if u.startswith(ref)] if _HEX.match(ref) else []
    if len({vid for _, vid in names} | set(nodes)) == 1:
        return names[0][1]
    shown = [f"{kind} {ref} -> {repo.dag.node(vid).uuid[:10]}" for kind, vid in names]
    shown += sorted(f"node {repo.dag.node(vid).uuid[:12]}" for vid in nodes)[:10]
    hints = []
    if any(kind == "branch" for kind, _ in names):
        hints.append(f"':{ref}' names the branch")
    if nodes:
        hints.append("more hex digits name a node")
    if len(names) > 1:
        hints.append(f"rename the branch ('dvidctl branch -m {ref} NEW') or delete the tag")
    raise AmbiguousRefError(f"{ref!r} is ambiguous: {'; '.join(shown)}", hint="; ".join(hints))


def remote_ref(repo: Repository, ref: str) -> int:
    """The node remote-tracking ref ``REMOTE/BRANCH`` names (set by fetch, clone, push).

    Branch and tag names never hold ``/``, so the form cannot be read another way.
    """
    uuid = repo.state.remote_refs.get(ref)
    if uuid is None:
        known = ", ".join(sorted(repo.state.remote_refs)) or "none yet ('dvidctl fetch' sets them)"
        raise NotFoundError(f"no remote-tracking ref {ref!r}", hint=f"remote refs: {known}")
    vid = repo.dag.by_uuid.get(uuid)
    if vid is None:
        raise NotFoundError(
            f"remote-tracking ref {ref!r} names node {uuid[:10]}, which is not here",
            hint="run 'dvidctl fetch' again",
        )
    return vid


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


def branch_named(repo: Repository, ref: str) -> str | None:
    """The user-facing branch name if ``ref`` names a branch itself (``NAME``, ``:NAME``).

    None for every other form (a tag, a UUID prefix, ``HEAD``, ``NAME~N``).
    Call it after :func:`resolve` succeeded, so a bare name is not ambiguous.
    """
    ref = ref.strip()
    name = ref.split(":", 1)[1] or "master" if ":" in ref else ref
    return branch_label(branch_key(name)) if branch_key(name) in repo.state.branches else None


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

    def on(vid: int) -> bool:  # a snapshot sync took of another server's open node: not here
        n = dag.node(vid)
        return n.branch == stored and not (n.incoming and not n.locked)

    on_branch = [vid for vid in sorted(dag.nodes) if on(vid)]
    if not on_branch:
        return []
    node = dag.node(on_branch[0])
    while True:
        below = [dag.node(c) for c in node.children if on(c)]
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


def check_new_name(repo: Repository, name: str, kind: str, *, hex_ok: bool = False) -> str:
    """The one naming rule for a new branch or tag (CLI, Python API and HTTP call it).

    ``kind`` is ``"branch"`` or ``"tag"``. A name must be letters, digits, ``.``,
    ``_`` and ``-`` (not ``HEAD``); branches and tags share one namespace, so a
    name in use by either kind is taken (409); a branch name still carried by the
    nodes of a deleted branch is taken too (DVID keeps branch names on nodes).
    A name of lowercase hex digits only reads as a UUID prefix and is refused
    unless ``hex_ok`` (DVID clients name branches as ``:NAME``, which never reads
    as a prefix; the HTTP ``branch`` endpoint passes True).
    """
    check_name(name, kind)
    key = branch_key(name)
    if key in repo.state.branches:
        raise ConflictError(
            f"branch {name!r} already exists"
            + (" (branches and tags share one namespace)" if kind == "tag" else "")
        )
    if name in repo.state.tags:
        raise ConflictError(
            f"tag {name!r} already exists"
            + (" (branches and tags share one namespace)" if kind == "branch" else ""),
            hint=f"pick another name, or delete the tag first ('dvidctl tag -d {name}')"
            if kind == "branch"
            else None,
        )
    if kind == "branch" and key in repo.dag.branches():
        raise ConflictError(
            f"branch name {name!r} is still carried by the nodes of a deleted branch",
            hint="DVID keeps a branch's name on its nodes; pick another name",
        )
    if not hex_ok and _HEX.match(name):
        raise BadRequestError(
            f"{kind} name {name!r} reads as a UUID prefix (hex digits only)",
            hint=f"use a character outside 0-9a-f, e.g. '{kind}-{name}'",
        )
    return name
