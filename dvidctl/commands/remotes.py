"""Sync commands: ``remote add|list|remove``, ``clone``, ``fetch``, ``pull``, ``push``.

Thin: each parses its arguments, calls one function of :mod:`dvidctl.sync`, and
prints a one-line summary (or ``--json``); transfers draw a progress bar on a
terminal. The environment is read here only: ``DVIDCTL_REMOTE_TOKEN`` (a token
for remotes that have none configured), and for tests and slow links
``DVIDCTL_SYNC_ATTEMPTS``, ``DVIDCTL_SYNC_BACKOFF``, ``DVIDCTL_SYNC_STALL``
(seconds without a byte before a request is retried), ``DVIDCTL_SYNC_BATCH``
(values per batch) and ``DVIDCTL_SYNC_STREAMS`` (concurrent streams).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, RepoOpt, open_repo
from dvidctl.errors import BadRequestError, ConflictError

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.sync.http import Policy
    from dvidctl.sync.remotes import Remote
    from dvidctl.sync.results import Stats
    from dvidctl.sync.transfer import Options

TOKEN_ENV = "DVIDCTL_REMOTE_TOKEN"
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help=f"The server's token for writes (env {TOKEN_ENV}).", show_default=False
    ),
]
RemoteArg = Annotated[str, typer.Argument(help="Remote name (default origin).")]


def _env_number(name: str, kind: type, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise BadRequestError(f"{name}={raw!r} is not a number") from None


def _policy() -> Policy:
    from dvidctl.sync.http import Policy

    d = Policy()
    stall = _env_number("DVIDCTL_SYNC_STALL", float, d.stall)
    if not stall > 0:  # 0 would be no watchdog at all (or a socket that never waits)
        raise BadRequestError(f"DVIDCTL_SYNC_STALL={stall!r} is not a positive number of seconds")
    return Policy(
        stall=stall,
        attempts=max(1, _env_number("DVIDCTL_SYNC_ATTEMPTS", int, d.attempts)),
        backoff=_env_number("DVIDCTL_SYNC_BACKOFF", float, d.backoff),
    )


def _options() -> Options:
    from dvidctl.sync.transfer import Options

    d = Options()
    labels = os.environ.get("DVIDCTL_SYNC_LABELS") or d.wire
    if labels not in ("stored", "labelblock", "auto"):
        raise BadRequestError(
            f"DVIDCTL_SYNC_LABELS={labels!r} is not a label wire encoding",
            hint="one of stored, labelblock, auto",
        )
    return Options(
        batch_values=max(1, _env_number("DVIDCTL_SYNC_BATCH", int, d.batch_values)),
        wire=labels,
        streams=max(1, _env_number("DVIDCTL_SYNC_STREAMS", int, d.streams)),
    )


def _dvid_dir(r: Repository) -> Path:
    if r.dvid_dir is None:  # pragma: no cover - commands open repositories on disk
        raise BadRequestError("this repository has no directory for its remotes")
    return r.dvid_dir


def _remote(r: Repository, name: str) -> Remote:
    from dataclasses import replace

    from dvidctl.sync import remotes

    found = remotes.get(_dvid_dir(r), name)
    env = os.environ.get(TOKEN_ENV)
    return replace(found, token=env) if found.token is None and env else found


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def _moved(s: Stats) -> str:
    text = f"{s.nodes} node(s), {s.keys} key(s), {_size(s.bytes)}"
    if s.deleted:
        text += f", {s.deleted} removed"
    if s.nodes_same:
        text += f" ({s.nodes_same} node(s) already there)"
    return text + f" in {s.seconds:.1f} s"


def _notes(s: Stats, leased: list[dict[str, Any]] | None = None) -> None:
    """What a DVID server without an endpoint made the fallback do instead; label leases."""
    from dvidctl.sync.leases import describe

    for n in s.notes:
        _output.note(f"note: {n}")
    for line in describe(leased or []):
        _output.note(line)


# -------------------------------------------------------------------- remote
def remote_add(
    name: Annotated[str, typer.Argument(help="Name of the remote, e.g. origin.")],
    url: Annotated[str, typer.Argument(help="http://HOST:PORT/UUID of the repository there.")],
    token: TokenOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Remember a server holding a copy of this repository."""
    from dvidctl.sync import remotes

    with open_repo(repo, read_only=True) as r:
        added = remotes.add(_dvid_dir(r), name, url, token)
    if json_:
        _output.emit_json(added.to_dict())
    else:
        _output.info(f"remote {added.name}: {added.url}")


