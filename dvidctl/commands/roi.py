"""``dvidctl roi put|get|mask|contains|partition|from-body``: the roi datatype on the CLI.

Spans are DVID's ``[[z, y, x0, x1], ...]`` in block coordinates (x1 inclusive);
points, offsets and sizes are voxels, X,Y,Z. Every verb but ``from-body`` also works
against a DVID server (``--remote URL --node UUID``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import (
    JsonOpt,
    NodeOpt,
    RemoteOpt,
    RepoOpt,
    instance_of,
    open_node,
    open_repo,
)
from dvidctl.errors import BadRequestError

if TYPE_CHECKING:
    from dvidctl.api.protocol import NodeAPI
    from dvidctl.datatypes.roi.protocol import ROIAPI

roi_app = typer.Typer(
    help="Regions of interest: spans, masks, point queries, partitions, ROIs from bodies.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The roi instance.")]
_MASK_SUFFIXES = (".npy", ".tif", ".tiff")


def _roi(node: NodeAPI, name: str) -> ROIAPI:
    from dvidctl.datatypes.roi.protocol import ROIAPI

    # ROIAPI is a runtime-checkable protocol: isinstance works, mypy wants a concrete class
    return instance_of(node, name, ROIAPI, "an roi")  # type: ignore[type-abstract]


@contextmanager
def _open_roi(
    repo: Path | None, node: str | None, remote: str | None, name: str
) -> Iterator[ROIAPI]:
    """The roi ``name`` at ``--node`` (local, or ``--remote``), opened to read."""
    with open_node(repo, node, remote, write=False) as n:
        yield _roi(n, name)


def _read_text(file: str) -> str:
    """The text of ``file`` (``-``: stdin); an OS error is a one-line bad-request."""
    if file == "-":
        if sys.stdin.isatty():
            raise BadRequestError(
                "expected JSON on stdin, not a terminal", hint="name a file, or pipe the JSON in"
            )
        return sys.stdin.read()
    try:
        return Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise BadRequestError(f"cannot read {file}: {reason}") from None


def _read_json(file: str, what: str) -> Any:
    text = _read_text(file)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        src = "stdin" if file == "-" else file
        raise BadRequestError(
            f"{src} is not valid JSON ({what}): {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _xyz_to_zyx(text: str, name: str) -> tuple[int, int, int]:
    from dvidctl.geometry import parse_xyz

    x, y, z = parse_xyz(text, 3, name=name)
    return z, y, x


def put(
    name: NameArg,
    file: Annotated[
        str,
        typer.Argument(
            help="Spans JSON [\\[z, y, x0, x1], ...] (a file or - for stdin), or a mask "
            ".npy/.tif whose non-zero voxels mark the blocks."
        ),
    ] = "-",
    offset: Annotated[
        str | None,
        typer.Option("--offset", help="A mask's first voxel X,Y,Z (block-aligned; default 0,0,0)."),
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replace the ROI at HEAD (or --node) with spans, or with the blocks of a mask.

    A mask's offset and size must be multiples of the ROI's block size (as DVID's
    block-aligned writes); a block is in the ROI when any of its voxels is non-zero.
    """
    is_mask = file.lower().endswith(_MASK_SUFFIXES)
    if is_mask:
        from dvidctl.imageio import read_array

        data, off = read_array(file), _xyz_to_zyx(offset or "0,0,0", "offset")
    elif offset is not None:
        raise BadRequestError(
            "--offset places a mask; spans JSON is in block coordinates already",
            hint="give a mask as .npy or .tif",
        )
    else:
        data, off = _read_json(file, "roi spans"), (0, 0, 0)
    with open_node(repo, node, remote, write=True) as n:
        roi = _roi(n, name)
        with _output.working(f"writing {name}", enabled=not json_):
            stored = roi.put_mask(data, off) if is_mask else roi.put_spans(data)
        uuid = n.uuid
    if json_:
        _output.emit_json({"instance": name, "node": uuid, "spans": stored})
    else:
        _output.note(f"wrote {stored} spans to {name} at {uuid[:10]}")


