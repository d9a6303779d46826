"""Repository commands: ``init``, ``status``, ``log``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dvidctl.api.repository import Repository
from dvidctl.commands import _output
from dvidctl.commands._graph import graph_rows
from dvidctl.commands._options import JsonOpt, RepoOpt, open_repo, repo_path


def init(
    path: Annotated[
        Path | None, typer.Argument(help="Directory to create the repository in (default: .).")
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="Short name of the repository.")] = "",
    description: Annotated[str, typer.Option("--description", "-d", help="Free text.")] = "",
    json_: JsonOpt = False,
) -> None:
    """Create a repository (.dvid/) with one open root node on branch master."""
    target = path or Path(".")
    with Repository.init(target, alias=alias, description=description) as repo:
        head = repo.head
        if json_:
            _output.emit_json(
                {"path": str(repo.dvid_dir), "root": repo.root_uuid, "head": head.to_dict()}
            )
        else:
            _output.info(f"Initialized dvidctl repository in {repo.dvid_dir}")
            _output.info(f"root {repo.root_uuid}  (branch master, open)")


def status(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Show HEAD, its branch, whether it is open, and what it changed so far."""
    with open_repo(repo, read_only=True) as r:
        node = r.head
        changes = node.changes_by_instance()
        from dvidctl.sync.partial import load as load_partial

        part = load_partial(r.dvid_dir)
        held = r.state.held
        limited = sorted(
            rec.name
            for rec in r.instances()
            if held is not None and rec.data_uuid in held.instances
        )
        leases = _label_leases(r)
        partial_doc = None if part.whole else part.to_dict()
        if held is not None:
            partial_doc = {**(partial_doc or {}), "held": {**held.to_dict(), "instances": limited}}
        if json_:
            _output.emit_json(
                {
                    "repo": str(r.dvid_dir.parent) if r.dvid_dir else None,
                    "root": r.root_uuid,
                    "alias": r.alias,
                    "head": r.head_ref,
                    "detached": r.head_branch is None,
                    "node": node.to_dict(),
                    "changes": changes,
                    "partial": partial_doc,
                    "label_leases": leases,
                }
            )
            return
        where = (
            f"On branch {node.branch}" if r.head_branch else f"HEAD detached at {node.uuid[:10]}"
        )
        _output.info(where)
        if not part.whole:
            _output.info(part.describe())
        if held is not None and limited:
            _output.info(
                f"holds only {held.describe()} of {', '.join(limited)} "
                "(reads outside it are refused)"
            )
        state = (
            "committed (locked): read-only; to write, check out a branch or "
            "'dvidctl branch NAME --from HEAD'"
            if node.locked
            else "open"
        )
        if node.record.incoming:
            state = "being received by sync: read-only until 'dvidctl fetch' completes it"
        _output.info(f"node {node.uuid}  {state}")
        for name, lease in sorted(leases.items()):
            _output.info(
                f"label lease of {name} from {lease['remote']}: {lease['free']} free, "
                f"next {lease['next'] or 'none (used up: fetch renews it)'}"
            )
        if not changes:
            _output.info("no changes in this node")
        else:
            _output.info("changes in this node:")
            for name, n in sorted(changes.items()):
                _output.info(f"  {name}: {n} key(s) written")


def _label_leases(r: Any) -> dict[str, dict[str, Any]]:
    """Each labelmap's label lease (labels reserved on a remote for this clone to hand out)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in r.instances():
        if rec.typename != "labelmap":
            continue
        # Imported only here: a repository without labels keeps `status` free of numpy.
        from dvidctl.datatypes.labelmap.leases import free, lease_of, next_of

        lease = lease_of(rec.config)
        if lease is not None:
            out[rec.name] = {**lease, "free": free(lease), "next": next_of(lease)}
    return out


def log(
    repo: RepoOpt = None,
    graph: Annotated[
        bool, typer.Option("--graph", help="Draw the DAG as 'git log --graph --date-order' does.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Every node, not only HEAD's ancestry.")
    ] = False,
    ref: Annotated[
        str | None, typer.Argument(help="Show the ancestry of this ref (default HEAD).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Show the version history (newest first)."""
    with open_repo(repo, read_only=True) as r:
        nodes = r.log(all_branches=all_, ref=None if all_ else ("HEAD" if ref is None else ref))
        if json_:
            _output.emit_json([n.to_dict() for n in nodes])
            return
        head_vid = r.head_vid
        labels: dict[int, list[str]] = {}
        for b, v in r.state.branches.items():
            labels.setdefault(v, []).append(b or "master")
        for t, v in r.state.tags.items():
            labels.setdefault(v, []).append(f"tag: {t}")
        by_vid = {n.vid: n for n in nodes}
        rows = (
            graph_rows([(n.vid, [p for p in n.record.parents if p in by_vid]) for n in nodes])
            if graph
            else [("* ", n.vid) for n in nodes]
        )
        from rich.markup import escape  # log prints through rich (colours on a terminal)

        for prefix, vid in rows:
            prefix = escape(prefix)
            if vid is None:
                _output.stdout.print(f"[magenta]{prefix}[/]")
                continue
            n = by_vid[vid]
            names = labels.get(vid, [])
            if vid == head_vid:
                names = ["HEAD"] + names
            deco = f" [cyan]({', '.join(names)})[/]" if names else ""
            state = "[dim]locked[/]" if n.locked else "[green]open[/]"
            if n.record.incoming:  # being received by sync (an open remote node: a snapshot)
                state = "[yellow]receiving[/]" if n.locked else "[yellow]snapshot[/]"
            note_text = escape(n.note)
            _output.stdout.print(
                f"[magenta]{prefix}[/][yellow]{n.uuid[:10]}[/]{deco} {state} {note_text}"
                f" [dim]{n.record.created[:19]}[/]"
            )


def register(app: typer.Typer) -> None:
    """Add the repository commands to ``app``."""
    app.command("init")(init)
    app.command("status")(status)
    app.command("log")(log)


__all__ = ["register", "repo_path"]