def remote_list(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """List the remotes."""
    from dvidctl.sync import remotes

    with open_repo(repo, read_only=True) as r:
        found = remotes.remotes(_dvid_dir(r))
    if json_:
        _output.emit_json([x.to_dict() for x in found])
        return
    for x in found:
        _output.info(f"{x.name}\t{x.url}" + ("\t(token)" if x.token else ""))


def remote_remove(
    name: Annotated[str, typer.Argument(help="The remote to forget.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Forget a remote (its remote-tracking refs go too)."""
    from dvidctl.api import receive
    from dvidctl.sync import remotes

    with open_repo(repo) as r:
        gone = remotes.remove(_dvid_dir(r), name)
        receive.set_remote_refs(r, name, {})
    if json_:
        _output.emit_json({"removed": gone.name, "url": gone.url})
    else:
        _output.info(f"removed remote {gone.name}")


# ---------------------------------------------------------------- transfers
def clone(
    url: Annotated[str, typer.Argument(help="http://HOST:PORT/UUID: a server and a repository.")],
    directory: Annotated[
        Path | None, typer.Argument(help="Where to put it (default: the alias, or the UUID).")
    ] = None,
    instance: Annotated[
        list[str] | None,
        typer.Option(
            "--instance", "-i", help="Only this data instance (repeatable): a partial clone."
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="Only this node (UUID prefix or branch there) and its ancestors."
        ),
    ] = None,
    bbox: Annotated[
        str | None,
        typer.Option(
            "--bbox",
            help="Only the voxel blocks meeting this box X0,Y0,Z0:X1,Y1,Z1 (scale 0, end "
            "exclusive): a partial clone.",
        ),
    ] = None,
    roi: Annotated[
        str | None,
        typer.Option("--roi", help="Only the voxel blocks meeting this roi instance's spans."),
    ] = None,
    scales: Annotated[
        str | None,
        typer.Option("--scales", help="Only these pyramid levels of the voxels, e.g. 0,1."),
    ] = None,
    label_lease: Annotated[
        int,
        typer.Option(
            "--label-lease",
            help="Labels of each labelmap reserved on the server for this clone to hand out "
            "(0: none; fetch renews the lease when a quarter is left).",
        ),
    ] = 1 << 20,
    token: TokenOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Copy a repository from a server: every node, same UUIDs; remote 'origin'."""
    from dvidctl.sync.clone import clone as do_clone

    tok = token or os.environ.get(TOKEN_ENV)
    with _output.transfer_progress("clone", enabled=not json_) as progress:
        res = do_clone(
            url,
            directory,
            token=tok,
            progress=progress,
            policy=_policy(),
            options=_options(),
            instances=instance or (),
            node=node,
            bbox=bbox,
            roi=roi,
            scales=scales,
            label_lease=label_lease,
        )
    if json_:
        _output.emit_json(res.to_dict())
        return
    verb = "finished cloning" if res.resumed else "cloned"
    _output.info(f"{verb} into {res.path}: {_moved(res.fetch.stats)}")
    _notes(res.fetch.stats, res.fetch.leases)
    _output.note("branches: " + (", ".join(res.branches) or "none committed yet"))


def fetch(
    remote: RemoteArg = "origin",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Bring a remote's new nodes and data; set REMOTE/BRANCH refs (local branches stay)."""
    from dvidctl.sync.fetch import fetch as do_fetch

    with open_repo(repo) as r:
        rem = _remote(r, remote)
        with _output.transfer_progress(f"fetch {remote}", enabled=not json_) as progress:
            res = do_fetch(r, rem, progress=progress, policy=_policy(), options=_options())
    if json_:
        _output.emit_json(res.to_dict())
        return
    _output.info(f"fetched from {remote}: {_moved(res.stats)}")
    _notes(res.stats, res.leases)
    for ref, uuid in sorted(res.refs.items()):
        _output.note(
            f"  {ref} -> {uuid[:10]}" + ("  (open there)" if uuid in res.snapshots else "")
        )


def pull(
    remote: RemoteArg = "origin",
    branch: Annotated[
        str | None, typer.Argument(help="Remote branch (default: the current branch's name).")
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="On conflicts: fail, ours or theirs.")
    ] = "fail",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Fetch, then merge REMOTE/BRANCH into the current branch (fast-forward where possible)."""
    from dvidctl.sync.pull import pull as do_pull

    with open_repo(repo) as r:
        rem = _remote(r, remote)
        try:
            with _output.transfer_progress(f"pull {remote}", enabled=not json_) as progress:
                res = do_pull(
                    r,
                    rem,
                    branch,
                    strategy=strategy,
                    progress=progress,
                    policy=_policy(),
                    options=_options(),
                )
        except ConflictError as exc:
            if json_:  # as ``merge --json``: the conflicts on stdout, the error on stderr
                _output.emit_json({"merged": False, **exc.to_dict()})
            raise
    if json_:
        _output.emit_json(res.to_dict())
        return
    _output.info(f"fetched from {remote}: {_moved(res.fetch.stats)}")
    _notes(res.fetch.stats, res.fetch.leases)
    if res.action == "up-to-date":
        _output.info("Already up to date.")
    elif res.action == "fast-forward":
        _output.info(
            f"fast-forward {res.branch} to {res.merged_from}; open head {str(res.head)[:10]}"
        )
    else:
        _output.info(
            f"merged {res.merged_from} into {res.branch}: {str(res.head)[:10]} "
            f"({res.resolved} key(s) resolved in the merge node)"
        )


def push(
    remote: RemoteArg = "origin",
    branch: Annotated[
        str | None, typer.Argument(help="Branch to push (default: the current one).")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Send a branch's committed nodes the remote lacks, then move its head there."""
    from dvidctl.sync.push import push as do_push

    with open_repo(repo) as r:
        rem = _remote(r, remote)
        with _output.transfer_progress(f"push {remote}", enabled=not json_) as progress:
            res = do_push(r, rem, branch, progress=progress, policy=_policy(), options=_options())
    if json_:
        _output.emit_json(res.to_dict())
        return
    if res.up_to_date:
        _output.info("Everything up to date.")
        return
    via = " (through DVID's endpoints)" if res.via == "dvid" else ""
    _output.info(f"pushed to {remote}{via}: {_moved(res.stats)}")
    where = f"{str(res.old)[:10]}..{str(res.new)[:10]}"
    if res.created_repo or not res.old:
        where = f"new {'repository' if res.created_repo else 'branch'} at {str(res.new)[:10]}"
    _output.note(f"  {res.branch} -> {remote}/{res.branch} ({where})")


def register(app: typer.Typer) -> None:
    """Add the sync commands to ``app``."""
    remote_app = typer.Typer(
        help="Manage remotes: servers holding a copy of this repository.", no_args_is_help=True
    )
    remote_app.command("add")(remote_add)
    remote_app.command("list")(remote_list)
    remote_app.command("remove")(remote_remove)
    app.add_typer(remote_app, name="remote")
    app.command("clone")(clone)
    app.command("fetch")(fetch)
    app.command("pull")(pull)
    app.command("push")(push)
