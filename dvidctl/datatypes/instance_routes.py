"""The HTTP routes every data instance serves, whatever its type: help, info, tags."""

from __future__ import annotations

from starlette.responses import PlainTextResponse, Response

from dvidctl.datatypes.base import Instance
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Call, Route


def _inst(call: Call) -> Instance:
    inst = call.instance
    assert isinstance(inst, Instance)
    return inst


def help_text(call: Call) -> Response:
    """``GET .../help``."""
    spec = _inst(call).spec
    return PlainTextResponse(spec.help or spec.summary)


def info(call: Call) -> Response:
    """``GET .../info``: ``{Base, Extended[, Extents]}`` at this node."""
    return json_response(_inst(call).info())


def tags_get(call: Call) -> Response:
    """``GET .../tags``: DVID's ``{"Tags": {...}}`` (``null`` before any tag is set)."""
    return json_response({"Tags": dict(_inst(call).record.tags) or None})


def tags_post(call: Call) -> Response:
    """``POST .../tags[?replace=true]``: merge (or replace) string tags (empty body: none)."""
    _inst(call).set_tags(call.json_object(default={}), replace=call.flag("replace"))
    return Response(b"")


ROUTES: list[Route[Call]] = [
    Route(
        "help",
        ("GET",),
        help_text,
        "Plain-text help of this instance's type",
        produces="text/plain",
    ),
    Route("info", ("GET",), info, "Instance JSON (Base, Extended)"),
    Route("tags", ("GET",), tags_get, "Instance tags"),
    # DVID's generic tags handlers (datastore.SetTagsByJSON / MarshalJSONTags): a POST is a
    # mutation like any other (datainstance.go IsMutationRequest), so a committed node refuses
    # it for a versioned instance.
    Route(
        "tags",
        ("POST",),
        tags_post,
        "Merge or replace instance tags",
        body="application/json",
    ),
]
