"""The web console's files: ``GET /`` (the page) and ``GET /console/{name}`` (its modules).

The console is static HTML, CSS and plain ES modules shipped in
``dvidctl/server/static/`` (package data, no build step, nothing from a CDN), and a
client of the public HTTP API like any other. Only the files in that directory
are served, by name: no subdirectories, no path walking. Each answer carries an
ETag and ``Cache-Control: no-cache``, so a browser revalidates and an upgraded
dvidctl is picked up at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from starlette.responses import Response

from dvidctl.errors import KeyNotFoundError
from dvidctl.server.dispatcher import ServerCall as Call

STATIC_PACKAGE = "dvidctl.server"
STATIC_DIR = "static"
INDEX = "index.html"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class Asset:
    """One console file: its bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every servable file of the console, by name (read once)."""
    out: dict[str, Asset] = {}
    root = resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR)
    for entry in root.iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not entry.is_file() or suffix not in _TYPES or name.startswith("."):
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        out[name] = Asset(body, _TYPES[suffix], etag)
    return out


def asset_response(call: Call, name: str) -> Response:
    """The file ``name`` (304 when the browser's copy is current)."""
    asset = assets().get(name)
    if asset is None:
        raise KeyNotFoundError(f"the console has no file {name!r}")
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if call.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def index(call: Call) -> Response:
    """``GET /``: the console page."""
    return asset_response(call, INDEX)


def static_file(call: Call) -> Response:
    """``GET /console/{name}``: one of the console's modules, styles or images."""
    return asset_response(call, str(call.params["name"]))


__all__ = ["Asset", "asset_response", "assets", "index", "static_file"]
