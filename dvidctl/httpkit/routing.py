"""Route tables as data, and the :class:`Call` every handler receives.

Every endpoint is a :class:`Route`: a path template, methods, a sync handler
taking a :class:`Call`, and whether it mutates. Datatypes declare routes
relative to ``/api/node/{uuid}/{data}/``; the server's own routes have absolute
paths. The server (``dvidctl.server.dispatcher``) resolves the context, applies
DVID's generic rules once (read-only, token, locked node, body size) and calls
the handler in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Generic, Protocol, TypeVar

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from dvidctl.errors import BadRequestError
from dvidctl.httpkit import convertors
from dvidctl.httpkit.jsonio import loads_body

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_TRUE = frozenset({"true", "1", "yes", "on"})


class NodeLike(Protocol):
    """What a handler may ask of the node in its URL (a datatype's node context)."""

    @property
    def uuid(self) -> str:
        """The node's UUID."""
        ...

    def instance(self, name: str) -> Any:
        """Another data instance at this node."""
        ...


@dataclass(frozen=True)
class Limits:
    """Per-request resource limits of the server (bytes)."""

    #: Largest request body accepted.
    max_body: int
    #: Largest response array built for one request.
    max_response: int


@dataclass
class Call:
    """What a handler gets: the request, converted params, body and resolved context.

    ``node`` and ``instance`` are set for routes under ``/api/node/{uuid}/...``;
    ``resolve_node`` names another version (e.g. ``roi=name,uuid`` on a voxel GET).
    """

    request: Request
    params: dict[str, Any]
    limits: Limits
    body: bytes | bytearray = b""
    #: The body as a binary file read as it arrives (routes with ``stream_body``).
    body_stream: BinaryIO | None = None
    node: Any = None
    instance: Any = None
    keyword: str = ""
    resolve_node: Callable[[str], NodeLike] | None = None
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

    def node_for(self, ref: str) -> NodeLike:
        """The node another version reference names (same server)."""
        if self.resolve_node is None:
            raise BadRequestError(f"version {ref!r} cannot be resolved here")
        return self.resolve_node(ref)


C = TypeVar("C", bound=Call)


#: ``handler(call) -> Response``; runs in the thread pool.
Handler = Callable[[C], Response]


@dataclass(frozen=True)
class Route(Generic[C]):
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
        stream_body: The handler reads the body as it arrives, from
            ``call.body_stream`` (a binary file), instead of ``call.body``.
    """

    path: str
    methods: tuple[str, ...]
    handler: Handler[C]
    summary: str = ""
    mutates: bool | None = None
    locked_ok: bool = False
    body: str = ""
    produces: str = "application/json"
    stream_body: bool = False

    def is_mutation(self, method: str) -> bool:
        """Whether a request with ``method`` on this route changes data."""
        if self.mutates is not None:
            return self.mutates
        return method not in _READS

    def serves(self, method: str) -> bool:
        """Whether ``method`` is accepted (HEAD falls back to GET)."""
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)


# ------------------------------------------------------------------ matching
@dataclass(frozen=True)
class CompiledRoute:
    """A route with its compiled path pattern."""

    route: Route[Any]
    regex: re.Pattern[str]
    convertors: dict[str, Any]


def compile_routes(routes: list[Route[Any]]) -> list[CompiledRoute]:
    """Compile templates with Starlette's path compiler (and our convertors)."""
    convertors.register()
    out = []
    for r in routes:
        regex, _, convs = compile_path("/" + r.path.lstrip("/"))
        out.append(CompiledRoute(r, regex, convs))
    return out


def match(
    table: list[CompiledRoute], path: str, method: str
) -> tuple[Route[Any] | None, dict[str, Any], bool]:
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


__all__ = [
    "Call",
    "CompiledRoute",
    "Handler",
    "Limits",
    "NodeLike",
    "Route",
    "compile_routes",
    "match",
]
