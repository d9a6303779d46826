"""Route tables as data, and the one dispatcher that applies DVID's generic rules.

Every endpoint of the server is a :class:`Route`: a path template, methods, a
sync handler taking a :class:`Call`, and whether it mutates. Datatypes return
lists of routes relative to ``/api/node/{uuid}/{data}/``; server, repo and node
endpoints are routes with absolute paths. :func:`dispatch` applies, once for
all of them, in this order:

1. read-only server and ``--token`` for mutating requests;
2. version reference ``{uuid}`` -> repository + node (across all repos);
3. data instance lookup;
4. the locked-node rule (a mutating route on a committed node is refused with
   DVID's message, unless the route says ``locked_ok``);
5. reading the body (size-limited, GET bodies accepted);
6. the handler, in the thread pool, holding the instance lock when it mutates;
7. errors -> DVID's plain-text responses (:mod:`dvidctl.server.errors`).

Unknown query parameters are simply never looked at.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from dvidctl.errors import (
    BadRequestError,
    LockedNodeError,
    PermissionDeniedError,
    ReadOnlyError,
)
from dvidctl.server import convertors
from dvidctl.server.errors import BadAPICallError, PayloadTooLargeError, error_response
from dvidctl.server.json_util import loads_body

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository
    from dvidctl.datatypes.base import Instance
    from dvidctl.server.state import ServerState

Handler = Callable[["Call"], Response]
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_TRUE = frozenset({"true", "1", "yes", "on"})


@dataclass(frozen=True)
class Route:
    """One endpoint.

    Args:
        path: Template; data routes are relative (``key/{key}``), others absolute.
            Convertors: ``{size:xyz}``, ``{dims:dims}``, ``{tl:floats}``, ``{rest:path}``.
        methods: HTTP methods served (``HEAD`` is implied by ``GET``).
        handler: ``handler(call) -> Response``; runs in the thread pool.
        summary: One line for ``/api/openapi.json``.
        mutates: True/False, or None for "every method but GET/HEAD mutates".
        locked_ok: The handler may run on a committed node even when it mutates
            (it enforces its own rule, e.g. ``newversion`` needs a locked parent).
        body: Request body media type for OpenAPI ("" = none).
        produces: Response media type for OpenAPI.
    """

    path: str
    methods: tuple[str, ...]
    handler: Handler
    summary: str = ""
    mutates: bool | None = None
    locked_ok: bool = False
    body: str = ""
    produces: str = "application/json"

    def is_mutation(self, method: str) -> bool:
        """Whether a request with ``method`` on this route changes data."""
        if self.mutates is not None:
            return self.mutates
        return method not in _READS

    def serves(self, method: str) -> bool:
        """Whether ``method`` is accepted (HEAD falls back to GET)."""
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)


@dataclass
class Call:
    """What a handler gets: the request, resolved context, converted params, body."""

    request: Request
    server: ServerState
    params: dict[str, Any]
    body: bytes | bytearray = b""
    repo: Repository | None = None
    node: Node | None = None
    instance: Instance | None = None
    keyword: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.request.method

    @property
    def path(self) -> str:
        """The URL path (for messages)."""
        return self.request.url.path

    @property
    def query(self) -> QueryParams:
        """Query parameters (unknown ones are ignored by never reading them)."""
        return self.request.query_params

    @property
    def headers(self) -> Headers:
        """Request headers."""
        return self.request.headers

    def flag(self, name: str) -> bool:
        """Whether query parameter ``name`` is ``true`` (DVID compares to "true")."""
        return self.query.get(name, "").strip().lower() in _TRUE

    def qint(self, name: str, default: int, lo: int = 0, hi: int = 2**63 - 1) -> int:
        """An integer query parameter in ``[lo, hi]``."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            v = int(raw)
        except ValueError:
            raise BadRequestError(f"query parameter {name}={raw!r} is not an integer") from None
        if not lo <= v <= hi:
            raise BadRequestError(f"query parameter {name}={v} must be between {lo} and {hi}")
        return v

    def json(self, *, default: Any = ..., what: str = "request body") -> Any:
        """The body parsed as JSON; ``default`` when the body is empty (else an error)."""
        if not self.body or not bytes(self.body).strip():
            if default is ...:
                raise BadRequestError(f"{what} must be JSON, got an empty body")
            return default
        return loads_body(self.body, what)

    def json_object(self, *, default: Any = ..., what: str = "request body") -> dict[str, Any]:
        """The body as a JSON object."""
        got = self.json(default=default, what=what)
        if not isinstance(got, dict):
            raise BadRequestError(f"{what} must be a JSON object")
        return got


# ------------------------------------------------------------------ matching
@dataclass(frozen=True)
class _Compiled:
    route: Route
    regex: re.Pattern[str]
    convertors: dict[str, Any]


