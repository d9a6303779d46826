"""labelmap HTTP routes (DVID_API.md §6), mounted under ``/api/node/{uuid}/{name}/``.

The old type names ``labelblk`` and ``labelarray`` create labelmap instances
(registry aliases) and are served by this table: labelarray's formats are
labelmap's; labelblk's imageblk-style ``blocks/{bx_by_bz}/{spanX}`` (uncompressed
uint64 blocks along +X) is served too, next to labelmap's block streams.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial

import compressed_segmentation as cseg
import numpy as np
from starlette.responses import Response

from dvidctl.datatypes.imageblk import handlers as vx
from dvidctl.datatypes.imageblk.blockstream import encode_block_header, iter_block_stream
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.labelblock import gunzip_label_block
from dvidctl.datatypes.imageblk.routes import common_routes
from dvidctl.datatypes.imageblk.wire import (
    LABEL_STREAM_FORMATS,
    block_payload,
    gzip_bytes,
    label_payloads,
    lz4_payload,
)
from dvidctl.datatypes.labelmap import routes_labels, routes_mutate
from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX, INT32_MIN, check_voxel_budget
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.params import points_xyz
from dvidctl.httpkit.routing import Call, Handler, Route
from dvidctl.httpkit.streaming import OCTET, as_bytes_view, buffer_response, iter_response

_GEOM = "{dims:dims}/{size:xyz}/{offset:xyz}"
_BATCH = 32  # blocks encoded together on the thread pool while streaming


def _lm(call: Call) -> LabelMap:
    inst = call.instance
    assert isinstance(inst, LabelMap)
    return inst


def with_supervoxels(handler: Handler) -> Handler:
    """Run ``handler`` on the supervoxel view when the query says ``supervoxels=true``."""

    def run(call: Call) -> Response:
        if call.flag("supervoxels"):
            call.instance = _lm(call).supervoxel_view()
        return handler(call)

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__doc__ = handler.__doc__
    return run


def encode_volume(call: Call, vol: np.ndarray) -> Response:
    """A 3D label volume with ``compression=`` none|lz4|gzip|google|googlegzip."""
    comp = call.query.get("compression", "").lower()
    if comp in ("", "none", "uncompressed"):
        return buffer_response(vol, OCTET)
    if comp == "lz4":
        return buffer_response(lz4_payload(as_bytes_view(vol), with_size=False), OCTET)
    if comp == "gzip":
        return buffer_response(gzip_bytes(as_bytes_view(vol)), OCTET)
    if comp in ("google", "googlegzip"):
        # neuroglancer's compressed_segmentation, 8^3 blocks, x fastest (an XYZ Fortran view).
        body = cseg.compress(vol.T, block_size=(8, 8, 8), order="F")
        if comp == "google":
            return buffer_response(body, OCTET)
        return buffer_response(gzip_bytes(body), OCTET, headers={"Content-Encoding": "gzip"})
    raise BadRequestError(f"compression {comp!r} is not one of lz4, gzip, google, googlegzip")


def label(call: Call) -> Response:
    """``GET label/{x_y_z}``: ``{"Label": n}``."""
    inst = _lm(call)
    pt = call.params["coord"]
    if len(pt) != 3:
        raise BadRequestError(f"label needs a point x_y_z, got {pt}")
    if any(not INT32_MIN <= v <= INT32_MAX for v in pt):
        raise BadRequestError("point coordinates must fit in int32")
    return json_response({"Label": inst.label_at(pt, vx.scale_of(call, inst))})


def labels(call: Call) -> Response:
    """``GET labels``: body ``[[x,y,z],...]`` -> ``[l1, l2, ...]``."""
    inst = _lm(call)
    pts = points_xyz(call.json(what="labels body"), "labels body")
    got = inst.labels_at(pts, vx.scale_of(call, inst))
    return json_response([int(v) for v in got])


def maxlabel(call: Call) -> Response:
    """``GET maxlabel``: 400 "No maximum label found" before any label (DVID)."""
    inst = _lm(call)
    if not inst.has_max_label():
        raise BadRequestError(f"No maximum label found for {inst.name} version {inst.vid}")
    return json_response({"maxlabel": inst.max_label()})


def nextlabel(call: Call) -> Response:
    """``GET nextlabel``."""
    return json_response({"nextlabel": _lm(call).next_label()})


def nextlabel_post(call: Call) -> Response:
    """``POST nextlabel/{count}``: reserve labels -> ``{"start": a, "end": b}``."""
    start, end = _lm(call).reserve_labels(call.params["count"])
    return json_response({"start": start, "end": end})


def maxlabel_post(call: Call) -> Response:
    """``POST maxlabel/{n}``: raise the max label at this node (ignored unless larger)."""
    _lm(call).raise_max_label(call.params["n"])
    return Response(b"")


def set_nextlabel(call: Call) -> Response:
    """``POST set-nextlabel/{label}``: the next label :func:`nextlabel_post` hands out."""
    raw = call.query.get("ceiling")
    ceiling = None if raw in (None, "") else call.qint("ceiling", 0, 0, 2**64 - 1)
    _lm(call).set_next_label(call.params["label"], ceiling)
    return Response(b"")


# ---------------------------------------------------------------- block streams
def _stream(call: Call, coords: np.ndarray, default: str) -> Response:
    inst = _lm(call)
    scale = vx.scale_of(call, inst)
    comp = call.query.get("compression", default).lower() or default
    if comp not in LABEL_STREAM_FORMATS:
        raise BadRequestError(
            f"compression {comp!r} is not one of {', '.join(LABEL_STREAM_FORMATS)}"
        )
    shape = inst.block_shape
    mapped = not inst.read_supervoxels and inst.labelstore.has_mapping()

    def encode(pending: list[tuple[tuple[int, int, int], memoryview]]) -> list[bytes]:
        if not mapped:
            return label_payloads(pending, shape, comp)
        return [mapped_payload(inst, p, comp) for _, p in pending]

    def pieces() -> Iterator[bytes]:
        pending: list[tuple[tuple[int, int, int], memoryview]] = []

        def flush() -> Iterator[bytes]:
            for ((z, y, x), _), body in zip(pending, encode(pending), strict=True):
                yield encode_block_header((x, y, z), len(body))
                yield body
            pending.clear()

        for item in vx.iter_stored(inst.blocks, scale, coords):
            pending.append(item)
            if len(pending) >= _BATCH:
                yield from flush()
        yield from flush()

    return iter_response(pieces(), OCTET)


def mapped_payload(inst: LabelMap, payload: memoryview, comp: str) -> bytes:
    """A stream payload of a stored block with supervoxels mapped to bodies."""
    block = decode_into(payload, np.empty(inst.block_shape, np.uint64))
    inst.map_to_bodies(block)
    return block_payload(block, comp)


def blocks_get(call: Call) -> Response:
    """``GET blocks/{size}/{offset}``: stored blocks of a block-aligned box (default lz4)."""
    _, coords = vx.stream_box(call, _lm(call))
    return _stream(call, coords, "lz4")


def specificblocks(call: Call) -> Response:
    """``GET specificblocks?blocks=x,y,z,...`` (default compression: blocks)."""
    return _stream(call, vx.listed_blocks(call), "blocks")


def blocks_post(call: Call) -> Response:
    """``POST blocks``: a block stream of gzip(label Block) payloads, written atomically."""
    inst = _lm(call)
    scale = vx.scale_of(call, inst)
    comp = call.query.get("compression", "blocks").lower()
    if comp != "blocks":
        raise BadRequestError("POST blocks accepts only compression=blocks")
    if scale != 0 and call.flag("downres"):
        raise BadRequestError("downres=true is only valid with scale 0")
    shape = inst.block_shape
    nbytes = int(np.prod(shape)) * 8
    records = list(iter_block_stream(call.body))
    check_voxel_budget(len(records) * nbytes, 1, call.limits.max_response)
    decoded = []
    for (bx, by, bz), payload in records:
        try:
            arr = gunzip_label_block(payload)
        except ValueError as exc:
            raise BadRequestError(f"block ({bx},{by},{bz}) does not decode: {exc}") from None
        if arr.shape != shape:
            raise BadRequestError(
                f"block ({bx},{by},{bz}) is {arr.shape[::-1]} voxels, "
                f"the instance uses {shape[::-1]}"
            )
        decoded.append(((bz, by, bx), arr))
    inst.put_blocks(decoded, scale, downres=call.flag("downres"))
    return Response(b"")


def routes() -> list[Route]:
    """The labelmap route table."""
    raw0 = partial(vx.get_raw, encode3d=encode_volume)
    raw0.__name__ = "get_raw"  # type: ignore[attr-defined]
    iso0 = partial(vx.get_raw, isotropic=True, encode3d=encode_volume)
    iso0.__name__ = "get_isotropic"  # type: ignore[attr-defined]
    raw, iso = with_supervoxels(raw0), with_supervoxels(iso0)
    sv = with_supervoxels
    return [
        Route(
            "raw/" + _GEOM,
            ("GET",),
            raw,
            "3D uint64 labels (compression=lz4|gzip|google|googlegzip) or a 2D PNG",
            produces=OCTET,
        ),
        Route(
            "raw/" + _GEOM + "/{format}",
            ("GET",),
            raw,
            "2D image; 3D: labels as without the segment",
            produces="image/png",
        ),
        Route(
            "raw/" + _GEOM,
            ("POST",),
            vx.post_raw,
            "Write uint64 labels (compression=lz4|gzip)",
            body=OCTET,
        ),
        Route("isotropic/" + _GEOM, ("GET",), iso, "Like raw, 2D rescaled", produces=OCTET),
        Route(
            "isotropic/" + _GEOM + "/{format}",
            ("GET",),
            iso,
            "Like raw, 2D rescaled",
            produces="image/png",
        ),
        Route(
            "blocks/{size:xyz}/{offset:xyz}",
            ("GET",),
            sv(blocks_get),
            "Block stream (compression=lz4|gzip|uncompressed|blocks)",
            produces=OCTET,
        ),
        Route(
            "blocks",
            ("POST",),
            blocks_post,
            "Write a block stream of gzip(label Block)",
            body=OCTET,
        ),
        Route(
            "specificblocks",
            ("GET",),
            sv(specificblocks),
            "Block stream of listed blocks",
            produces=OCTET,
        ),
        Route("label/{coord:xyz}", ("GET",), sv(label), "Label at a point"),
        Route(
            "labels", ("GET",), sv(labels), "Labels at points (JSON body)", body="application/json"
        ),
        Route("maxlabel", ("GET",), maxlabel, "Largest label along the ancestry"),
        Route("nextlabel", ("GET",), nextlabel, "Next label to reserve"),
        Route("nextlabel/{count:int}", ("POST",), nextlabel_post, "Reserve labels"),
        Route("maxlabel/{n:int}", ("POST",), maxlabel_post, "Raise the max label"),
        Route("set-nextlabel/{label:int}", ("POST",), set_nextlabel, "Set the next label"),
        *routes_labels.routes(),
        *routes_mutate.routes(),
        *[
            dataclasses.replace(r, handler=sv(r.handler)) if r.methods == ("GET",) else r
            for r in common_routes("Arbitrary plane (nearest labels)")
        ],
    ]
