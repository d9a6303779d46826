"""keyvalue HTTP routes (DVID_API.md §4), mounted under ``/api/node/{uuid}/{name}/``."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response

from dvidctl.datatypes.keyvalue import proto as kvproto
from dvidctl.datatypes.keyvalue.ops import KeyValue
from dvidctl.errors import BadRequestError, KeyNotFoundError
from dvidctl.httpkit.jsonio import json_response, loads_body
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import OCTET, buffer_response, iter_response

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def _kv(call: Call) -> KeyValue:
    inst = call.instance
    assert isinstance(inst, KeyValue)
    return inst


def _slice(value: bytes, start: int, end: int) -> bytes:
    """Inclusive ``[start, end]`` of ``value``, the end clamped."""
    return value[start : end + 1]


def _parse_range(header: str, total: int) -> tuple[int, int] | None | str:
    """``(start, end)`` inclusive; None to ignore the header; "unsatisfiable" for 416."""
    m = _RANGE.match(header)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # malformed, several ranges, or another unit: ignored, as DVID
    a, b = m.group(1), m.group(2)
    if not a:  # suffix: the last n bytes
        n = int(b)
        if n == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    start = int(a)
    if b and int(b) < start:
        return None
    if start >= total:
        return "unsatisfiable"
    end = int(b) if b else total - 1
    return start, min(end, total - 1)


def key_get(call: Call) -> Response:
    """``GET key/{key}``: the value; ``byte_start``/``byte_end`` or ``Range`` for a part."""
    key = call.params["key"]
    value = _kv(call).get(key)
    total = len(value)
    headers = {"Accept-Ranges": "bytes"}
    bs, be = call.query.get("byte_start"), call.query.get("byte_end")
    if bs is not None or be is not None:
        if bs is None or be is None:
            raise BadRequestError("byte_start and byte_end must be given together")
        start, end = call.qint("byte_start", 0), call.qint("byte_end", 0)
        if end < start:
            raise BadRequestError(f"byte_end {end} is before byte_start {start}")
        return buffer_response(_slice(value, start, end), headers=headers)
    rng = call.headers.get("range")
    if rng:
        parsed = _parse_range(rng, total)
        if parsed == "unsatisfiable":
            return Response(b"", status_code=416, headers={"Content-Range": f"bytes */{total}"})
        if isinstance(parsed, tuple):
            s, e = parsed
            headers["Content-Range"] = f"bytes {s}-{e}/{total}"
            return buffer_response(_slice(value, s, e), status_code=206, headers=headers)
    return buffer_response(value, headers=headers)


def key_head(call: Call) -> Response:
    """``HEAD key/{key}``: 200 or 404."""
    if not _kv(call).exists(call.params["key"]):
        raise KeyNotFoundError(f'Key "{call.params["key"]}" not found')
    return Response(b"", headers={"Accept-Ranges": "bytes"})


def key_post(call: Call) -> Response:
    """``POST key/{key}``: store the body."""
    _kv(call).put(call.params["key"], bytes(call.body))
    return Response(b"")


def key_delete(call: Call) -> Response:
    """``DELETE key/{key}``: tombstone at this node."""
    _kv(call).delete(call.params["key"])
    return Response(b"")


def keys(call: Call) -> Response:
    """``GET keys``."""
    return json_response(_kv(call).keys())


def keyrange(call: Call) -> Response:
    """``GET keyrange/{k1}/{k2}``: inclusive."""
    return json_response(_kv(call).keys(call.params["k1"], call.params["k2"]))


# -------------------------------------------------------------- value bodies
def _mode(call: Call) -> str:
    tar = call.flag("tar") or call.flag("jsontar")
    js = call.flag("json")
    if tar and js:
        raise BadRequestError("can only specify tar or json output, not both")
    return "tar" if tar else "json" if js else "protobuf"


def _json_body(items: Iterable[tuple[str, bytes | None]], check: bool) -> Iterable[bytes]:
    yield b"{"
    first = True
    for k, v in items:
        if not v:
            v = b"{}"
        elif check:
            try:
                json.loads(v)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BadRequestError(f"bad JSON for key {k!r}") from None
        yield (b"" if first else b",") + json.dumps(k).encode() + b":"
        yield v
        first = False
    yield b"}"


def _tar_body(items: Iterable[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for k, v in items:
            info = tarfile.TarInfo(k)
            info.size = len(v or b"")
            info.mode = 0o755
            tf.addfile(info, io.BytesIO(v or b""))
    return buf.getvalue()


def _respond(call: Call, mode: str, items: list[tuple[str, bytes | None]]) -> Response:
    if mode == "tar":
        return buffer_response(_tar_body(items), "application/tar")
    if mode == "json":
        # Validate eagerly (check=true) so an error can still be a 400.
        body = b"".join(_json_body(items, call.flag("check")))
        return buffer_response(body, "application/json")
    return buffer_response(kvproto.encode_key_values(items), OCTET)


def keyrangevalues(call: Call) -> Response:
    """``GET keyrangevalues/{k1}/{k2}``: protobuf (default), ``json=true`` or ``tar=true``."""
    mode = _mode(call)
    items: list[tuple[str, bytes | None]] = list(
        _kv(call).items(call.params["k1"], call.params["k2"])
    )
    if mode == "json" and not call.flag("check"):
        return iter_response(_json_body(items, False), "application/json")
    return _respond(call, mode, items)


def _requested(call: Call, mode: str) -> list[tuple[str, int | None, int | None]]:
    """Keys (with optional inclusive byte ranges) asked for by the GET keyvalues body."""
    if mode == "protobuf":
        names, ranges = kvproto.decode_keys(call.body)
        return [(k, None, None) for k in names] + [
            (r.key, r.byte_start, r.byte_end) for r in ranges
        ]
    listed: Any = loads_body(call.body, "keyvalues body") if call.body else []
    if not isinstance(listed, list):
        raise BadRequestError("keyvalues body must be a JSON list of keys")
    out: list[tuple[str, int | None, int | None]] = []
    for item in listed:
        if isinstance(item, str):
            out.append((item, None, None))
        elif isinstance(item, dict) and isinstance(item.get("key"), str):
            s, e = item.get("byte_start"), item.get("byte_end")
            if (s is None) != (e is None) or any(
                x is not None and (not isinstance(x, int) or x < 0) for x in (s, e)
            ):
                raise BadRequestError(f"bad byte range for key {item['key']!r}")
            out.append((item["key"], s, e))
        else:
            raise BadRequestError(f"keyvalues body entry {item!r} is not a key")
    return out


def keyvalues_get(call: Call) -> Response:
    """``GET keyvalues``: the values of the keys in the body (missing keys: empty)."""
    mode = _mode(call)
    kv = _kv(call)
    items: list[tuple[str, bytes | None]] = []
    for key, s, e in _requested(call, mode):
        v = kv.get_or_none(key)
        if v is not None and s is not None and e is not None:
            v = _slice(v, s, e)
        items.append((key, v))
    return _respond(call, mode, items)


def keyvalues_post(call: Call) -> Response:
    """``POST keyvalues``: protobuf ``KeyValues``, written in one atomic batch."""
    items = kvproto.decode_key_values(call.body)
    if items:
        _kv(call).put_many(dict(items))
    return Response(b"")


def routes() -> list[Route]:
    """The keyvalue route table."""
    return [
        Route(
            "key/{key}", ("GET",), key_get, "A value (Range / byte_start,byte_end)", produces=OCTET
        ),
        Route("key/{key}", ("HEAD",), key_head, "Whether a key exists"),
        Route("key/{key}", ("POST",), key_post, "Store a value", body=OCTET),
        Route("key/{key}", ("DELETE",), key_delete, "Delete a key"),
        Route("keys", ("GET",), keys, "Every key"),
        Route("keyrange/{k1}/{k2}", ("GET",), keyrange, "Keys with k1 <= key <= k2"),
        Route(
            "keyrangevalues/{k1}/{k2}",
            ("GET",),
            keyrangevalues,
            "Keys and values in a range (protobuf, json=true, tar=true)",
            produces=OCTET,
        ),
        Route(
            "keyvalues",
            ("GET",),
            keyvalues_get,
            "Values of listed keys (body: protobuf Keys or JSON list)",
            body=OCTET,
            produces=OCTET,
        ),
        Route(
            "keyvalues", ("POST",), keyvalues_post, "Store many (protobuf KeyValues)", body=OCTET
        ),
    ]
