"""JSON in and out of the server: strict parsing with a clear error, compact writing."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import Response

from dvidctl.errors import BadRequestError


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text} is out of range")
    return v


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_body(body: bytes | bytearray | memoryview, what: str = "request body") -> Any:
    """Parse JSON; a BadRequestError naming ``what`` if it does not parse.

    Strict like Go's decoder: Python's extensions ``NaN``/``Infinity`` and numbers
    that overflow a float are refused, so they can never be stored and echoed back
    in JSON that clients (Go, JavaScript) cannot parse.
    """
    try:
        return json.loads(bytes(body), parse_constant=_no_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
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
