"""labelmap HTTP routes for labels, indexes and sparse volumes (DVID_API.md §6.4-6.6).

Each handler parses the request, calls one :class:`~.ops.LabelMap` method and
formats the answer in DVID's format. A label without voxels is a 404, as DVID.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from starlette.responses import Response

from dvidctl.datatypes.imageblk import handlers as vx
from dvidctl.datatypes.imageblk.wire import gzip_bytes, lz4_payload
from dvidctl.datatypes.labelmap.indexproto import (
    decode_index,
    decode_indices,
    encode_index,
    encode_indices,
)
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.datatypes.labelmap.mutlog import encode_dvid_history
from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.datatypes.labelmap.sparsevol import (
    block_bounds_filter,
    block_runs,
    encode_binary_blocks,
    encode_coarse_spans,
    encode_rles,
    index_targets,
)
from dvidctl.errors import BadRequestError, KeyNotFoundError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import OCTET

_JSON = "application/json"
_MAX_LIST = 10_000_000


def _lm(call: Call) -> LabelMap:
    inst = call.instance
    assert isinstance(inst, LabelMap)
    return inst


def _sv(call: Call) -> bool:
    return call.flag("supervoxels")


def _label_list(call: Call, what: str) -> list[int]:
    got = call.json(what=what)
    if not isinstance(got, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in got
    ):
        raise BadRequestError(f"{what} must be a JSON list of labels (uint64)")
    return got


def bounds_of(call: Call) -> Box | None:
    """``minx..maxz`` (inclusive) as a ZYX box, or None when none is given."""
    names = ("minz", "miny", "minx", "maxz", "maxy", "maxx")
    if not any(call.query.get(n) for n in names):
        return None
    lo = [call.qint(n, INT32_MIN, INT32_MIN, INT32_MAX) for n in names[:3]]
    hi = [call.qint(n, INT32_MAX - 1, INT32_MIN, INT32_MAX - 1) + 1 for n in names[3:]]
    return Box((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]))


def _compress(call: Call, body: bytes) -> Response:
    comp = call.query.get("compression", "").lower()
    if comp in ("", "none"):
        return Response(body, media_type=OCTET)
    if comp == "lz4":
        return Response(lz4_payload(body, with_size=False), media_type=OCTET)
    if comp == "gzip":
        return Response(gzip_bytes(body), media_type=OCTET)
    raise BadRequestError(f"compression {comp!r} is not one of lz4, gzip")


# ------------------------------------------------------------- sparse volumes
def sparsevol(call: Call) -> Response:
    """``GET|HEAD sparsevol/{label}``: legacy RLE (``format=rles|srles|blocks``)."""
    inst, label = _lm(call), call.params["label"]
    scale = vx.scale_of(call, inst)
    bounds = bounds_of(call)
    if call.method == "HEAD":
        try:
            if bounds is None:  # existence is the index's: no block is read
                inst.size(label, supervoxels=_sv(call))
                return Response(b"", status_code=200)
            runs = inst.sparsevol(label, scale=scale, supervoxels=_sv(call), bounds=bounds)
        except KeyNotFoundError:
            return Response(b"", status_code=204)
        return Response(b"", status_code=200 if len(runs.lengths) else 204)
    fmt = call.query.get("format", "rles").lower()
    if fmt == "blocks":
        idx = inst._index_or_404(label, _sv(call))
        targets = index_targets(idx.blocks, idx.svs, idx.counts, scale, inst.block_shape, bounds)
        body = encode_binary_blocks(inst.blocks, targets, scale, label, bounds)
        return Response(body, media_type=OCTET)
    if fmt not in ("rles", "srles"):
        raise BadRequestError(f"format {fmt!r} is not one of rles, srles, blocks")
    runs = inst.sparsevol(label, scale=scale, supervoxels=_sv(call), bounds=bounds)
    if not len(runs.lengths):
        raise KeyNotFoundError(f"label {label} has no voxels within the bounds")
    return _compress(call, encode_rles(runs, header=fmt == "rles"))


def sparsevol_by_point(call: Call) -> Response:
    """``GET sparsevol-by-point/{x_y_z}``: the sparse volume of the label there."""
    inst = _lm(call)
    pt = call.params["coord"]
    if len(pt) != 3:
        raise BadRequestError(f"sparsevol-by-point needs a point x_y_z, got {pt}")
    view = inst.supervoxel_view() if _sv(call) else inst
    label = view.label_at(pt)
    if label == 0:
        raise KeyNotFoundError(f"no label at {pt}")
    runs = inst.sparsevol(label, supervoxels=_sv(call), bounds=bounds_of(call))
    return _compress(call, encode_rles(runs))


def sparsevol_coarse(call: Call) -> Response:
    """``GET sparsevol-coarse/{label}``: RLE of block coordinates."""
    runs = _lm(call).sparsevol_coarse(
        call.params["label"], supervoxels=_sv(call), bounds=bounds_of(call)
    )
    return Response(encode_rles(runs), media_type=OCTET)


def sparsevols_coarse(call: Call) -> Response:
    """``GET sparsevols-coarse/{start}/{end}``: per label, u64 label, i32 #spans, spans."""
    inst = _lm(call)
    start, end = call.params["start"], call.params["end"]
    if end < start:
        raise BadRequestError(f"end label {end} is before start label {start}")
    bounds = bounds_of(call)
    out = []
    for label, raw in inst.labelstore.indexed_labels(start, end + 1 if end < 2**64 - 1 else None):
        coords = LabelIndex.decode(raw).block_coords()
        if bounds is not None:
            coords = block_bounds_filter(coords, inst.block_shape, bounds)
        if not len(coords):
            continue
        runs = block_runs(coords)
        out.append(struct.pack("<Qi", label, len(runs.lengths)) + encode_coarse_spans(runs))
    return Response(b"".join(out), media_type=OCTET)


