"""HTTP handlers shared by uint8blk and labelmap: raw, isotropic, arb, blocks, extents.

Each handler parses its request, calls one method of the voxel instance, and
formats the answer; every write is an instance method (one atomic batch).

Geometry arrives as DVID strings (XYZ) through the URL convertors and becomes
ZYX boxes here, the only place the two meet (STYLE rule 14). Every read checks
the memory budget before allocating; every write checks the body length
against the geometry before touching the store, and the voxel API writes one
atomic batch, so bad input writes nothing.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from typing import Any

import lz4.block
import numpy as np
from starlette.responses import Response

from dvidctl.datatypes.imageblk import sampling
from dvidctl.datatypes.imageblk.blockstream import encode_block_header
from dvidctl.datatypes.imageblk.blockvolume import BlockVolume
from dvidctl.datatypes.imageblk.instance import VoxelInstance
from dvidctl.datatypes.imageblk.wire import GRAY_STREAM_FORMATS, gray_payload
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box, check_voxel_budget, iter_block_coords
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.params import box3d, check_aligned
from dvidctl.httpkit.routing import Call
from dvidctl.httpkit.streaming import OCTET, buffer_response, iter_response, slab_response
from dvidctl.imageio import encode_image, parse_image_format

_MEDIA = {"png": "image/png", "jpeg": "image/jpeg"}


def voxels_of(call: Call) -> VoxelInstance:
    """The voxel instance of the call."""
    inst = call.instance
    assert isinstance(inst, VoxelInstance)
    return inst


def scale_of(call: Call, inst: VoxelInstance) -> int:
    """``scale=N`` checked against the instance's levels."""
    return inst.check_scale(call.qint("scale", 0, 0, 255))


def _limit(call: Call) -> int:
    return call.limits.max_response


def apply_roi(call: Call, vol: np.ndarray, box: Box) -> None:
    """``roi=name[,uuid]``: zero (or, uint8 with ``attenuation=n``, dim) voxels outside the ROI."""
    spec = call.query.get("roi")
    if not spec:
        return
    name, _, ref = spec.partition(",")
    node = call.node_for(ref) if ref else call.node
    roi = node.instance(name)
    if not hasattr(roi, "mask"):
        raise BadRequestError(f"roi={name}: instance {name!r} is not an roi")
    inside = roi.mask(box).astype(bool)
    att = call.qint("attenuation", 0, 0, 7)
    if att and vol.dtype == np.uint8:
        vol[~inside] >>= att
    else:
        vol[~inside] = 0


# --------------------------------------------------------------- raw / isotropic
def _fmt(call: Call) -> str:
    return str(call.params.get("format") or "")


def get_raw(
    call: Call, *, isotropic: bool = False, encode3d: Any = None, jpeg3d: bool = False
) -> Response:
    """``GET raw|isotropic/{dims}/{size}/{offset}[/{format}]`` (2D images, 3D volumes).

    A 3D volume is raw voxels (``application/octet-stream``) whatever the format
    segment says (clients send e.g. ``/nD``), as DVID: only a type with ``jpeg3d``
    (uint8blk) answers exactly ``jpg`` or ``jpeg`` with the volume as one JPEG of
    its z-slices stacked vertically; labelmap ignores the segment. ``encode3d``
    compresses the raw volume when the query asks (labelmap's ``compression=``).
    """
    inst = voxels_of(call)
    scale = scale_of(call, inst)
    dims, size, offset = call.params["dims"], call.params["size"], call.params["offset"]
    if len(offset) != 3:
        raise BadRequestError(f"offset must be 3D x_y_z, got {offset}")
    if dims == "xyz":
        box = box3d(size, offset, itemsize=inst.dtype.itemsize, limit=_limit(call))
        if jpeg3d and _fmt(call) in ("jpg", "jpeg"):  # DVID compares the segment exactly
            vol = inst.get_subvolume(box, scale)
            apply_roi(call, vol, box)
            nz, ny, nx = vol.shape
            name, quality = parse_image_format(_fmt(call))
            return Response(
                encode_image(vol.reshape(nz * ny, nx), name, quality), media_type="image/jpeg"
            )
        if encode3d is None or call.query.get("compression", "") in ("", "none"):
            return _stream_raw(call, inst, box, scale)
        vol = inst.get_subvolume(box, scale)
        apply_roi(call, vol, box)
        response: Response = encode3d(call, vol)
        return response
    if len(size) != 2:
        raise BadRequestError(f"a 2D {dims} request needs a size of 2 numbers w_h, got {size}")
    if any(s <= 0 for s in size):
        raise BadRequestError(f"size must be positive, got {size}")
    check_voxel_budget(size[0] * size[1], inst.dtype.itemsize, _limit(call))
    vs = tuple(v * 2**scale for v in inst.voxel_size)
    read_wh = sampling.isotropic_read_size(dims, size, vs) if isotropic else tuple(size)
    box = sampling.slice_box(dims, offset, read_wh)
    vol = inst.get_subvolume(box, scale)
    apply_roi(call, vol, box)
    img = sampling.squeeze_slice(dims, vol)
    if isotropic and tuple(read_wh) != tuple(size):
        img = sampling.isotropic_resize(img, dims, vs, not inst.interpolable, size_wh=size)
    name, quality = parse_image_format(_fmt(call) or "png")
    return Response(encode_image(img, name, quality), media_type=_MEDIA[name])