def get(
    name: NameArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Print the ROI's spans as DVID's GET roi: [\\[z, y, x0, x1], ...] in block coordinates.

    The output is what 'roi put' reads. With --json: an object with the instance,
    node, block size and the spans.
    """
    with open_node(repo, node, remote, write=False) as n:
        roi = _roi(n, name)
        spans = roi.get_spans()
        doc: Any = spans
        if json_:
            doc = {
                "instance": name,
                "node": n.uuid,
                "block_size": list(roi.block_size),
                "spans": spans,
            }
    text = json.dumps(doc, sort_keys=True) + "\n"  # one line: an ROI can have 10^5 spans
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _output.write_file(output, text.encode())
        _output.note(f"wrote {len(spans)} spans to {output}")


def mask(
    name: NameArg,
    offset: Annotated[str, typer.Option("--offset", help="First voxel X,Y,Z.")] = ...,  # type: ignore[assignment]
    size: Annotated[str, typer.Option("--size", help="X,Y,Z size in voxels.")] = ...,  # type: ignore[assignment]
    scale: Annotated[
        int,
        typer.Option(
            "--scale", "-s", help="Voxels of this pyramid level (2**scale must divide the block)."
        ),
    ] = 0,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="File (.npy .tif, other suffixes raw) or - (stdout)."),
    ] = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a uint8 ZYX mask of a box: 1 inside the ROI, 0 outside (DVID's mask)."""
    from dvidctl.geometry import Box, parse_xyz
    from dvidctl.imageio import write_array

    sx, sy, sz = parse_xyz(size, 3, name="size", allow_negative=False)
    if min(sx, sy, sz) == 0:
        raise BadRequestError(f"size {size!r} must be positive along every axis")
    if output == "-" and sys.stdout.isatty():
        raise BadRequestError(
            "refusing to write a binary mask to a terminal", hint="use -o FILE, or pipe the output"
        )
    if json_ and output == "-":
        raise BadRequestError("--json prints a summary: give the mask a file with -o FILE")
    box = Box.from_xyz(parse_xyz(offset, 3, name="offset"), (sx, sy, sz))
    with _open_roi(repo, node, remote, name) as roi:
        with _output.working(f"drawing the mask of {name}", enabled=not json_):
            arr = roi.mask(box, scale)
    write_array(output, arr)
    if json_:
        _output.emit_json(
            {
                "instance": name,
                "offset": list(box.offset_xyz),
                "size": list(box.size_xyz),
                "scale": scale,
                "inside": int(arr.sum(dtype="int64")),
                "output": output,
            }
        )


def contains(
    name: NameArg,
    points: Annotated[
        list[str] | None,
        typer.Argument(
            help="Voxel points X,Y,Z (or x_y_z); put negative ones after --.", show_default=False
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="JSON [\\[x, y, z], ...] (as DVID's ptquery body), or - for stdin."
        ),
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Say whether each voxel point is inside the ROI (DVID's ptquery).

    Prints 'x,y,z<TAB>true|false' per point, or with --json DVID's list of booleans.
    """
    import numpy as np

    from dvidctl.datatypes.roi.spans import parse_point_list

    pts = [list(reversed(_xyz_to_zyx(p, "point"))) for p in points or []]
    if file is not None:
        pts += parse_point_list(_read_json(file, "points"), "points").tolist()
    if not pts:
        raise BadRequestError("no points given", hint="name points X,Y,Z or use --file FILE")
    arr = np.asarray(pts, dtype=np.int64)
    with _open_roi(repo, node, remote, name) as roi:
        inside = [bool(v) for v in roi.contains_points(arr)]
    if json_:
        _output.emit_json(inside)
        return
    words = ("false", "true")
    _output.info(
        "\n".join(f"{x},{y},{z}\t{words[v]}" for (x, y, z), v in zip(pts, inside, strict=True))
    )


def partition(
    name: NameArg,
    batchsize: Annotated[
        int, typer.Option("--batchsize", "-b", min=1, help="Blocks along each axis per subvolume.")
    ] = 8,
    optimized: Annotated[
        bool,
        typer.Option("--optimized", help="Fit subvolumes to the data (DVID's optimized=true)."),
    ] = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Split the ROI into subvolumes of about BATCHSIZE³ blocks (DVID's partition).

    Prints one line per subvolume (voxel box and active/total blocks), or with --json
    DVID's partition JSON.
    """
    with _open_roi(repo, node, remote, name) as roi:
        with _output.working(f"partitioning {name}", enabled=not json_):
            doc = roi.partition(batchsize, optimized)
    if json_:
        _output.emit_json(doc)
        return
    for sv in doc["Subvolumes"]:
        lo, hi = sv["MinPoint"], sv["MaxPoint"]
        _output.info(
            f"{lo[0]},{lo[1]},{lo[2]} .. {hi[0]},{hi[1]},{hi[2]}  "
            f"{sv['ActiveBlocks']}/{sv['TotalBlocks']} blocks"
        )
    _output.note(
        f"{doc['NumSubvolumes']} subvolumes, {doc['NumActiveBlocks']} active of "
        f"{doc['NumTotalBlocks']} blocks"
    )


def from_body(
    labelmap: Annotated[str, typer.Argument(help="The labelmap instance.")],
    label: Annotated[int, typer.Argument(help="The body (label) id.", min=0)],
    name: Annotated[str, typer.Argument(help="The roi instance to replace.")],
    scale: Annotated[
        int,
        typer.Option(
            "--scale",
            "-s",
            min=0,
            help="Read this pyramid level: faster, but small parts of the body can be "
            "missing there (0, the default, is exact).",
        ),
    ] = 0,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replace ROI NAME with the blocks (its block size) holding any voxel of a body.

    Both instances are read and written at HEAD (or --node), in one atomic write.
    """
    from dvidctl.api.roibody import roi_from_body

    with open_repo(repo) as r:
        with _output.progress(f"reading {labelmap}", None, enabled=not json_) as advance:
            res = roi_from_body(r.node(node), labelmap, label, name, scale=scale, progress=advance)
    if json_:
        _output.emit_json(res.to_dict())
        return
    _output.note(
        f"{name}: {res.blocks} blocks in {res.spans} spans hold body {label} of {labelmap} "
        f"at {res.node[:10]} (scale {scale}; the body is in {res.body_blocks} of the "
        f"{res.scanned} labelmap blocks read)"
    )


def register(app: typer.Typer) -> None:
    """Add the ``roi`` command group."""
    roi_app.command("put")(put)
    roi_app.command("get")(get)
    roi_app.command("mask")(mask)
    roi_app.command("contains")(contains)
    roi_app.command("partition")(partition)
    roi_app.command("from-body")(from_body)
    app.add_typer(roi_app, name="roi")
