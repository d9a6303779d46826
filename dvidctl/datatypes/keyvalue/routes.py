"""keyvalue HTTP routes (DVID_API.md §4), mounted under ``/api/node/{uuid}/{name}/``."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.responses import PlainTextResponse, Response, StreamingResponse

from dvidctl.datatypes.keyvalue import proto as kvproto
from dvidctl.datatypes.keyvalue.chunks import StoredValue
from dvidctl.datatypes.keyvalue.ops import KeyValue
from dvidctl.errors import BadRequestError, KeyNotFoundError
from dvidctl.httpkit.jsonio import json_response, loads_body
from dvidctl.httpkit.routing import Call, Route
from dvidctl.httpkit.streaming import CHUNK, OCTET, buffer_response, iter_response

_UINT = re.compile(r"[0-9]+")
_UINT64_MAX = 2**64 - 1


def _kv(call: Call) -> KeyValue:
    inst = call.instance
    assert isinstance(inst, KeyValue)
    return inst


def _uint(text: str) -> int | None:
    """Go's ``strconv.ParseUint(text, 10, 64)``: the value, or None when it fails."""
    if not _UINT.fullmatch(text) or int(text) > _UINT64_MAX:
        return None
    return int(text)


def _byte_range(key: str, start: int, end: int) -> tuple[int, int]:
    """DVID's ``newByteRange``: an inclusive ``[start, end]`` with start <= end."""
    if start > end:
        raise BadRequestError(f'byte_start {start} must be <= byte_end {end} for key "{key}"')
    return start, end


def _query_range(call: Call, key: str) -> tuple[int, int] | None:
    """``byte_start``/``byte_end`` of the query (DVID's ``parseByteRangeQuery``)."""
    bs, be = call.query.get("byte_start"), call.query.get("byte_end")
    if bs is None and be is None:
        return None
    if bs is None or be is None:
        raise BadRequestError(f'range read for key "{key}" requires both byte_start and byte_end')
    start, end = _uint(bs), _uint(be)
    if start is None:
        raise BadRequestError(f'byte_start must be an unsigned integer, got "{bs}"')
    if end is None:
        raise BadRequestError(f'byte_end must be an unsigned integer, got "{be}"')
    return _byte_range(key, start, end)


class _Unsatisfiable(Exception):
    """A ``Range`` header DVID answers with 416."""


def _header_range(header: str, total: int) -> tuple[int, int] | None:
    """DVID's ``parseHTTPRangeHeader``: ``(start, end)`` inclusive, or None to ignore it.

    Raises:
        _Unsatisfiable: for DVID's 416 cases (with its message).
    """
    if not header.startswith("bytes="):
        return None
    spec = header[len("bytes=") :].strip()
    if not spec or "," in spec or "-" not in spec:
        return None  # malformed, several ranges: ignored, as DVID
    a, b = (t.strip() for t in spec.split("-", 1))
    if not a and not b:
        return None
    if total == 0:
        raise _Unsatisfiable(f'Range "{header}" is not satisfiable for an empty value')
    if not a:  # suffix: the last n bytes
        n = _uint(b)
        if n is None:
            return None
        if n == 0:
            raise _Unsatisfiable(f'Range "{header}" is not satisfiable')
        return max(0, total - n), total - 1
    start = _uint(a)
    if start is None:
        return None
    if start >= total:
        raise _Unsatisfiable(f"Range start {start} is outside value with {total} bytes")
    if not b:
        return start, total - 1
    end = _uint(b)
    if end is None or start > end:
        return None
    return start, min(end, total - 1)


def _check_range(key: str, n: int, start: int, end: int) -> tuple[int, int]:
    """DVID's ``sliceValueByRange`` checks: inclusive ``[start, end]`` inside ``n`` bytes."""
    if start >= n:
        raise BadRequestError(f'byte_start {start} is outside value for key "{key}" with {n} bytes')
    if end >= n:
        raise BadRequestError(f'byte_end {end} is outside value for key "{key}" with {n} bytes')
    return start, end


def _slice(key: str, value: bytes, start: int, end: int) -> bytes:
    """DVID's ``sliceValueByRange``: inclusive ``[start, end]``, both inside the value."""
    _check_range(key, len(value), start, end)
    return value[start : end + 1]


def _value_response(
    value: StoredValue, start: int, end: int, status: int, headers: dict[str, str]
) -> Response:
    """Bytes ``[start, end]`` of a stored value: a large one streams a piece at a time."""
    if value.payload is not None:
        return buffer_response(value.payload[start : end + 1], status_code=status, headers=headers)
    headers["content-length"] = str(end + 1 - start)
    return StreamingResponse(
        _sliced(value.chunks(start, end + 1)), status_code=status, media_type=OCTET, headers=headers
    )


