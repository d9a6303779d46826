"""Node-level endpoints: commit, status, newversion, branch, tag, note, log (DVID_API.md §2.3).

Tags: DVID's ``POST .../tag`` creates a locked child whose "UUID" is the tag
string. dvidctl has named tags instead, so the tag names the node itself
(which must be committed, as DVID requires); the response is still
``{"child": "<tag>"}`` and the tag works as a version reference in every URL,
so a client that follows DVID's flow reads the same data.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dvidctl.api import versions
from dvidctl.errors import BadRequestError, ConflictError
from dvidctl.httpkit.jsonio import json_response, raw_json_response
from dvidctl.httpkit.routing import Route
from dvidctl.server.dispatcher import ServerCall as Call
from dvidctl.store.dag import MASTER


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise BadRequestError(f'"{key}" must be a string')
    return v


def _lines(obj: dict[str, Any], key: str = "log") -> list[str]:
    v = obj.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BadRequestError(f'"{key}" must be a JSON list of strings')
    return v


def _explicit_uuid(call: Call, body: dict[str, Any]) -> str | None:
    uuid = _opt_str(body, "uuid") or None
    if uuid is not None and call.server.repos.uuid_exists(uuid):
        raise ConflictError(f"a node with UUID {uuid} already exists")
    return uuid


def status(call: Call) -> Response:
    """``GET .../status`` and ``GET .../commit``: ``{"Locked":true}``."""
    assert call.node is not None
    return raw_json_response(b'{"Locked":%s}' % (b"true" if call.node.locked else b"false"))


def commit(call: Call) -> Response:
    """``POST .../commit``: lock the node."""
    assert call.repo is not None and call.node is not None
    body = call.json_object(default={})
    versions.lock_node(call.repo, call.node.vid, _opt_str(body, "note") or "", _lines(body))
    return json_response({"committed": call.node.uuid})


def newversion(call: Call) -> Response:
    """``POST .../newversion``: a child on the parent's branch (parent must be locked)."""
    assert call.repo is not None and call.node is not None
    body = call.json_object(default={})
    child = versions.new_version(
        call.repo, call.node.vid, note=_opt_str(body, "note") or "", uuid=_explicit_uuid(call, body)
    )
    return json_response({"child": child.uuid})


def branch(call: Call) -> Response:
    """``POST .../branch``: a child on a new branch (or the parent's, like newversion)."""
    assert call.repo is not None and call.node is not None
    body = call.json_object()
    name = _opt_str(body, "branch")
    if not name or name == MASTER:
        raise BadRequestError('"branch" must be a non-empty name other than master')
    child = versions.new_version(
        call.repo,
        call.node.vid,
        branch=name,
        note=_opt_str(body, "note") or "",
        uuid=_explicit_uuid(call, body),
        hex_ok=True,  # DVID clients name branches as ':NAME' (README, "Naming")
    )
    return json_response({"child": child.uuid})


def tag(call: Call) -> Response:
    """``POST .../tag``: name this committed node (see module doc)."""
    assert call.repo is not None and call.node is not None
    body = call.json_object()
    name = _opt_str(body, "tag")
    if not name:
        raise BadRequestError('"tag" must be a non-empty string')
    if call.server.repos.uuid_exists(name):
        raise ConflictError(f"tag {name!r} is already a node UUID")
    call.repo.tag(name, call.node.uuid)
    return json_response({"child": name})


def note_get(call: Call) -> Response:
    """``GET .../note``."""
    assert call.node is not None
    return json_response({"note": call.node.note})


def note_post(call: Call) -> Response:
    """``POST .../note``."""
    assert call.repo is not None and call.node is not None
    note = _opt_str(call.json_object(), "note")
    if note is None:
        raise BadRequestError('body must be {"note": "..."}')
    versions.set_note(call.repo, call.node.vid, note)
    return Response(b"")


def log_get(call: Call) -> Response:
    """``GET .../log``."""
    assert call.node is not None
    return json_response({"log": call.node.log})


def log_post(call: Call) -> Response:
    """``POST .../log``: append lines (stamped with the time)."""
    assert call.repo is not None and call.node is not None
    versions.append_log(call.repo, call.node.vid, _lines(call.json_object()))
    return Response(b"")


_N = "/api/node/{uuid}"
ROUTES = [
    Route(_N + "/status", ("GET",), status, "Whether the node is committed"),
    Route(_N + "/commit", ("GET",), status, "Whether the node is committed"),
    Route(_N + "/commit", ("POST",), commit, "Commit (lock) the node", body="application/json"),
    Route(
        _N + "/newversion",
        ("POST",),
        newversion,
        "Open a child on the same branch",
        locked_ok=True,
        body="application/json",
    ),
    Route(
        _N + "/branch",
        ("POST",),
        branch,
        "Open a child on a new branch",
        locked_ok=True,
        body="application/json",
    ),
    Route(
        _N + "/tag",
        ("POST",),
        tag,
        "Tag the (committed) node",
        locked_ok=True,
        body="application/json",
    ),
    Route(_N + "/note", ("GET",), note_get, "The node note"),
    Route(_N + "/note", ("POST",), note_post, "Set the node note", body="application/json"),
    Route(_N + "/log", ("GET",), log_get, "The node log"),
    Route(_N + "/log", ("POST",), log_post, "Append to the node log", body="application/json"),
]
