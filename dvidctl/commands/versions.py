"""Version commands: commit, branch (-d -D -m), checkout, tag (-d), merge, diff."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dvidctl.api.repository import Repository
from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, RepoOpt, open_repo
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.store.dag import branch_label


def commit(
    message: Annotated[str, typer.Option("--message", "-m", help="The commit note.")],
    log_lines: Annotated[
        list[str] | None, typer.Option("--log", help="A log line (repeatable).")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Commit (lock) HEAD and open a child on the same branch; HEAD moves to it."""
    with open_repo(repo) as r:
        locked, child = r.commit(message, log=list(log_lines or []))
        if json_:
            _output.emit_json({"committed": locked.to_dict(), "head": child.to_dict()})
        else:
            _output.info(f"[{locked.branch} {locked.uuid[:10]}] {message}")
            _output.note(f"opened {child.uuid[:10]} on {child.branch}")


def branch(
    name: Annotated[
        str | None,
        typer.Argument(
            help="New branch name (omit to list branches); with -d/-D the branch to delete; "
            "with -m the new name, or OLD when NEW follows.",
            show_default=False,
        ),
    ] = None,
    new_name: Annotated[
        str | None, typer.Argument(help="With -m OLD: the new name.", show_default=False)
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Parent ref (default: last commit of this branch).")
    ] = None,
    checkout: Annotated[
        bool, typer.Option("--checkout", "-c", help="Also move HEAD to it.")
    ] = False,
    note: Annotated[str, typer.Option("--note", help="Note of the new node.")] = "",
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            "-d",
            help="Delete branch NAME: not the current one, nor one whose nodes no other "
            "branch or tag reaches.",
        ),
    ] = False,
    force_delete: Annotated[
        bool,
        typer.Option("--force-delete", "-D", help="Delete branch NAME even if nothing reaches it."),
    ] = False,
    move: Annotated[
        bool,
        typer.Option(
            "--move", "-m", help="Rename branch OLD (default: current) to NEW; HEAD follows."
        ),
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List branches, open a node on a new branch, or delete (-d, -D) or rename (-m) one.

    Deleting removes only the name. DVID never deletes nodes: the branch's nodes
    stay in the DAG, readable by UUID, and keep the branch name on them, so a
    new branch cannot take that name.
    """
    if delete or force_delete or move:
        if from_ or checkout or note:
            raise BadRequestError("--from, --checkout and --note go with a new branch only")
        if move:
            _rename_branch(name, new_name, delete or force_delete, repo, json_)
        else:
            _delete_branch(name, new_name, force_delete, repo, json_)
        return
    if new_name is not None:
        raise BadRequestError(
            f"unexpected argument {new_name!r}", hint="rename with 'dvidctl branch -m OLD NEW'"
        )
    with open_repo(repo) as r:
        if name is None:
            _list_branches(r, json_)
            return
        node = r.branch(name, from_, note=note)
        if checkout:
            r.checkout(name)
        if json_:
            _output.emit_json(node.to_dict())
        else:
            parent = node.parents[0].uuid[:10]
            _output.info(f"branch {name}: opened {node.uuid[:10]} from {parent}")
            if not checkout:
                _output.note(f"switch to it with 'dvidctl checkout {name}'")


def _list_branches(r: Repository, json_: bool) -> None:
    current = r.head_branch
    rows: list[dict[str, Any]] = []
    for b, vid in sorted(r.state.branches.items(), key=lambda kv: (kv[0] != "", kv[0])):
        n = r.node_by_vid(vid)
        rows.append(
            {
                "name": branch_label(b),
                "head": n.uuid,
                "locked": n.locked,
                "current": branch_label(b) == current,
            }
        )
    if json_:
        _output.emit_json(rows)
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        state = "locked" if row["locked"] else "open"
        _output.info(f"{mark} {row['name']:<20} {row['head'][:10]} {state}")


def _delete_branch(
    name: str | None, extra: str | None, force: bool, repo: Path | None, json_: bool
) -> None:
    if name is None or extra is not None:
        raise BadRequestError("branch -d/-D takes one branch name")
    with open_repo(repo) as r:
        leaf = r.delete_branch(name, force=force)
    if json_:
        _output.emit_json({"deleted": name, "node": leaf.to_dict()})
    else:
        _output.info(f"Deleted branch {name} (was {leaf.uuid[:10]})")
        _output.note("its nodes stay in the DAG, readable by UUID")


def _rename_branch(
    name: str | None, new_name: str | None, also_delete: bool, repo: Path | None, json_: bool
) -> None:
    if also_delete or name is None:
        raise BadRequestError("branch -m takes NEW (renames the current branch) or OLD NEW")
    with open_repo(repo) as r:
        old = name if new_name is not None else r.head_branch
        if old is None:
            raise BadRequestError("HEAD is detached", hint="name the branch: 'branch -m OLD NEW'")
        new = new_name if new_name is not None else name
        leaf = r.rename_branch(old, new)
    if json_:
        _output.emit_json({"renamed": old, "to": new, "node": leaf.to_dict()})
    else:
        _output.info(f"Renamed branch {old} to {new}")


def checkout(
    ref: Annotated[str, typer.Argument(help="Branch, tag, UUID prefix or HEAD~N.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Move HEAD to a branch or (detached) to a node; every version stays readable in place."""
    with open_repo(repo) as r:
        node = r.checkout(ref)
        if json_:
            _output.emit_json(
                {"head": r.head_ref, "detached": r.head_branch is None, "node": node.to_dict()}
            )
        elif r.head_branch:
            _output.info(
                f"Switched to branch {r.head_branch} "
                f"({node.uuid[:10]}, {'locked' if node.locked else 'open'})"
            )
        else:
            _output.info(
                f"HEAD is now at {node.uuid[:10]} (detached, {'locked' if node.locked else 'open'})"
            )


def tag(
    name: Annotated[str, typer.Argument(help="Tag name.")],
    ref: Annotated[str | None, typer.Argument(help="Committed node to tag (default HEAD).")] = None,
    delete: Annotated[
        bool, typer.Option("--delete", "-d", help="Delete tag NAME (the node stays).")
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Name a committed node, or delete a tag (-d); tags share one namespace with branches."""
    if delete and ref is not None:
        raise BadRequestError("tag -d takes only the tag name")
    with open_repo(repo) as r:
        node = r.delete_tag(name) if delete else r.tag(name, ref)
        if json_:
            _output.emit_json({("deleted" if delete else "tag"): name, "node": node.to_dict()})
        elif delete:
            _output.info(f"Deleted tag {name} (was {node.uuid[:10]})")
        else:
            _output.info(f"tag {name} -> {node.uuid[:10]}")


def merge(
    refs: Annotated[
        list[str], typer.Argument(help="Branches or nodes to merge into the current branch.")
    ],
    message: Annotated[str, typer.Option("--message", "-m", help="Note of the merge node.")] = "",
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="On conflicts: fail, ours or theirs.")
    ] = "fail",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Merge other branches into the current one, detecting conflicts now, not on later reads.

    Voxel blocks both sides changed are merged voxel by voxel: only voxels changed to
    different values conflict (listed with their x,y,z); --strategy resolves only those.
    """
    with open_repo(repo) as r:
        note = message or "merge " + ", ".join(refs)
        try:
            with _output.working("merging", enabled=not json_):
                res = r.merge(refs, note, strategy=strategy)
        except ConflictError as exc:
            if json_:
                _output.emit_json({"merged": False, **exc.to_dict()})
            raise
        if json_:
            _output.emit_json(
                {
                    "merged": not res.up_to_date,
                    "up_to_date": res.up_to_date,
                    "node": res.node.to_dict() if res.node else None,
                    "parents": res.parents,
                    "resolved_keys": res.resolved,
                    "merged_blocks": res.merged_parts,
                    "resolved_voxels": res.resolved_parts,
                }
            )
        elif res.up_to_date:
            _output.info("Already up to date.")
        else:
            assert res.node is not None
            _output.info(
                f"merged {', '.join(p[:10] for p in res.parents)} into {res.node.uuid[:10]} "
                f"on {res.node.branch} ({res.resolved} key(s) resolved in the merge node)"
            )
            if res.merged_parts:
                _output.info(
                    f"{res.merged_parts} block(s) changed on several sides merged voxel by voxel"
                    + (
                        f"; {res.resolved_parts} conflicting voxel(s) resolved ({strategy})"
                        if res.resolved_parts
                        else ""
                    )
                )


def diff(
    ref_a: Annotated[str, typer.Argument(help="From this version.")],
    ref_b: Annotated[str, typer.Argument(help="To this version.")],
    instance: Annotated[
        str | None, typer.Option("--instance", "-i", help="Only this data instance.")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Label-aware diff of this labelmap: bodies merged, split, created, deleted.",
        ),
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Per instance, the keys added, changed and deleted between two versions.

    With --labels NAME: which bodies of labelmap NAME were merged, split, created or
    deleted, and how many voxels changed label (only the changed blocks are read).
    """
    if labels is not None:
        if instance is not None:
            raise BadRequestError("--labels and --instance cannot be combined")
        _label_diff(ref_a, ref_b, labels, repo, json_)
        return
    with open_repo(repo, read_only=True) as r:
        with _output.working("comparing versions", enabled=not json_):
            out = r.diff(ref_a, ref_b, instance=instance)
        if json_:
            _output.emit_json(out)
            return
        if not out:
            _output.info("no differences")
        for name, d in sorted(out.items()):
            _output.info(f"{name}: +{len(d['added'])} ~{len(d['changed'])} -{len(d['deleted'])}")
            for sign, key, style in (
                ("+", "added", "green"),
                ("~", "changed", "yellow"),
                ("-", "deleted", "red"),
            ):
                for k in d[key][:200]:
                    _output.stdout.print(f"  [{style}]{sign} {k}[/]", markup=True)
                if len(d[key]) > 200:
                    _output.info(f"  ... {len(d[key]) - 200} more {key}")


def _label_diff(ref_a: str, ref_b: str, name: str, repo: Path | None, json_: bool) -> None:
    from dvidctl.api.labeldiff import label_diff

    with open_repo(repo, read_only=True) as r:
        with _output.working("comparing labels", enabled=not json_):
            res = label_diff(r, ref_a, ref_b, name)
    if json_:
        _output.emit_json(res.to_dict())
        return
    _output.info(
        f"{name}: {res.blocks} changed block(s), {res.voxels_changed} voxel(s) changed label"
    )
    for d in res.merged[:200]:
        _output.info(f"  merged   {d['body']} <- {', '.join(map(str, d['from']))}")
    for d in res.split[:200]:
        _output.info(f"  split    {d['body']} -> {', '.join(map(str, d['into']))}")
    for d in res.created[:200]:
        _output.info(f"  created  {d['body']} ({d['voxels']} voxels)")
    for d in res.deleted[:200]:
        _output.info(f"  deleted  {d['body']} ({d['voxels']} voxels)")
    if not res.exact and res.voxels_changed:
        _output.note(
            f"{name} keeps no label index: bodies are judged by the changed blocks only "
            "(a body that grew into new blocks shows as created)"
        )


def register(app: typer.Typer) -> None:
    """Add the version commands to ``app``."""
    for fn in (commit, branch, checkout, tag, merge, diff):
        app.command(fn.__name__)(fn)
