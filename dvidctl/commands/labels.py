"""``dvidctl label ...``: proofreading a labelmap (merge, cleave, split, sizes, sparse volumes).

Each verb calls one method of the local labelmap instance at ``--node`` (HEAD by
default); mutations need an open node. ``--json`` prints stable JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import (
    JsonOpt,
    NodeOpt,
    RepoOpt,
    instance_of,
    open_instance,
    open_repo,
)

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap

label_app = typer.Typer(
    help="Proofread a labelmap: merge, cleave, split, size, sparsevol, supervoxels, mapping, "
    "history.",
    no_args_is_help=True,
)
NameArg = Annotated[str, typer.Argument(help="The labelmap instance.")]
LabelArg = Annotated[int, typer.Argument(help="A body label.", min=0)]
SvOpt = Annotated[bool, typer.Option("--supervoxels", help="LABEL is a supervoxel id, not a body.")]
UserOpt = Annotated[str, typer.Option("--user", help="Recorded as the mutation's user.")]


@contextmanager
def _labelmap(
    repo: Path | None, node: str | None, name: str, *, write: bool = False
) -> Iterator[LabelMap]:
    """The local labelmap ``name`` at ``--node`` (read-only unless ``write``)."""
    from dvidctl.datatypes.labelmap.ops import LabelMap

    with open_instance(repo, node, name, LabelMap, "a labelmap", write=write) as lm:
        yield lm


def _info(user: str) -> Any:
    from dvidctl.datatypes.labelmap.mutlog import ModInfo

    return ModInfo(user, "dvidctl")


def merge(
    name: NameArg,
    target: Annotated[int, typer.Argument(help="The body that stays.", min=0)],
    labels: Annotated[list[int], typer.Argument(help="Bodies merged into TARGET.", min=0)],
    user: UserOpt = "",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Merge bodies LABELS into TARGET (only the mapping and label indexes change)."""
    with _labelmap(repo, node, name, write=True) as lm:
        mutid = lm.merge(target, labels, _info(user))
    text = f"merged {' '.join(map(str, labels))} into {target} (mutation {mutid})"
    _output.result({"MutationID": mutid}, text, json_=json_)