def sparsevol_size(call: Call) -> Response:
    """``GET sparsevol-size/{label}``."""
    return json_response(_lm(call).sparsevol_size(call.params["label"], supervoxels=_sv(call)))


# ---------------------------------------------------------------- sizes etc.
def size(call: Call) -> Response:
    """``GET size/{label}``: ``{"voxels": n}``."""
    return json_response({"voxels": _lm(call).size(call.params["label"], supervoxels=_sv(call))})


def sizes(call: Call) -> Response:
    """``GET sizes`` (JSON body of labels): ``[n1, n2, ...]``."""
    labels = _label_list(call, "sizes body")
    return json_response(_lm(call).sizes(labels, supervoxels=_sv(call)))


def supervoxels(call: Call) -> Response:
    """``GET supervoxels/{label}``: ``[sv, ...]``."""
    return json_response(_lm(call).supervoxels(call.params["label"]).tolist())


def supervoxel_sizes(call: Call) -> Response:
    """``GET supervoxel-sizes/{label}``: ``{"supervoxels": [...], "sizes": [...]}``."""
    svs, n = _lm(call).supervoxel_sizes(call.params["label"])
    return json_response({"supervoxels": svs.tolist(), "sizes": n.tolist()})


def mapping(call: Call) -> Response:
    """``GET mapping`` (JSON body of supervoxels): their bodies (0: missing or retired)."""
    svs = _label_list(call, "mapping body")
    got = _lm(call).mapping(svs, lookup=not call.flag("nolookup"))
    return json_response(got.tolist())


def mappings(call: Call) -> Response:
    """``GET mappings``: ``"sv body\\n"`` lines, or ``format=binary`` uint64 LE pairs."""
    svs, bodies = _lm(call).mappings()
    if call.query.get("format", "") == "binary":
        return Response(np.stack([svs, bodies], axis=1).astype("<u8").tobytes(), media_type=OCTET)
    text = "".join(f"{a} {b}\n" for a, b in zip(svs.tolist(), bodies.tolist(), strict=True))
    return Response(text.encode(), media_type="text/plain")


def mappings_post(call: Call) -> Response:
    """``POST mappings``: a ``MappingOps`` protobuf, stored as given (indexes regrouped)."""
    from dvidctl.datatypes.labelmap.mappingops import decode_mapping_ops

    _lm(call).put_mappings(*decode_mapping_ops(call.body))
    return Response(b"")


def listlabels(call: Call) -> Response:
    """``GET listlabels[?start=&number=&sizes=true]``: uint64 LE labels (or label, size)."""
    start = call.qint("start", 0, 0, 2**64 - 1)
    number = call.qint("number", _MAX_LIST, 1, _MAX_LIST)
    labels, n = _lm(call).list_labels(start, number)
    if call.flag("sizes"):
        return Response(np.stack([labels, n], axis=1).astype("<u8").tobytes(), media_type=OCTET)
    return Response(labels.astype("<u8").tobytes(), media_type=OCTET)


def index(call: Call) -> Response:
    """``GET index/{label}``: protobuf ``LabelIndex`` (``metadata-only=true``: JSON)."""
    inst, label = _lm(call), call.params["label"]
    idx = inst.index(label)
    if idx is None:
        raise KeyNotFoundError(f"label {label} has no index in {inst.name!r}")
    if call.flag("metadata-only"):
        return json_response(
            {
                "num_voxels": idx.num_voxels,
                "last_mutid": idx.last_mutid,
                "last_mod_time": idx.last_mod_time,
                "last_mod_user": idx.last_mod_user,
                "last_mod_app": idx.last_mod_app,
            }
        )
    return Response(encode_index(idx), media_type=OCTET)


