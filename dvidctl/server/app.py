"""The ASGI application: Starlette routes built from the route tables.

``create_app(state)`` mounts the server, repo and node tables (absolute paths)
and one catch-all per data instance URL, ``/api/node/{uuid}/{data}/{rest:path}``,
which looks the instance's type up, matches ``rest`` against the type's table
and hands over to :func:`dvidctl.server.dispatcher.dispatch`. A small ASGI
middleware adds CORS headers to every response, answers preflights, and logs
one line per request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dvidctl.errors import BadRequestError
from dvidctl.httpkit import convertors
from dvidctl.httpkit.routing import Route, match
from dvidctl.server import (
    routes_console,
    routes_node,
    routes_repo,
    routes_server,
    routes_sync,
    tables,
)
from dvidctl.server.dispatcher import bad_api_call, dispatch
from dvidctl.server.errors import error_response, not_found_response
from dvidctl.server.state import ServerState

log = logging.getLogger("dvidctl.server")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]


def absolute_routes(*, sync_api: bool = True) -> list[Route]:
    """Every server, repo, node and console route (absolute paths), and the sync family
    unless it is off."""
    out = routes_server.ROUTES + routes_repo.ROUTES + routes_node.ROUTES + routes_console.ROUTES
    return out + routes_sync.ROUTES if sync_api else out


def _endpoint(route: Route, state: ServerState) -> Any:
    async def endpoint(request: Request) -> Response:
        params = dict(request.path_params)
        ref = params.pop("uuid", None)
        return await dispatch(request, state, route, params, ref=ref)

    return endpoint


def _data_endpoint(state: ServerState) -> Any:
    async def endpoint(request: Request) -> Response:
        p = request.path_params
        ref, name, rest = p["uuid"], p["data"], p.get("rest", "")
        try:
            repo, _ = state.repos.resolve(ref)
            rec = repo.instance_record(name)
            keyword = rest.strip("/").split("/", 1)[0]
            if not keyword:
                raise bad_api_call(request.url.path, name, rec.typename, request.url.netloc)
            route, params, path_ok = match(tables.table(rec.typename), rest, request.method)
            if route is None:
                if path_ok:
                    raise BadRequestError(
                        f'{keyword} endpoint does not support "{request.method}" HTTP verb'
                    )
                raise bad_api_call(request.url.path, name, rec.typename, request.url.netloc)
        except Exception as exc:  # noqa: BLE001
            return error_response(exc, request)
        return await dispatch(request, state, route, params, ref=ref, data=name, keyword=keyword)

    return endpoint


def starlette_routes(state: ServerState) -> list[BaseRoute]:
    """Starlette routes for ``state`` (absolute tables, then the data catch-all)."""
    convertors.register()
    out: list[BaseRoute] = []
    for r in absolute_routes(sync_api=state.settings.sync_api):
        out.append(StarletteRoute(r.path, _endpoint(r, state), methods=list(r.methods)))
    data = _data_endpoint(state)
    out.append(StarletteRoute("/api/node/{uuid}/{data}", data, methods=ALL_METHODS))
    out.append(StarletteRoute("/api/node/{uuid}/{data}/{rest:path}", data, methods=ALL_METHODS))
    return out


class ServerMiddleware:
    """CORS on every response, preflight answers, one log line per request.

    The server answers as soon as it listens: its own routes need no datatype. After
    the first response, the datatypes and their route tables load in a thread, so the
    first data request does not pay for them (loading them before the first answer
    would only delay it: the loading thread holds the GIL).
    """

    def __init__(self, app: ASGIApp, cors: tuple[str, ...] = ("*",)) -> None:
        self.app = app
        self.cors = cors
        self._warm = threading.Event()

    def _origin(self, scope: Scope) -> bytes | None:
        if "*" in self.cors:
            return b"*"
        for k, v in scope.get("headers", []):
            if k == b"origin" and v.decode("latin-1") in self.cors:
                return bytes(v)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        origin = self._origin(scope)
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            cors = [
                (b"access-control-allow-origin", origin),
                (
                    b"access-control-expose-headers",
                    b"Content-Range, Content-Encoding, Content-Length, Accept-Ranges",
                ),
            ]
            if origin != b"*":
                cors.append((b"vary", b"Origin"))
        info = {"status": 0, "bytes": 0}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + cors
            elif message["type"] == "http.response.body":
                info["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            if scope["method"] == "OPTIONS":
                await self._preflight(scope, receive, send_wrapped)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:
            if not self._warm.is_set():
                self._warm.set()
                threading.Thread(target=tables.load_all, name="dvidctl-warm", daemon=True).start()
            client = scope.get("client") or ("-", 0)
            qs = scope.get("query_string", b"")
            path = scope["path"] + ("?" + qs.decode("latin-1") if qs else "")
            log.info(
                '%s "%s %s" %d %d %.1fms',
                client[0],
                scope["method"],
                path,
                info["status"],
                info["bytes"],
                (time.perf_counter() - t0) * 1000,
            )

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, HEAD, OPTIONS"),
            (
                b"access-control-allow-headers",
                b"Authorization, Content-Type, Range, Content-Encoding, Accept-Encoding",
            ),
            (b"access-control-max-age", b"600"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def create_app(state: ServerState) -> ASGIApp:
    """The ASGI app serving ``state`` (repositories are closed at shutdown)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    async def not_found(request: Request, exc: Exception) -> Response:
        return not_found_response(request)

    async def bad_method(request: Request, exc: Exception) -> Response:
        err = BadRequestError(f"{request.method} is not supported by {request.url.path}")
        return error_response(err, request)

    app = Starlette(
        routes=starlette_routes(state),
        exception_handlers={404: not_found, 405: bad_method},
        lifespan=lifespan,
    )
    app.state.dvid = state
    return ServerMiddleware(app, state.settings.cors)
