"""roi HTTP routes (DVID_API.md §7), mounted under ``/api/node/{uuid}/{name}/``."""

from __future__ import annotations

import numpy as np
from starlette.responses import Response

from dvidctl.datatypes.roi.ops import ROI
from dvidctl.datatypes.roi.spans import parse_point_list
from dvidctl.errors import BadRequestError
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.params import box3d
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import OCTET, buffer_response


def _roi(call: Call) -> ROI:
    inst = call.instance
    assert isinstance(inst, ROI)
    return inst


def roi_get(call: Call) -> Response:
    """``GET roi``: ``[[z, y, x0, x1], ...]`` in block coordinates."""
    return json_response(_roi(call).get_spans())


def roi_post(call: Call) -> Response:
    """``POST roi``: replace the ROI at this node with the body's spans."""
    body = call.json(what="roi body")
    _roi(call).put_spans([] if body is None else body)  # Go reads null as no spans
    return Response(b"")


def roi_delete(call: Call) -> Response:
    """``DELETE roi``."""
    _roi(call).delete()
    return Response(b"")


def mask(call: Call) -> Response:
    """``GET mask/0_1_2/{size}/{offset}``: uint8 ZYX, 1 inside."""
    if call.params["dims"] != "xyz":
        raise BadRequestError("roi mask supports only 3D requests (0_1_2)")
    box = box3d(call.params["size"], call.params["offset"], limit=call.limits.max_response)
    return buffer_response(_roi(call).mask(box), OCTET)


def ptquery(call: Call) -> Response:
    """``POST ptquery``: ``[[x,y,z],...]`` -> ``[true, false, ...]`` (not a mutation)."""
    body = call.json(what="ptquery body")
    pts = parse_point_list([] if body is None else body, "ptquery body")  # null: no points
    inside = _roi(call).contains_points(pts)
    return json_response([bool(v) for v in np.asarray(inside)])


def partition(call: Call) -> Response:
    """``GET partition?batchsize=8[&optimized=true]``."""
    batch = call.qint("batchsize", 8, 1, 1 << 16)
    return json_response(_roi(call).partition(batch, call.flag("optimized")))


def routes() -> list[Route]:
    """The roi route table."""
    return [
        Route("roi", ("GET",), roi_get, "Spans [[z, y, x0, x1], ...] in block coordinates"),
        Route(
            "roi", ("POST",), roi_post, "Replace the ROI with these spans", body="application/json"
        ),
        Route("roi", ("DELETE",), roi_delete, "Delete every span"),
        Route(
            "mask/{dims:dims}/{size:xyz}/{offset:xyz}",
            ("GET",),
            mask,
            "uint8 mask of a 3D box (1 inside)",
            produces=OCTET,
        ),
        Route(
            "ptquery",
            ("POST",),
            ptquery,
            "Which points are inside",
            mutates=False,
            body="application/json",
        ),
        Route("partition", ("GET",), partition, "Subvolumes covering the ROI"),
    ]
