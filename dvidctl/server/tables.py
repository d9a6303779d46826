"""Per-datatype route tables: the routes every instance has, plus the type's own.

A datatype supplies its routes as data: ``spec.extras["routes"]`` (a list or a
callable returning one), or else a ``routes`` module in its package exposing
``routes() -> list[Route]``. The server mounts them under
``/api/node/{uuid}/{data}/`` and compiles each table once.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from starlette.responses import PlainTextResponse, Response

from dvidctl.api.instances import update_instance
from dvidctl.datatypes import registry
from dvidctl.datatypes.registry import DatatypeSpec
from dvidctl.errors import BadRequestError
from dvidctl.server.dispatcher import Call, Route, _Compiled, compile_routes
from dvidctl.server.json_util import json_response


def help_text(call: Call) -> Response:
    """``GET .../help``."""
    assert call.instance is not None
    spec = call.instance.spec
    return PlainTextResponse(spec.help or spec.summary)


def info(call: Call) -> Response:
    """``GET .../info``: ``{Base, Extended[, Extents]}`` at this node."""
    assert call.instance is not None
    return json_response(call.instance.info())


def tags_get(call: Call) -> Response:
    """``GET .../tags``."""
    assert call.instance is not None
    return json_response(dict(call.instance.record.tags))


def tags_post(call: Call) -> Response:
    """``POST .../tags[?replace=true]``: merge (or replace) string tags."""
    assert call.instance is not None and call.repo is not None
    body = call.json_object()
    if not all(isinstance(v, str) for v in body.values()):
        raise BadRequestError("tags must be a JSON object of strings")
    rec = call.instance.record
    tags: dict[str, Any] = {} if call.flag("replace") else dict(rec.tags)
    tags.update(body)
    rec.tags = tags
    update_instance(call.repo, rec)
    return Response(b"")


COMMON = [
    Route(
        "help",
        ("GET",),
        help_text,
        "Plain-text help of this instance's type",
        produces="text/plain",
    ),
    Route("info", ("GET",), info, "Instance JSON (Base, Extended)"),
    Route("tags", ("GET",), tags_get, "Instance tags"),
    # Tags are instance metadata, not versioned data: allowed on committed nodes, as DVID.
    Route(
        "tags",
        ("POST",),
        tags_post,
        "Merge or replace instance tags",
        locked_ok=True,
        body="application/json",
    ),
]

_CACHE: dict[str, list[_Compiled]] = {}
_LOCK = threading.Lock()


def type_routes(spec: DatatypeSpec) -> list[Route]:
    """The routes a datatype declares (without the common ones)."""
    found = spec.extras.get("routes")
    if found is None:
        package = spec.instance_class.__module__.rsplit(".", 1)[0]
        try:
            module = importlib.import_module(package + ".routes")
        except ModuleNotFoundError as exc:
            if exc.name != package + ".routes":
                raise
            return []
        found = getattr(module, "routes", None) or getattr(module, "ROUTES", [])
    return list(found() if callable(found) else found)


def all_routes(spec: DatatypeSpec) -> list[Route]:
    """Common routes followed by the type's own."""
    return COMMON + type_routes(spec)


def table(typename: str) -> list[_Compiled]:
    """The compiled table of a type (cached)."""
    spec = registry.get(typename)
    with _LOCK:
        got = _CACHE.get(spec.name)
        if got is None:
            got = _CACHE[spec.name] = compile_routes(all_routes(spec))
        return got
