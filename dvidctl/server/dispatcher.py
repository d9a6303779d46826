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
   DVID's message, unless the route says ``locked_ok`` or the instance is
   unversioned). As DVID (server/web.go ``nodeSelector``, ``instanceSelector``),
   a server started with ``--fullwrite``, or a request with admin privilege
   (``?admintoken=`` equal to the server's token, DVID's ``admintoken``), may
   write anyway: the handler then gets a node view made with
   :meth:`~dvidctl.api.node.Node.with_locked_writes`, and the store lets that
   view's write batches through, counting them on the node record. The rule
   lives here and in :class:`~dvidctl.store.versioned.VersionedStore`, nowhere
   else;
5. reading the body (size-limited, GET bodies accepted), or for a route with
   ``stream_body`` handing it over as a file read as it arrives
   (:mod:`dvidctl.server.bodystream`);
6. the handler, in the thread pool, holding the instance lock when it mutates;
7. errors -> DVID's plain-text responses (:mod:`dvidctl.server.errors`).

Unknown query parameters are simply never looked at.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dvidctl.errors import (
    BadRequestError,
    LockedNodeError,
    PermissionDeniedError,
    ReadOnlyError,
)
from dvidctl.httpkit.routing import Call, Handler, Limits, Route
from dvidctl.server.bodystream import RequestBody
from dvidctl.server.errors import BadAPICallError, PayloadTooLargeError, error_response

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository
    from dvidctl.server.state import ServerState


@dataclass
class ServerCall(Call):
    """A :class:`~dvidctl.httpkit.routing.Call` with the server's own context.

    Datatype handlers see only the :class:`Call` part; the server's routes also
    reach the server state and the repository of the ``{uuid}`` in their URL.
    """

    server: ServerState = field(kw_only=True)
    repo: Repository | None = None


# ---------------------------------------------------------------- dispatching
def _matches(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def admin_privileged(server: ServerState, request: Request) -> bool:
    """DVID's admin privilege: ``?admintoken=`` equal to the server's token.

    As DVID's ``adminTokenPrivileged`` (server/auth.go), only the query parameter
    counts and a server without a token grants it to nobody. ``Authorization:
    Bearer`` with the token authorises ordinary writes only: the committed-node rule
    is a safety rule, and writing past it is asked for explicitly, per request.
    """
    token = server.settings.token
    return bool(token) and _matches(request.query_params.get("admintoken", ""), token or "")


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
        if not _matches(given, settings.token):
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


def locked_message(call: ServerCall) -> str:
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
    route: Route[Any],
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
        settings = server.settings
        call = ServerCall(
            request,
            params,
            Limits(settings.max_body, settings.max_response),
            keyword=keyword,
            resolve_node=server.repos.node,
            server=server,
        )
        node: Node | None = None
        if ref is not None:
            call.repo, vid = server.repos.resolve(ref)
            call.node = node = call.repo.node_by_vid(vid)
        if data is not None:
            assert node is not None
            call.instance = node.instance(data)
        unversioned = call.instance is not None and call.instance.writable_anywhere
        if mutating and node is not None and node.locked and not route.locked_ok:
            if not unversioned:  # DVID: unversioned instances skip the locked check
                if not (settings.fullwrite or admin_privileged(server, request)):
                    raise LockedNodeError(locked_message(call))
                call.node = node = node.with_locked_writes()
                if data is not None:
                    call.instance = node.instance(data)
        if route.stream_body:
            call.body_stream = cast(BinaryIO, RequestBody(request, server.settings.max_body))
        else:
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


def _locked_call(lock: Any, handler: Handler[Any], call: Call) -> Response:
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
    "Route",
    "ServerCall",
    "admin_privileged",
    "bad_api_call",
    "check_write_allowed",
    "dispatch",
    "head_of",
    "read_body",
]
