"""Server-level endpoints: help, server info, types, heartbeat, OpenAPI (DVID_API.md §2.1)."""

from __future__ import annotations

import html
import os
import time

from starlette.responses import HTMLResponse, PlainTextResponse, Response

import dvidctl
from dvidctl.datatypes import registry
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Route
from dvidctl.server.dispatcher import ServerCall as Call


def help_page(call: Call) -> Response:
    """``GET /api/help``: an HTML overview linking every compiled type."""
    items = "\n".join(
        f'<li><a href="/api/help/{html.escape(s.name)}">{html.escape(s.name)}</a>: '
        f"{html.escape(s.summary)}</li>"
        for s in registry.specs()
    )
    body = (
        "<!DOCTYPE html><html><head><title>dvidctl API</title></head><body>"
        f"<h1>dvidctl {html.escape(dvidctl.__version__)}: DVID-compatible HTTP API</h1>"
        "<p>Server: <code>/api/server/info</code>, <code>/api/server/types</code>, "
        "<code>/api/repos/info</code>, <code>/api/repo/{uuid}/info</code>, "
        "<code>/api/node/{uuid}/{data}/...</code>. Machine-readable description: "
        '<a href="/api/openapi.json">/api/openapi.json</a>. Web console: '
        '<a href="/">/</a>.</p>'
        f"<h2>Datatypes</h2><ul>{items}</ul></body></html>"
    )
    return HTMLResponse(body)


def type_help(call: Call) -> Response:
    """``GET /api/help/{typename}``: the datatype's plain-text help."""
    spec = registry.get(call.params["typename"])
    return PlainTextResponse(spec.help or spec.summary)


def server_info(call: Call) -> Response:
    """``GET /api/server/info``: a flat object of strings, DVID's keys, plus ``dvidctl Version``.

    ``DVID Version`` (a git describe string in DVID) reads ``dvidctl X.Y.Z``,
    which is how :class:`dvidctl.api.remote.RemoteRepository` recognises dvidctl;
    ``dvidctl Version`` is the bare version for scripts.
    """
    st = call.server
    uptime = time.time() - st.started
    info = {
        "Cores": str(os.cpu_count() or 1),
        "Maximum Cores": str(os.cpu_count() or 1),
        "Datastore Version": "0.11.0",
        "DVID Version": f"dvidctl {dvidctl.__version__}",
        "dvidctl Version": dvidctl.__version__,
        "Storage backend": "rocksdb (rocksdict)",
        "Server time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "Server uptime": f"{uptime:.0f}s",
        "RPC Address": "",
        "Host": f"{st.settings.host}:{st.settings.port}",
        "Note": st.settings.note,
        "TOML location": "",
        "Max Open Files": "-1",
    }
    if st.settings.read_only:  # DVID's AboutJSON (server/server.go) strings
        info["Mode"] = "read only"
    if st.settings.fullwrite:
        info["Mode"] = "allow writes on committed nodes"
    return json_response(info)


def server_types(call: Call) -> Response:
    """``GET /api/server/types``: types of the instances that exist."""
    out: dict[str, str] = {}
    for repo in call.server.repos:
        for rec in repo.instances():
            spec = registry.get(rec.typename)
            out[spec.name] = spec.type_url
    return json_response(out)


def compiled_types(call: Call) -> Response:
    """``GET /api/server/compiled-types``: every registered type."""
    return json_response({s.name: s.type_url for s in registry.specs()})


def heartbeat(call: Call) -> Response:
    """``GET /api/heartbeat``."""
    return PlainTextResponse("OK")


def load(call: Call) -> Response:
    """``GET /api/load``: DVID's load counters (we keep none, so zeros)."""
    keys = (
        "file bytes read",
        "file bytes written",
        "key bytes read",
        "key bytes written",
        "value bytes read",
        "value bytes written",
        "GET requests",
        "handlers active",
        "goroutines",
    )
    return json_response({k: 0 for k in keys})


def openapi(call: Call) -> Response:
    """``GET /api/openapi.json``: written from the route tables."""
    from dvidctl.server.openapi import openapi_document

    return json_response(openapi_document(call.server))


ROUTES = [
    Route("/api/help", ("GET",), help_page, "HTML overview of the API", produces="text/html"),
    Route("/api/help/", ("GET",), help_page, "HTML overview of the API", produces="text/html"),
    Route(
        "/api/help/{typename}",
        ("GET",),
        type_help,
        "Plain-text help of a datatype",
        produces="text/plain",
    ),
    Route("/api/server/info", ("GET",), server_info, "Server information (all values strings)"),
    Route("/api/server/types", ("GET",), server_types, "Types of existing data instances"),
    Route("/api/server/compiled-types", ("GET",), compiled_types, "Every datatype compiled in"),
    Route("/api/heartbeat", ("GET",), heartbeat, "Liveness: OK", produces="text/plain"),
    Route("/api/load", ("GET",), load, "Load counters"),
    Route("/api/openapi.json", ("GET",), openapi, "This OpenAPI document"),
]
