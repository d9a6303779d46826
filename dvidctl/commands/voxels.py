"""Voxel commands: ``put subvolume``, ``get subvolume|slice|arb|tile``, ``downres``.

Offsets and sizes are DVID's X,Y,Z (``1,2,3`` or ``1_2_3``); files are read and
written by suffix through :mod:`dvidctl.imageio` (``.npy``, ``.tif``, ``.png``,
``.jpg``, anything else raw little-endian ZYX bytes; ``-`` is stdin/stdout).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from dvidctl.commands import _output
from dvidctl.commands._options import (
    JsonOpt,
    NodeOpt,
    RemoteOpt,
    RepoOpt,
    open_node,
    open_repo,
    wrong_type,
)
from dvidctl.datatypes.imageblk.protocol import VoxelsAPI
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box, format_xyz, parse_floats, parse_xyz
from dvidctl.imageio import parse_dtype, read_array, write_array

if TYPE_CHECKING:
    from dvidctl.api.protocol import NodeAPI
    from dvidctl.datatypes.imageblk.instance import VoxelInstance

ScaleOpt = Annotated[
    int, typer.Option("--scale", "-s", help="Pyramid level (0 = full resolution).")
]
OutputOpt = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="File (.npy .tif .png .jpg, other suffixes raw) or - for stdout."
    ),
]
OffsetOpt = Annotated[str, typer.Option("--offset", help="First voxel X,Y,Z (or x_y_z).")]


_VOXEL_KIND = "a voxel type (uint8blk, labelmap)"


def _voxels(node: NodeAPI, name: str) -> VoxelsAPI:
    inst = node.instance(name)
    if not isinstance(inst, VoxelsAPI):
        raise wrong_type(name, inst, _VOXEL_KIND)
    return inst


def _local_voxels(node: NodeAPI, name: str) -> VoxelInstance:
    """A voxel instance of the local repository (tiles and downres are not in DVID's API)."""
    from dvidctl.datatypes.imageblk.instance import VoxelInstance

    inst = node.instance(name)
    if not isinstance(inst, VoxelInstance):
        raise wrong_type(name, inst, _VOXEL_KIND)
    return inst


def _size(text: str, n: int = 3) -> tuple[int, ...]:
    size = parse_xyz(text, n, name="size", allow_negative=False)
    if min(size) == 0:
        raise BadRequestError(f"size {text!r} must be positive along every axis")
    return size


def _emit(arr: np.ndarray, output: str) -> None:
    if output == "-" and sys.stdout.isatty():
        raise BadRequestError(
            "refusing to write binary voxels to a terminal", hint="use -o FILE, or pipe the output"
        )
    write_array(output, arr)


def put_subvolume(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    file: Annotated[
        str,
        typer.Argument(help="Voxels: .npy, .tif/.tiff stack, .png slice, raw file, or - (stdin)."),
    ],
    offset: OffsetOpt = "0,0,0",
    size: Annotated[
        str | None,
        typer.Option("--size", help="X,Y,Z size: needed for raw input, checked for other files."),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="dtype of raw input (default: the instance's).")
    ] = None,
    scale: ScaleOpt = 0,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a subvolume at any offset (partial blocks are merged; one atomic write)."""
    off = parse_xyz(offset, 3, name="offset")
    shape_zyx = tuple(reversed(_size(size))) if size is not None else None
    raw_dtype = parse_dtype(dtype) if dtype else None
    with open_node(repo, node, remote, write=True) as target:
        inst = _voxels(target, name)
        inst.check_scale(scale)
        file_dtype = raw_dtype if raw_dtype is not None else inst.dtype
        arr = read_array(file, dtype=file_dtype, shape_zyx=shape_zyx)
        if arr.dtype != inst.dtype:
            if not np.can_cast(arr.dtype, inst.dtype, "safe") or arr.dtype.kind not in "ui":
                raise BadRequestError(
                    f"{name!r} holds {inst.dtype} voxels; {arr.dtype} input does not fit"
                )
            arr = arr.astype(inst.dtype)
        if arr.ndim == 2:
            arr = arr[None]
        with _output.working(f"writing {arr.nbytes / 1e6:.0f} MB to {name}", enabled=not json_):
            box = inst.put_subvolume(arr, (off[2], off[1], off[0]), scale=scale)
        uuid = target.uuid
        result = {
            "instance": name,
            "node": uuid,
            "offset": list(box.offset_xyz),
            "size": list(box.size_xyz),
            "scale": scale,
        }
    if json_:
        _output.emit_json(result)
    else:
        _output.note(
            f"wrote {format_xyz(box.size_xyz)} voxels at {format_xyz(box.offset_xyz)} "
            f"(XYZ, scale {scale}) "
            f"to {name} at {uuid[:10]}"
        )


def get_subvolume(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    offset: OffsetOpt = ...,  # type: ignore[assignment]
    size: Annotated[str, typer.Option("--size", help="X,Y,Z size.")] = ...,  # type: ignore[assignment]
    scale: ScaleOpt = 0,
    output: OutputOpt = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Read a subvolume (ZYX voxels, X fastest) at any offset and size."""
    box = Box.from_xyz(parse_xyz(offset, 3, name="offset"), _size(size))
    with open_node(repo, node, remote, write=False) as n:
        with _output.working(f"reading {format_xyz(box.size_xyz)} voxels from {name}"):
            arr = _voxels(n, name).get_subvolume(box, scale)
    _emit(arr, output)


def get_slice(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    plane: Annotated[str, typer.Argument(help="xy, xz or yz (or 0_1, 0_2, 1_2).")],
    offset: OffsetOpt = ...,  # type: ignore[assignment]
    size: Annotated[str, typer.Option("--size", help="W,H: image width and height.")] = ...,  # type: ignore[assignment]
    scale: ScaleOpt = 0,
    output: OutputOpt = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Read a 2D slice: xy (rows y), xz (rows z) or yz (rows z)."""
    off = parse_xyz(offset, 3, name="offset")
    wh = _size(size, 2)
    with open_node(repo, node, remote, write=False) as n:
        img = _voxels(n, name).get_slice(plane, off, wh, scale)
    _emit(img, output)


def get_arb(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    corners: Annotated[
        tuple[str, str, str],
        typer.Option(
            "--corners", help="Top-left, top-right, bottom-left pixel centres, real-world X,Y,Z."
        ),
    ] = ...,  # type: ignore[assignment]
    res: Annotated[float, typer.Option("--res", help="Real-world units per pixel.")] = ...,  # type: ignore[assignment]
    scale: ScaleOpt = 0,
    output: OutputOpt = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Read an arbitrary plane (DVID's arb): grayscale interpolated, labels nearest."""
    tl, tr, bl = (
        parse_floats(c, 3, name=n) for c, n in zip(corners, ("tl", "tr", "bl"), strict=True)
    )
    with open_node(repo, node, remote, write=False) as n:
        img = _voxels(n, name).get_arb(tl, tr, bl, res, scale)
    _emit(img, output)


def get_tile(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    plane: Annotated[str, typer.Argument(help="xy, xz or yz.")],
    coord: Annotated[
        str,
        typer.Argument(
            help="Tile coordinate as DVID's imagetile: xy TX,TY,Z; xz TX,Y,TZ; yz X,TY,TZ."
        ),
    ],
    scale: ScaleOpt = 0,
    tile_size: Annotated[int, typer.Option("--tile-size", help="Tile edge in voxels.")] = 512,
    fmt: Annotated[str, typer.Option("--format", "-f", help="png, jpg or jpg:QUALITY.")] = "png",
    output: OutputOpt = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Read an imagetile-style 2D tile (PNG or JPEG bytes), built from the stored blocks."""
    xyz = parse_xyz(coord, 3, name="tile coordinate")
    with open_repo(repo, read_only=True) as r:
        data = _local_voxels(r.node(node), name).get_tile(plane, scale, xyz, fmt, tile_size)
    if output == "-":
        _output.emit_bytes(data)
    else:
        _output.write_file(output, data)


def downres(
    name: Annotated[str, typer.Argument(help="uint8blk or labelmap instance.")],
    node: NodeOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Rebuild every pyramid level (1..MaxDownresLevel) from scale 0, in one atomic write."""
    with open_repo(repo) as r:
        with _output.working(f"rebuilding the pyramid of {name}"):
            counts = _local_voxels(r.node(node), name).downres()
    if json_:
        _output.emit_json({str(k): v for k, v in counts.items()})
    elif not counts:
        _output.note(f"{name} has no pyramid levels (MaxDownresLevel is 0)")
    else:
        for level, n in counts.items():
            _output.info(f"scale {level}: {n} blocks")


def register(app: typer.Typer, put_app: typer.Typer, get_app: typer.Typer) -> None:
    """Add the voxel commands."""
    put_app.command("subvolume")(put_subvolume)
    get_app.command("subvolume")(get_subvolume)
    get_app.command("slice")(get_slice)
    get_app.command("arb")(get_arb)
    get_app.command("tile")(get_tile)
    app.command("downres")(downres)
