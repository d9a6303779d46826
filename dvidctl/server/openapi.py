"""``/api/openapi.json``: an OpenAPI 3.1 description written from the route tables.

The server, repo and node tables give absolute paths; each registered datatype's
table is mounted under ``/api/node/{uuid}/{<typename>}/`` (the data instance
path parameter is named after the type, so paths of different types stay
distinct). Convertor annotations become parameter schemas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import dvidctl
from dvidctl.datatypes import registry
from dvidctl.httpkit.routing import Route

if TYPE_CHECKING:
    from dvidctl.server.state import ServerState

_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")
_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "path": {"type": "string"},
    "int": {"type": "integer"},
    "xyz": {"type": "string", "pattern": r"^-?\d+(_-?\d+){1,2}$", "examples": ["64_64_64"]},
    "floats": {"type": "string", "pattern": r"^[-+\d.eE]+(_[-+\d.eE]+){2}$"},
    "dims": {
        "type": "string",
        "enum": ["xy", "xz", "yz", "0_1", "0_2", "1_2", "0_1_2", "xyz", "vol"],
    },
}
_DESCRIPTIONS = {
    "uuid": "Version: a unique UUID prefix, PREFIX:BRANCH, :BRANCH, a tag, or any of those ~N",
}


def _path_and_params(path: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for name, conv in _PARAM.findall(path):
        p: dict[str, Any] = {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _SCHEMAS.get(conv or "str", {"type": "string"}),
        }
        if name in _DESCRIPTIONS:
            p["description"] = _DESCRIPTIONS[name]
        params.append(p)
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path), params


def _operation(route: Route, method: str, params: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary or route.handler.__name__,
        "operationId": f"{tag}.{route.handler.__name__}.{method.lower()}",
        "tags": [tag],
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "content": {route.produces: {}}},
            "400": {"description": "Bad request (plain text)", "content": {"text/plain": {}}},
        },
        "x-dvid-mutates": route.is_mutation(method),
        "x-dvid-locked-ok": route.locked_ok,
    }
    if route.body:
        op["requestBody"] = {"required": method != "GET", "content": {route.body: {}}}
    return op


def _add(
    paths: dict[str, Any], route: Route, full: str, tag: str, extra: list[dict[str, Any]]
) -> None:
    path, params = _path_and_params(full)
    params = extra + [p for p in params if p["name"] not in {e["name"] for e in extra}]
    item = paths.setdefault(path, {})
    for method in route.methods:
        item[method.lower()] = _operation(route, method, params, tag)


def openapi_document(state: ServerState | None = None) -> dict[str, Any]:
    """The whole API as an OpenAPI 3.1 document."""
    from dvidctl.server.app import absolute_routes
    from dvidctl.server.tables import all_routes

    paths: dict[str, Any] = {}
    for r in absolute_routes():
        parts = r.path.split("/")
        tag = parts[2] if parts[1] == "api" and len(parts) > 2 else parts[1] or "console"
        _add(paths, r, r.path, tag, [])
    for spec in registry.specs():
        inst = {
            "name": spec.name,
            "in": "path",
            "required": True,
            "description": f"Name of a {spec.name} data instance",
            "schema": {"type": "string"},
        }
        for r in all_routes(spec):
            full = "/api/node/{uuid}/{" + spec.name + "}/" + r.path
            _add(paths, r, full, spec.name, [])
            # Put the instance parameter right after uuid.
            path, _ = _path_and_params(full)
            for op in paths[path].values():
                names = [p["name"] for p in op["parameters"]]
                if spec.name in names:
                    op["parameters"][names.index(spec.name)] = inst
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dvidctl (DVID-compatible HTTP API)",
            "version": dvidctl.__version__,
            "description": "Errors are plain text, mostly 400, as DVID gives them. Mutating "
            "requests need the server token when one is set.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
