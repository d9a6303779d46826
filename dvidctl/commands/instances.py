"""Instance commands: ``new``, ``instances``, ``info``, ``types``, ``delete instance``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, NodeOpt, RepoOpt, open_repo
from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError


def parse_config_items(items: list[str] | None) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items (repeatable; ``,`` inside a value is kept)."""
    cfg: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise BadRequestError(
                f"config item {item!r} is not KEY=VALUE", hint="e.g. --config BlockSize=64,64,64"
            )
        k, v = item.split("=", 1)
        cfg[k.strip()] = v.strip()
    return cfg


def new(
    typename: Annotated[
        str, typer.Argument(help="Datatype: keyvalue, uint8blk, labelmap, roi, ...")
    ],
    name: Annotated[str, typer.Argument(help="Instance name.")],
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="KEY=VALUE (DVID config keys; repeatable)."),
    ] = None,
    block_size: Annotated[
        str | None, typer.Option("--block-size", help="BlockSize as X,Y,Z.")
    ] = None,
    voxel_size: Annotated[
        str | None, typer.Option("--voxel-size", help="VoxelSize as X,Y,Z.")
    ] = None,
    max_downres: Annotated[
        int | None, typer.Option("--max-downres", help="MaxDownresLevel.")
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a data instance (at HEAD, which must be open)."""
    cfg = parse_config_items(config)
    for key, value in (
        ("BlockSize", block_size),
        ("VoxelSize", voxel_size),
        ("MaxDownresLevel", max_downres),
    ):
        if value is not None:
            cfg[key] = str(value)
    with open_repo(repo) as r:
        rec = r.new_instance(typename, name, cfg, ref=node)
        if json_:
            _output.emit_json(r.node(node).instance(name).info())
        else:
            _output.info(f"Added {rec.name} [{rec.typename}] to node {r.node(node).uuid[:10]}")


def instances(node: NodeOpt = None, repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """List the data instances."""
    with open_repo(repo, read_only=True) as r:
        recs = r.instances()
        if json_:
            _output.emit_json(
                [
                    {
                        "name": x.name,
                        "type": x.typename,
                        "data_uuid": x.data_uuid,
                        "config": x.config,
                    }
                    for x in recs
                ]
            )
            return
        if not recs:
            _output.info("no data instances (create one with 'dvidctl new TYPE NAME')")
        for x in recs:
            _output.info(f"{x.name:<24} {x.typename}")


def info(
    name: Annotated[str, typer.Argument(help="Instance name.")],
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show an instance's DVID info (Base and Extended) at a version."""
    with open_repo(repo, read_only=True) as r:
        data = r.node(node).instance(name).info()
        if json_:
            _output.emit_json(data)
            return
        base = data["Base"]
        _output.info(f"{base['Name']} [{base['TypeName']}]  data uuid {base['DataUUID']}")
        _output.info(f"  compression: {base['Compression']}  versioned: {base['Versioned']}")
        for k, v in data.get("Extended", {}).items():
            _output.info(f"  {k}: {v}")


def delete_instance(
    name: Annotated[str, typer.Argument(help="Instance name.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm: the instance goes from every version.")
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Delete a data instance from the repository: from every version, at once.

    As DVID's DELETE /api/repo/{uuid}/{name}?imsure=true. The name is free
    again and a new instance of that name starts empty (instance ids are never
    reused). The data stays on disk, noted under deleted-inst/<id>, until gc
    reclaims it.
    """
    if not yes:
        raise BadRequestError(
            f"deleting instance {name!r} removes it from every version",
            hint=f"confirm with 'dvidctl delete instance {name} --yes'",
        )
    with open_repo(repo) as r:
        rec = r.delete_instance(name)
    if json_:
        _output.emit_json(
            {"deleted": rec.name, "type": rec.typename, "iid": rec.iid, "data_uuid": rec.data_uuid}
        )
    else:
        _output.info(f"Deleted {rec.name} [{rec.typename}] (instance id {rec.iid})")
        _output.note("its data stays on disk until gc reclaims it")


def types(json_: JsonOpt = False) -> None:
    """List the datatypes this dvidctl knows."""
    specs = registry.specs()
    if json_:
        _output.emit_json(
            {
                s.name: {"url": s.type_url, "version": s.version, "aliases": list(s.aliases)}
                for s in specs
            }
        )
        return
    for s in specs:
        alias = f" (also: {', '.join(s.aliases)})" if s.aliases else ""
        _output.info(f"{s.name:<12} {s.summary}{alias}")


def register(app: typer.Typer, delete_app: typer.Typer) -> None:
    """Add the instance commands to ``app`` (and ``delete instance`` to ``delete_app``)."""
    app.command("new")(new)
    app.command("instances")(instances)
    app.command("info")(info)
    app.command("types")(types)
    delete_app.command("instance")(delete_instance)