def cleave(
    name: NameArg,
    label: LabelArg,
    supervoxels: Annotated[list[int], typer.Argument(help="Supervoxels of LABEL to move.")],
    user: UserOpt = "",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Move SUPERVOXELS of body LABEL to a new body."""
    with _labelmap(repo, node, name, write=True) as lm:
        new, mutid = lm.cleave(label, supervoxels, _info(user))
    doc = {"CleavedLabel": new, "MutationID": mutid}
    _output.result(doc, f"cleaved into new body {new} (mutation {mutid})", json_=json_)


def split(
    name: NameArg,
    label: LabelArg,
    rle: Annotated[
        Path | None,
        typer.Option("--rle", help="DVID legacy RLE file of the voxels to split off."),
    ] = None,
    mask: Annotated[
        Path | None,
        typer.Option("--mask", help="A .npy boolean (or 0/1) ZYX mask of the voxels to split."),
    ] = None,
    offset: Annotated[
        str, typer.Option("--offset", help="Voxel x,y,z of the mask's first element.")
    ] = "0,0,0",
    user: UserOpt = "",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Split voxels off body LABEL into a new body (an RLE file or a mask with its offset).

    As DVID: every supervoxel the split touches gets new ids for both of its parts.
    """
    from dvidctl.datatypes.labelmap.sparsevol import decode_rles, mask_runs
    from dvidctl.errors import BadRequestError
    from dvidctl.geometry import parse_xyz
    from dvidctl.imageio import read_array

    if (rle is None) == (mask is None):
        raise BadRequestError("give the split voxels as --rle FILE or --mask FILE.npy")
    if rle is not None:
        runs = decode_rles(rle.read_bytes())
    else:
        assert mask is not None
        x, y, z = parse_xyz(offset, 3)
        runs = mask_runs(read_array(mask), (z, y, x))
    with _labelmap(repo, node, name, write=True) as lm:
        with _output.working(f"splitting {label}", enabled=not json_):
            new, mutid = lm.split(label, runs, _info(user))
    text = f"split {runs.num_voxels} voxels into new body {new} (mutation {mutid})"
    _output.result({"label": new, "MutationID": mutid}, text, json_=json_)


def size(
    name: NameArg,
    labels: Annotated[list[int], typer.Argument(help="Body labels.", min=0)],
    supervoxels: SvOpt = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Voxel counts of bodies (0 for labels without voxels)."""
    with _labelmap(repo, node, name) as lm:
        got = lm.sizes(labels, supervoxels=supervoxels)
    _output.by_key(labels, got, json_=json_)


def sparsevol(
    name: NameArg,
    label: LabelArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write DVID's legacy RLE bytes to this file."),
    ] = None,
    scale: Annotated[int, typer.Option("--scale", min=0, help="Pyramid level.")] = 0,
    supervoxels: SvOpt = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The sparse volume of a body: runs along x (DVID's RLE with -o), or a summary."""
    from dvidctl.datatypes.labelmap.sparsevol import encode_rles

    with _labelmap(repo, node, name) as lm:
        runs = lm.sparsevol(label, scale=scale, supervoxels=supervoxels)
    if output is not None:
        _output.write_file(output, encode_rles(runs))
    s = runs.starts
    doc = {
        "label": label,
        "voxels": runs.num_voxels,
        "runs": len(runs.lengths),
        "min": [int(s[:, 2].min()), int(s[:, 1].min()), int(s[:, 0].min())] if len(s) else None,
        "max": [
            int((s[:, 2] + runs.lengths).max() - 1),
            int(s[:, 1].max()),
            int(s[:, 0].max()),
        ]
        if len(s)
        else None,
    }
    text = (
        f"{label}: {doc['voxels']} voxels in {doc['runs']} runs, x,y,z {doc['min']}..{doc['max']}"
    )
    _output.result(doc, text, json_=json_)


def supervoxels_(
    name: NameArg,
    label: LabelArg,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The supervoxels of a body, with their voxel counts."""
    with _labelmap(repo, node, name) as lm:
        svs, n = lm.supervoxel_sizes(label)
    if json_:
        _output.emit_json({"supervoxels": svs.tolist(), "sizes": n.tolist()})
    else:
        _output.by_key(svs.tolist(), n.tolist(), json_=False)


def mapping(
    name: NameArg,
    svs: Annotated[list[int], typer.Argument(help="Supervoxel ids.", min=0)],
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The body of each supervoxel (0: none, or retired by a split)."""
    with _labelmap(repo, node, name) as lm:
        got = lm.mapping(svs).tolist()
    _output.by_key(svs, got, json_=json_)


def history(
    name: NameArg,
    label: LabelArg,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only mutations made at this version or after it."),
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Mutations that name a label, along the node's ancestry."""
    from dvidctl.datatypes.labelmap.ops import LabelMap

    with open_repo(repo, read_only=True) as r:
        since_inst = instance_of(r.node(since), name, LabelMap, "a labelmap") if since else None
        got = instance_of(r.node(node), name, LabelMap, "a labelmap").history(label, since_inst)
    if json_:
        _output.emit_json(got)
        return
    for rec in got:
        fields = {k: v for k, v in rec.items() if k not in ("Action", "MutationID", "Timestamp")}
        _output.info(f"{rec['MutationID']}  {rec['Action']}  {fields}")
    if not got:
        _output.note(f"no mutations name {label}")


def lease(
    name: NameArg,
    drop: Annotated[
        bool,
        typer.Option(
            "--drop",
            help="Forget the lease: new labels come from this repository's own counter "
            "(a merge then refuses labels another clone also handed out).",
        ),
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show (or drop) the label lease: labels reserved on a remote for this clone."""
    from dvidctl.datatypes.labelmap.leases import free, next_of

    with _labelmap(repo, None, name, write=drop) as lm:
        got = lm.drop_label_lease() if drop else lm.label_lease()
    doc = None if got is None else {**got, "free": free(got), "next": next_of(got)}
    if json_:
        _output.emit_json({"lease": doc, "dropped": drop and doc is not None})
    elif doc is None:
        _output.info(f"{name} has no label lease: new labels come from its own counter")
    else:
        ranges = ", ".join(f"{a}..{b}" for a, b in doc["ranges"]) or "none"
        what = f"label lease of {name} from {doc['remote']}: {doc['free']} free ({ranges})"
        _output.info(f"dropped the {what}" if drop else what)


def register(app: typer.Typer) -> None:
    """Add ``label`` and its verbs."""
    for fn, verb in (
        (merge, "merge"),
        (cleave, "cleave"),
        (split, "split"),
        (size, "size"),
        (sparsevol, "sparsevol"),
        (supervoxels_, "supervoxels"),
        (mapping, "mapping"),
        (history, "history"),
        (lease, "lease"),
    ):
        label_app.command(verb)(fn)
    app.add_typer(label_app, name="label")