def indices(call: Call) -> Response:
    """``GET indices`` (JSON body of labels): protobuf ``LabelIndices`` of those that exist."""
    labels = _label_list(call, "indices body")
    if len(labels) > 50_000:
        raise BadRequestError("at most 50,000 labels per indices request")
    got = [i for i in _lm(call).indices(labels) if i is not None]
    return Response(encode_indices(got), media_type=OCTET)


def index_post(call: Call) -> Response:
    """``POST index/{label}``: store a protobuf ``LabelIndex`` (empty ``blocks``: delete)."""
    idx = decode_index(call.body)
    idx.label = call.params["label"]
    _lm(call).put_indexes([idx])
    return Response(b"")


def indices_post(call: Call) -> Response:
    """``POST indices``: store protobuf ``LabelIndices`` (each by its ``label``) at once."""
    _lm(call).put_indexes(decode_indices(call.body))
    return Response(b"")


def lastmod(call: Call) -> Response:
    """``GET lastmod/{label}``."""
    return json_response(_lm(call).last_mod(call.params["label"]))


def mutations(call: Call) -> Response:
    """``GET mutations[?userid=]``: the mutation records made at this node."""
    got: list[dict[str, Any]] = _lm(call).mutations()
    user = call.query.get("userid")
    if user:
        got = [r for r in got if r.get("User") == user]
    return json_response(got)


def history(call: Call) -> Response:
    """``GET history/{label}/{from}/{to}``: DVID's mutation history of a label between two
    versions, in DVID's exact format (:func:`.mutlog.encode_dvid_history`)."""
    inst = _lm(call)
    label = call.params["label"]
    if label == 0:
        raise BadRequestError(
            "Label 0 is protected background value and cannot be used as sparse volume."
        )
    to = call.node_for(call.params["to"]).instance(inst.name)
    since = call.node_for(call.params["from"]).instance(inst.name)
    body = encode_dvid_history(to.dvid_history(label, since))
    return Response(body, media_type="text/plain; charset=utf-8")


def routes() -> list[Route[Any]]:
    """Label, index and sparse-volume routes."""
    get = ("GET",)
    return [
        Route(
            "sparsevol/{label:int}",
            ("GET", "HEAD"),
            sparsevol,
            "Sparse volume (RLE)",
            produces=OCTET,
        ),
        Route(
            "sparsevol-by-point/{coord:xyz}",
            get,
            sparsevol_by_point,
            "Sparse volume of the label at a point",
            produces=OCTET,
        ),
        Route(
            "sparsevol-coarse/{label:int}",
            get,
            sparsevol_coarse,
            "Sparse volume in block coordinates",
            produces=OCTET,
        ),
        Route(
            "sparsevols-coarse/{start:int}/{end:int}",
            get,
            sparsevols_coarse,
            "Coarse sparse volumes of a label range",
            produces=OCTET,
        ),
        Route("sparsevol-size/{label:int}", get, sparsevol_size, "Voxels, blocks and bounds"),
        Route("size/{label:int}", get, size, "Voxels of a label"),
        Route("sizes", get, sizes, "Voxels of labels (JSON body)", body=_JSON),
        Route("supervoxels/{label:int}", get, supervoxels, "Supervoxels of a body"),
        Route("supervoxel-sizes/{label:int}", get, supervoxel_sizes, "Supervoxel sizes"),
        Route("mapping", get, mapping, "Bodies of supervoxels (JSON body)", body=_JSON),
        Route("mappings", get, mappings, "Every non-identity mapping"),
        Route("mappings", ("POST",), mappings_post, "Store mappings (protobuf)", body=OCTET),
        Route("listlabels", get, listlabels, "Labels with voxels", produces=OCTET),
        Route("index/{label:int}", get, index, "Label index (protobuf)", produces=OCTET),
        Route("indices", get, indices, "Label indexes (protobuf)", body=_JSON, produces=OCTET),
        Route("index/{label:int}", ("POST",), index_post, "Store a label index", body=OCTET),
        Route("indices", ("POST",), indices_post, "Store label indexes", body=OCTET),
        Route("lastmod/{label:int}", get, lastmod, "Last mutation of a body"),
        Route("mutations", get, mutations, "Mutations at this node"),
        Route("history/{label:int}/{from}/{to}", get, history, "Mutations naming a label"),
    ]
