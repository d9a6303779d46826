"""``dvidctl mesh``: body meshes of a labelmap as DVID's neuroglancer mesh keys."""

from __future__ import annotations

from typing import Annotated

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, NodeOpt, RepoOpt, open_repo


def mesh(
    name: Annotated[str, typer.Argument(help="The labelmap instance.")],
    labels: Annotated[
        list[int] | None,
        typer.Argument(
            help="Bodies to mesh (new or stale ones are built; default: rebuild every stored "
            "mesh whose blocks changed).",
            show_default=False,
        ),
    ] = None,
    all_labels: Annotated[
        bool, typer.Option("--all", help="Mesh every body in the volume (reads every block).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild the named bodies even when up to date.")
    ] = False,
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            min=0,
            help="Mesh at this pyramid level (default: the finest whose box fits --max-voxels).",
            show_default=False,
        ),
    ] = None,
    max_voxels: Annotated[
        int, typer.Option("--max-voxels", min=1, help="Largest box read at once per body.")
    ] = 256**3,
    simplify: Annotated[
        int,
        typer.Option(
            "--simplify",
            min=0,
            help="Aim for N times fewer triangles, moving no vertex more than a voxel (0: off).",
        ),
    ] = 0,
    status: Annotated[
        bool,
        typer.Option("--status", help="List stored meshes and which are stale; write nothing."),
    ] = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Mesh label bodies into NAME_meshes as {label}.ngmesh (neuroglancer's DVID meshes).

    Marching cubes (zmesh) on the body's voxels, vertices in nanometres. The
    instance NAME_meshes (keyvalue) is created at the node when missing. With no
    LABEL, every stored mesh whose blocks changed since it was built is rebuilt
    (found from the delta index), and meshes of bodies that are gone are deleted.
    """
    from dvidctl.api import meshes

    if status:
        with open_repo(repo, read_only=True) as r:
            doc = meshes.mesh_status(r.node(node), name)
        if json_:
            _output.emit_json(doc)
            return
        for lab, e in doc["labels"].items():
            state = "stale" if e["stale"] else "ok"
            _output.info(f"{lab}  {state}  scale {e.get('scale', '?')}  {e.get('faces', 0)} faces")
        if not doc["labels"]:
            _output.note(f"no meshes of {name!r} are recorded in {doc['meshes']}")
        return
    with open_repo(repo) as r:
        with _output.working(f"meshing {name}", enabled=not json_):
            report = meshes.update_meshes(
                r.node(node),
                name,
                labels or None,
                all_labels=all_labels,
                force=force,
                scale=scale,
                max_voxels=max_voxels,
                simplify=simplify,
            )
    if json_:
        _output.emit_json(report.to_dict())
        return
    for lab, st in sorted(report.built.items()):
        _output.info(
            f"built {lab}.ngmesh  scale {st['scale']}  {st['vertices']} vertices  "
            f"{st['faces']} faces  {st['bytes']} bytes"
        )
    for lab in report.removed:
        _output.info(f"removed {lab}.ngmesh (the body is gone)")
    if report.unchanged:
        _output.note("up to date: " + " ".join(str(v) for v in report.unchanged))
    if report.stale:
        _output.note("still stale: " + " ".join(str(v) for v in report.stale))
    if not (report.built or report.removed):
        _output.note("nothing to rebuild")


def register(app: typer.Typer) -> None:
    """Add ``mesh`` to the top-level app."""
    app.command("mesh")(mesh)
