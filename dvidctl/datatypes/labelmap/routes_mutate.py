"""labelmap HTTP routes for mutations and label allocation (DVID_API.md §6.4).

Request and response JSON are DVID's; every refused mutation is a 400 with
nothing written. ``u=`` and ``app=`` name who made a mutation (DVID's ModInfo).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dvidctl.datatypes.labelmap.mutlog import ModInfo, supervoxel_splits
from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.datatypes.labelmap.sparsevol import decode_rles
from dvidctl.errors import BadRequestError
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import OCTET

_JSON = "application/json"


def _lm(call: Call) -> LabelMap:
    inst = call.instance
    assert isinstance(inst, LabelMap)
    return inst


def _info(call: Call) -> ModInfo:
    return ModInfo(call.query.get("u", ""), call.query.get("app", ""))


def _ints(call: Call, what: str) -> list[int]:
    got = call.json(what=what)
    if not isinstance(got, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in got
    ):
        raise BadRequestError(f"{what} must be a JSON list of labels (uint64)")
    return got


def merge(call: Call) -> Response:
    """``POST merge`` ``[to, from1, from2, ...]`` -> ``{"MutationID": n}``."""
    labels = _ints(call, "merge body")
    if len(labels) < 2:
        raise BadRequestError("a merge body is [target, label1, label2, ...]")
    mutid = _lm(call).merge(labels[0], labels[1:], _info(call))
    return json_response({"MutationID": mutid})


def cleave(call: Call) -> Response:
    """``POST cleave/{label}`` ``[sv1, sv2, ...]`` -> ``{"CleavedLabel": n, "MutationID": m}``."""
    svs = _ints(call, "cleave body")
    new, mutid = _lm(call).cleave(call.params["label"], svs, _info(call))
    return json_response({"CleavedLabel": new, "MutationID": mutid})


def split(call: Call) -> Response:
    """``POST split/{label}`` (legacy RLE body) -> ``{"label": new, "MutationID": m}``."""
    new, mutid = _lm(call).split(call.params["label"], decode_rles(call.body), _info(call))
    return json_response({"label": new, "MutationID": mutid})


def split_supervoxel(call: Call) -> Response:
    """``POST split-supervoxel/{sv}[?split=&remain=&downres=false]`` (legacy RLE body)."""
    runs = decode_rles(call.body)
    a, b, mutid = _lm(call).split_supervoxel(
        call.params["label"],
        runs,
        _info(call),
        split_id=call.qint("split", 0, 0, 2**64 - 1),
        remain_id=call.qint("remain", 0, 0, 2**64 - 1),
        downres=call.query.get("downres", "") != "false",
    )
    return json_response({"SplitSupervoxel": a, "RemainSupervoxel": b, "MutationID": mutid})


def supervoxel_splits_(call: Call) -> Response:
    """``GET supervoxel-splits``: ``[uuid, [[mutid, old, remain, split], ...], ...]``."""
    return json_response(supervoxel_splits(_lm(call)))


def renumber(call: Call) -> Response:
    """``POST renumber`` ``[new1, old1, new2, old2, ...]``."""
    _lm(call).renumber(_ints(call, "renumber body"), _info(call))
    return Response(b"")


def reindex(call: Call) -> Response:
    """``POST reindex`` (dvidctl): recompute every label index -> ``{"written": n}``."""
    return json_response({"written": _lm(call).reindex()})


def routes() -> list[Route[Any]]:
    """Mutation routes."""
    post = ("POST",)
    return [
        Route("merge", post, merge, "Merge bodies [to, from...]", body=_JSON),
        Route("cleave/{label:int}", post, cleave, "Cleave supervoxels off a body", body=_JSON),
        Route("split/{label:int}", post, split, "Split voxels (RLE) off a body", body=OCTET),
        Route(
            "split-supervoxel/{label:int}", post, split_supervoxel, "Split a supervoxel", body=OCTET
        ),
        Route(
            "supervoxel-splits", ("GET",), supervoxel_splits_, "Supervoxel splits, nearest first"
        ),
        Route("renumber", post, renumber, "Renumber bodies [new, old, ...]", body=_JSON),
        Route("reindex", post, reindex, "Recompute every label index (dvidctl)"),
    ]