def compile_routes(routes: list[Route]) -> list[_Compiled]:
    """Compile templates with Starlette's path compiler (and our convertors)."""
    convertors.register()
    out = []
    for r in routes:
        regex, _, convs = compile_path("/" + r.path.lstrip("/"))
        out.append(_Compiled(r, regex, convs))
    return out


def match(
    table: list[_Compiled], path: str, method: str
) -> tuple[Route | None, dict[str, Any], bool]:
    """Find the route for ``path``; returns (route or None, params, path_matched)."""
    path = "/" + path.strip("/")
    path_matched = False
    for c in table:
        m = c.regex.match(path)
        if not m:
            continue
        path_matched = True
        if not c.route.serves(method):
            continue
        params = {k: c.convertors[k].convert(v) for k, v in m.groupdict().items()}
        return c.route, params, True
    return None, {}, path_matched


# ---------------------------------------------------------------- dispatching
def check_write_allowed(server: ServerState, request: Request) -> None:
    """Read-only server and ``--token``: the rules for every mutating request."""
    settings = server.settings
    if settings.read_only:
        raise ReadOnlyError(
            f"Cannot do {request.method} on a read-only server", hint="restart without --read-only"
        )
    if settings.token:
        given = request.query_params.get("admintoken", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip() or given
        if not given or not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise PermissionDeniedError(
                f"{request.method} needs the server's token",
                hint="send 'Authorization: Bearer TOKEN' or ?admintoken=TOKEN",
            )


async def read_body(request: Request, limit: int) -> bytes | bytearray:
    """Read the request body (also for GET) into one buffer, refusing > ``limit`` bytes."""
    headers = request.headers
    cl = headers.get("content-length")
    if cl is None and "transfer-encoding" not in headers:
        return b""
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise BadRequestError(f"bad Content-Length {cl!r}") from None
        if n > limit:
            raise PayloadTooLargeError(f"request body of {n} bytes exceeds the limit of {limit}")
        if n == 0:
            return b""
        buf = bytearray(n)
        pos = 0
        async for chunk in request.stream():
            end = pos + len(chunk)
            if end > n:
                raise BadRequestError("request body is longer than its Content-Length")
            buf[pos:end] = chunk
            pos = end
        if pos != n:
            raise BadRequestError(f"request body ended after {pos} of {n} bytes")
        return buf
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def locked_message(call: Call) -> str:
    """DVID's text for a mutating request on a committed node."""
    assert call.node is not None
    if call.instance is not None:
        return (
            f'Cannot do {call.method} on endpoint "{call.keyword}" of locked node {call.node.uuid}'
        )
    return f"Cannot do {call.method} on locked node {call.node.uuid}"


async def dispatch(
    request: Request,
    server: ServerState,
    route: Route,
    params: dict[str, Any],
    *,
    ref: str | None = None,
    data: str | None = None,
    keyword: str = "",
) -> Response:
    """Run ``route`` for ``request`` with every generic rule applied (see module doc)."""
    try:
        method = request.method
        mutating = route.is_mutation(method)
        if mutating:
            check_write_allowed(server, request)
        call = Call(request, server, params, keyword=keyword)
        if ref is not None:
            call.repo, vid = server.repos.resolve(ref)
            call.node = call.repo.node_by_vid(vid)
        if data is not None:
            assert call.node is not None
            call.instance = call.node.instance(data)
        unversioned = call.instance is not None and call.instance.writable_anywhere
        if mutating and call.node is not None and call.node.locked and not route.locked_ok:
            if not unversioned:  # DVID: unversioned instances skip the locked check
                raise LockedNodeError(locked_message(call))
        call.body = await read_body(request, server.settings.max_body)
        if mutating and call.instance is not None:
            lock = call.instance.lock
            response = await run_in_threadpool(_locked_call, lock, route.handler, call)
        else:
            response = await run_in_threadpool(route.handler, call)
        if method == "HEAD" and "HEAD" not in route.methods:
            response = head_of(response)
        return response
    except Exception as exc:  # noqa: BLE001 - every error becomes a DVID response here
        return error_response(exc, request)


def _locked_call(lock: Any, handler: Handler, call: Call) -> Response:
    with lock:
        return handler(call)


def head_of(response: Response) -> Response:
    """The HEAD form of a GET response: same status and headers, no body."""
    out = Response(b"", status_code=response.status_code)
    out.raw_headers = [h for h in response.raw_headers if h[0] != b"content-length"]
    length = response.headers.get("content-length")
    if length is not None:
        out.raw_headers.append((b"content-length", length.encode()))
    return out


def bad_api_call(call_path: str, name: str, typename: str, host: str) -> BadAPICallError:
    """DVID's error for a keyword a datatype does not serve."""
    return BadAPICallError(
        f'Bad API call ({call_path}) for data "{name}".  '
        f"See API help at http://{host}/api/help/{typename}"
    )


__all__ = [
    "Call",
    "Handler",
    "Route",
    "compile_routes",
    "dispatch",
    "match",
    "read_body",
]