def _stream_raw(call: Call, inst: VoxelInstance, box: Box, scale: int) -> Response:
    """Raw 3D voxels in z-slabs of one block row, read while the previous slab is sent."""
    bz = inst.block_shape[0]
    z0, z1 = box.start[0], box.stop[0]
    cuts = [z0, *range((z0 // bz + 1) * bz, z1, bz), z1]
    slabs = [
        Box((a, box.start[1], box.start[2]), (b, box.stop[1], box.stop[2]))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]

    def produce(i: int) -> np.ndarray:
        vol = inst.get_subvolume(slabs[i], scale)
        apply_roi(call, vol, slabs[i])
        return vol

    nbytes = box.nvoxels * inst.dtype.itemsize
    return slab_response(produce(0), produce, len(slabs), nbytes, OCTET)


def read_body_array(
    call: Call, inst: VoxelInstance, shape: tuple[int, ...], body: Any = None
) -> np.ndarray:
    """The request body as a ZYX array of ``shape``; a 400 if its length does not match."""
    data = call.body if body is None else body
    want = int(np.prod(shape)) * inst.dtype.itemsize
    if len(data) != want:
        raise BadRequestError(
            f"body has {len(data)} bytes but the geometry needs {want} "
            f"({'x'.join(map(str, shape[::-1]))} voxels of {inst.dtype.itemsize} bytes)"
        )
    return np.frombuffer(data, dtype=inst.dtype.newbyteorder("<")).reshape(shape)


def decompress_body(call: Call, expected: int) -> bytes | bytearray:
    """Undo ``compression=lz4|gzip`` on a POST body (refusing more than ``expected`` bytes)."""
    comp = call.query.get("compression", "").lower()
    if comp in ("", "none", "uncompressed"):
        return call.body
    try:
        if comp == "lz4":
            return bytes(lz4.block.decompress(bytes(call.body), uncompressed_size=expected))
        if comp == "gzip":
            d = gzip.GzipFile(fileobj=__import__("io").BytesIO(bytes(call.body)))
            out = d.read(expected + 1)
            return out
    except (lz4.block.LZ4BlockError, OSError, EOFError) as exc:
        raise BadRequestError(f"body does not decode as {comp}: {exc}") from None
    raise BadRequestError(f"POST compression {comp!r} is not supported (use lz4 or gzip)")


def post_raw(call: Call) -> Response:
    """``POST raw/0_1_2/{size}/{offset}``: write ZYX voxels (any alignment; DVID needs blocks)."""
    inst = voxels_of(call)
    scale = scale_of(call, inst)
    if call.params["dims"] != "xyz":
        raise BadRequestError("only 3D (0_1_2) raw data can be POSTed")
    box = box3d(
        call.params["size"],
        call.params["offset"],
        itemsize=inst.dtype.itemsize,
        limit=call.limits.max_body,
    )
    body = decompress_body(call, box.nvoxels * inst.dtype.itemsize)
    arr = read_body_array(call, inst, box.shape, body)
    inst.put_subvolume(arr, box.start, scale)
    return Response(b"")


# ---------------------------------------------------------------------- arb
def get_arb(call: Call) -> Response:
    """``GET arb/{tl}/{tr}/{bl}/{res}[/{format}]``: an arbitrary plane as an image."""
    inst = voxels_of(call)
    try:
        res = float(call.params["res"])
    except ValueError:
        raise BadRequestError(f"arb resolution {call.params['res']!r} is not a number") from None
    corners = (call.params["tl"], call.params["tr"], call.params["bl"])
    if not all(math.isfinite(v) for v in (res, *corners[0], *corners[1], *corners[2])):
        raise BadRequestError("arb corners and resolution must be finite numbers")
    try:
        img = inst.get_arb(*corners, res, scale_of(call, inst), limit_bytes=_limit(call))
    except OverflowError:
        raise BadRequestError("arb image is far too large for this resolution") from None
    name, quality = parse_image_format(_fmt(call) or "png")
    return Response(encode_image(img, name, quality), media_type=_MEDIA[name])


# ------------------------------------------------------------------ extents
def post_extents(call: Call) -> Response:
    """``POST extents``: ``{"MinPoint":[x,y,z],"MaxPoint":[x,y,z]}`` (inclusive)."""
    inst = voxels_of(call)
    body = call.json_object()
    try:
        lo, hi = list(body["MinPoint"]), list(body["MaxPoint"])
        if len(lo) != 3 or len(hi) != 3:
            raise ValueError
        for v in (*lo, *hi):  # DVID decodes into int32s: no floats, no overflow
            if not isinstance(v, int) or isinstance(v, bool) or not INT32_MIN <= v < INT32_MAX:
                raise ValueError
    except (KeyError, TypeError, ValueError):
        raise BadRequestError(
            'extents body must be {"MinPoint":[x,y,z],"MaxPoint":[x,y,z]}'
        ) from None
    if any(h < low for low, h in zip(lo, hi, strict=True)):
        raise BadRequestError("MaxPoint must not be below MinPoint")
    box = Box((lo[2], lo[1], lo[0]), (hi[2] + 1, hi[1] + 1, hi[0] + 1))
    inst.set_extents(box)
    return Response(b"")


# ---------------------------------------------------------- block streams
def stream_box(call: Call, inst: VoxelInstance) -> tuple[Box, np.ndarray]:
    """The block-aligned box of ``{size}/{offset}`` and its block coordinates (ZYX, z-major)."""
    size, offset = call.params["size"], call.params["offset"]
    if len(size) != 3 or len(offset) != 3 or any(s <= 0 for s in size):
        raise BadRequestError(f"block requests need 3D size and offset, got {size} at {offset}")
    box = Box.from_xyz(offset, size)
    check_aligned(box, inst.block_shape, "the requested box")
    bstart, bstop = box.block_range(inst.block_shape)
    nblocks = int(np.prod(np.subtract(bstop, bstart)))
    check_voxel_budget(nblocks * 16, 1, _limit(call))
    return box, iter_block_coords(bstart, bstop)


def listed_blocks(call: Call) -> np.ndarray:
    """``?blocks=x,y,z,...`` as ZYX block coordinates."""
    from dvidctl.httpkit.params import block_list

    xyz = block_list(call.query.get("blocks", ""))
    return xyz[:, ::-1].astype(np.int32)


def iter_stored(
    vol: BlockVolume, scale: int, coords: np.ndarray
) -> Iterator[tuple[tuple[int, int, int], memoryview]]:
    """Stored payloads of ``coords`` (ZYX), row by row in the given order; missing ones skipped."""
    rows: dict[tuple[int, int], list[int]] = {}
    order: list[tuple[int, int]] = []
    for z, y, x in np.asarray(coords, dtype=np.int64).reshape(-1, 3).tolist():
        if (z, y) not in rows:
            rows[(z, y)] = []
            order.append((z, y))
        rows[(z, y)].append(x)
    for z, y in order:
        xs = rows[(z, y)]
        found = dict(vol.scan_row(scale, z, y, min(xs), max(xs) + 1))
        for x in xs:
            payload = found.get(x)
            if payload is not None:
                yield (z, y, x), payload


def gray_stream(call: Call, coords: np.ndarray) -> Response:
    """A uint8blk block stream of the stored blocks among ``coords``."""
    inst = voxels_of(call)
    scale = scale_of(call, inst)
    comp = call.query.get("compression", "").lower()
    if comp not in GRAY_STREAM_FORMATS:
        raise BadRequestError(f"compression {comp!r} is not one of jpeg, uncompressed, stored")
    if call.flag("prefetch"):
        return Response(b"")
    shape = inst.block_shape

    def pieces() -> Iterator[bytes]:
        for (z, y, x), payload in iter_stored(inst.blocks, scale, coords):
            body = gray_payload(payload, shape, "" if comp == "lz4" else comp)
            yield encode_block_header((x, y, z), len(body))
            yield body

    return iter_response(pieces(), OCTET)


def subvolblocks(call: Call) -> Response:
    """``GET subvolblocks/{size}/{offset}``: stored blocks of a block-aligned box."""
    inst = voxels_of(call)
    _, coords = stream_box(call, inst)
    return gray_stream(call, coords)


def specificblocks(call: Call) -> Response:
    """``GET specificblocks?blocks=x,y,z,...``."""
    return gray_stream(call, listed_blocks(call))


# ------------------------------------------------------ uint8blk blocks/{coord}/{span}
def _span_box(call: Call, inst: VoxelInstance) -> Box:
    coord, span = call.params["coord"], call.params["span"]
    if len(coord) != 3 or span < 1:
        raise BadRequestError(
            f"blocks needs a block coordinate x_y_z and a positive span, got {coord}, {span}"
        )
    bz, by, bx = inst.block_shape
    x, y, z = coord
    box = Box((z * bz, y * by, x * bx), ((z + 1) * bz, (y + 1) * by, (x + span) * bx))
    check_voxel_budget(box.nvoxels, inst.dtype.itemsize, _limit(call))
    return box


def get_span_blocks(call: Call) -> Response:
    """``GET blocks/{bx_by_bz}/{spanX}``: each block's voxels in turn along +X."""
    inst = voxels_of(call)
    box = _span_box(call, inst)
    vol = inst.get_subvolume(box, scale_of(call, inst))
    bz, by, bx = inst.block_shape
    span = call.params["span"]
    out = np.ascontiguousarray(vol.reshape(bz, by, span, bx).transpose(2, 0, 1, 3))
    return buffer_response(out, OCTET)


def post_span_blocks(call: Call) -> Response:
    """``POST blocks/{bx_by_bz}/{spanX}``: the same layout, uncompressed."""
    inst = voxels_of(call)
    box = _span_box(call, inst)
    bz, by, bx = inst.block_shape
    span = call.params["span"]
    blocks = read_body_array(call, inst, (span, bz, by, bx))
    inst.put_subvolume(
        np.ascontiguousarray(blocks.transpose(1, 2, 0, 3)).reshape(box.shape),
        box.start,
        scale_of(call, inst),
    )
    return Response(b"")


# ------------------------------------------------------------------- tiles
def get_tile(call: Call) -> Response:
    """``GET tile/{plane}/{scale}/{tx_ty_tz}[?format=png|jpg&size=512]``: a tile from the blocks."""
    inst = voxels_of(call)
    fmt = call.query.get("format", "png")
    name, _ = parse_image_format(fmt)
    size = call.qint("size", 512, 1, 8192)
    body = inst.get_tile(
        call.params["dims"], inst.check_scale(call.params["scale"]), call.params["coord"], fmt, size
    )
    return Response(body, media_type=_MEDIA[name])


# ------------------------------------------------------------- metadata, resolution
def get_metadata(call: Call) -> Response:
    """``GET metadata``: DVID's ``application/vnd.dvid-nd-data+json`` layout description.

    ``{"Axes": [...], "Properties": {...}}`` as DVID's ``NdDataMetadata``
    (imageblk.go 1009-1056): per axis the voxel size, units and this node's
    extents (size and offset, zeros when nothing is written), then the
    instance's imageblk properties (pydvid reads ``["Properties"]["Values"]``).
    """
    inst = voxels_of(call)
    props = inst.properties()
    minp, maxp = props["MinPoint"], props["MaxPoint"]
    axes = []
    for i, name in enumerate("XYZ"):
        size = 0 if minp is None else maxp[i] - minp[i] + 1
        axes.append(
            {
                "Label": name,
                "Resolution": props["VoxelSize"][i],
                "Units": props["VoxelUnits"][i],
                "Size": size,
                "Offset": 0 if minp is None else minp[i],
            }
        )
    return json_response(
        {"Axes": axes, "Properties": props}, media_type="application/vnd.dvid-nd-data+json"
    )


def post_resolution(call: Call) -> Response:
    """``POST resolution``: ``[rx, ry, rz]`` sets the voxel size (instance metadata)."""
    got = call.json(what="resolution body")
    if not isinstance(got, list):
        raise BadRequestError("resolution body must be [rx, ry, rz] with positive numbers")
    voxels_of(call).set_voxel_size(got)
    return Response(b"")
