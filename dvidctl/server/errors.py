"""Errors to HTTP responses, in one place.

Every :class:`~dvidctl.errors.DvidError` carries its HTTP status; DVID writes
errors as plain text ``"<message> (<url path>)."`` (``server.BadRequest``), and
404 for unknown routes (``Could not find the URL: <path>``). Builtin
``ValueError``s raised by codecs (label blocks, block streams) are bad input,
so 400; anything else is a server bug: 500, logged with its traceback.

On DVID's API paths (``/api/...``) the status is DVID's (:func:`dvid_status`):
DVID answers every error through ``BadRequest`` (400), so an unknown instance,
type or version, or a name already taken (instance, branch, node UUID) is 400
here too, not dvidctl's 404/409. Two kinds keep their own status because DVID
has them too or has no such case: a missing key (404, as DVID's keyvalue) and a
merge conflict (409: dvidctl finds conflicts eagerly at merge time, DVID does
not). The CLI's exit codes are untouched: this is the HTTP edge only.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from dvidctl.errors import (
    BadRequestError,
    DvidError,
    KeyNotFoundError,
    MergeConflictError,
    NotFoundError,
)

log = logging.getLogger("dvidctl.server")


class PayloadTooLargeError(BadRequestError):
    """A request body over the server's limit (refused before reading it)."""

    kind = "payload-too-large"
    http_status = 413


class BadAPICallError(BadRequestError):
    """An endpoint a datatype does not serve (DVID's message already holds the path)."""

    kind = "bad-api-call"
    path_suffix = False


class RouteNotFoundError(NotFoundError):
    """No route matches the URL."""

    kind = "no-route"
    path_suffix = False


def dvid_status(exc: DvidError, path: str) -> int:
    """The status DVID's API gives ``exc`` on ``path`` (see the module doc)."""
    status = exc.http_status
    if not path.startswith("/api/"):
        return status
    if status == 404 and not isinstance(exc, (KeyNotFoundError, RouteNotFoundError)):
        return 400
    if status == 409 and not isinstance(exc, MergeConflictError):
        return 400
    return status


def status_and_text(exc: BaseException, path: str) -> tuple[int, str]:
    """The HTTP status and plain-text body for ``exc`` raised while serving ``path``."""
    if isinstance(exc, DvidError):
        status, message = dvid_status(exc, path), exc.message
        if exc.details is not None and exc.kind == "conflict":
            message += ": " + json.dumps(exc.details)
        if not getattr(exc, "path_suffix", True):
            return status, message
    elif isinstance(exc, ClientDisconnect):
        status, message = 400, "client disconnected before the body was read"
    elif isinstance(exc, ValueError):
        status, message = 400, str(exc) or type(exc).__name__
    else:
        log.exception("internal error serving %s", path, exc_info=exc)
        status, message = 500, f"internal server error: {type(exc).__name__}: {exc}"
    return status, f"{message} ({path})."


def error_response(exc: BaseException, request: Request) -> Response:
    """The DVID-style plain-text response for ``exc``."""
    status, text = status_and_text(exc, request.url.path)
    if request.method == "HEAD":
        return Response(b"", status_code=status)
    return PlainTextResponse(text + "\n", status_code=status)


def not_found_response(request: Request) -> Response:
    """404 for an unknown URL, as DVID words it."""
    return error_response(
        RouteNotFoundError(f"Could not find the URL: {request.url.path}"), request
    )