def _sliced(chunks: Iterable[memoryview]) -> Iterator[memoryview]:
    """Each chunk in views of at most 1 MiB (what one send takes), without copies."""
    for chunk in chunks:
        for i in range(0, len(chunk), CHUNK):
            yield chunk[i : i + CHUNK]


def key_get(call: Call) -> Response:
    """``GET key/{key}``: the value; ``byte_start``/``byte_end`` or ``Range`` for a part.

    As DVID (keyvalue.go 1048-1090): query ranges are strict (past the end: 400), a
    ``Range`` header together with them is a 400, a ``Range`` header is answered 206
    with its end clamped, 416 when it cannot be satisfied, and ignored when malformed.
    A large value is streamed from its pieces, each checked against its digest
    before it is sent (a damaged piece cuts the body short).
    """
    key = call.params["key"]
    value = _kv(call).open_value(key)
    if value is None:
        raise KeyNotFoundError(f'Key "{key}" not found')
    total = value.size
    headers = {"Accept-Ranges": "bytes"}
    rng = _query_range(call, key)
    header = call.headers.get("range", "")
    if header and rng is not None:
        raise BadRequestError(
            "cannot combine Range header with byte_start/byte_end query parameters"
        )
    if header:
        try:
            part = _header_range(header, total)
        except _Unsatisfiable as exc:
            return PlainTextResponse(
                f"{exc}\n", status_code=416, headers={"Content-Range": f"bytes */{total}"}
            )
        if part is not None:
            s, e = _check_range(key, total, *part)
            headers["Content-Range"] = f"bytes {s}-{e}/{total}"
            return _value_response(value, s, e, 206, headers)
    if rng is not None:
        return _value_response(value, *_check_range(key, total, *rng), 200, headers)
    return _value_response(value, 0, total - 1, 200, headers)


def key_head(call: Call) -> Response:
    """``HEAD key/{key}``: 200 or 404."""
    if not _kv(call).exists(call.params["key"]):
        raise KeyNotFoundError(f'Key "{call.params["key"]}" not found')
    return Response(b"", headers={"Accept-Ranges": "bytes"})


def key_post(call: Call) -> Response:
    """``POST key/{key}``: store the body, read and written a piece at a time."""
    assert call.body_stream is not None  # the route streams its body
    _kv(call).put_from(call.params["key"], call.body_stream)
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


def _is_json(value: bytes) -> bool:
    try:
        json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def _json_body(items: Iterable[tuple[str, bytes | None]], check: bool) -> Iterable[bytes]:
    yield b"{"
    first = True
    for k, v in items:
        if not v:
            v = b"{}"
        elif check and not _is_json(v):
            raise BadRequestError(f"bad JSON for key {k!r}")
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
        for r in ranges:
            _byte_range(r.key, r.byte_start, r.byte_end)
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
            k, s, e = item["key"], item.get("byte_start"), item.get("byte_end")
            if any(
                x is not None and (isinstance(x, bool) or not isinstance(x, int) or x < 0)
                for x in (s, e)
            ):
                raise BadRequestError(f"bad byte range for key {k!r}")
            if (s is None) != (e is None):
                raise BadRequestError(
                    f'range read for key "{k}" requires both byte_start and byte_end'
                )
            if s is not None and e is not None:
                _byte_range(k, s, e)
            out.append((k, s, e))
        else:
            raise BadRequestError(f"keyvalues body entry {item!r} is not a key")
    return out


def keyvalues_get(call: Call) -> Response:
    """``GET keyvalues``: the values of the keys in the body (missing keys: empty).

    Byte ranges are strict as DVID's (keyvalue.go 778-790, 864-889): a range past the
    end of a value is a 400, and with ``json=true`` so is a ranged value that is not
    JSON any more; a missing key with a range is just missing.
    """
    mode = _mode(call)
    kv = _kv(call)
    items: list[tuple[str, bytes | None]] = []
    for key, s, e in _requested(call, mode):
        v = kv.get_or_none(key)
        if v is not None and s is not None and e is not None:
            v = _slice(key, v, s, e)
            if mode == "json" and not _is_json(v):
                raise BadRequestError(f'bad JSON for key "{key}" after byte range')
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
        Route("key/{key}", ("POST",), key_post, "Store a value", body=OCTET, stream_body=True),
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
