"""JSON in and out of the server: strict parsing with a clear error, compact writing."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dvidctl.errors import BadRequestError


def loads_body(body: bytes | bytearray | memoryview, what: str = "request body") -> Any:
    """Parse JSON; a BadRequestError naming ``what`` if it does not parse."""
    try:
        return json.loads(bytes(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"{what} is not valid JSON: {exc}") from None


def json_response(
    obj: Any, status_code: int = 200, media_type: str = "application/json"
) -> Response:
    """JSON with Go's compact separators."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type=media_type)


def raw_json_response(body: bytes, status_code: int = 200) -> Response:
    """Already-serialised JSON bytes."""
    return Response(body, status_code=status_code, media_type="application/json")
