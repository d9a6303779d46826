"""Answers Go DVID gives and dvidctl's server does not, played by an ``httpx.MockTransport``.

The contract tests (``tests/contracts``) run the remote classes against a real
``dvidctl serve``; these few cases stand in for Go DVID, whose wording and status
codes (server/web.go, datatype/keyvalue/keyvalue.go at 3400c2cb) differ.
"""

from __future__ import annotations

import httpx
import pytest

from dvidctl.api.remote import RemoteRepository
from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI
from dvidctl.errors import BadRequestError, LockedNodeError

UUID = "abc123"
INFO = {
    "Root": UUID,
    "DAG": {"Nodes": {UUID: {"UUID": UUID, "Locked": True}}},
    "DataInstances": {"kv": {"Base": {"TypeName": "keyvalue", "Name": "kv"}, "Extended": {}}},
}


def _go_dvid(request: httpx.Request) -> httpx.Response:
    path, method = request.url.path, request.method
    if path == f"/api/repo/{UUID}/info":
        return httpx.Response(200, json=INFO)
    if method == "HEAD":  # keyvalue.go: 200 when the key exists, else 204 No Content
        return httpx.Response(200 if path.endswith("/key/here") else 204)
    if method == "POST" and "/key/" in path:  # web.go instanceSelector on a committed node
        msg = f'Cannot do POST on endpoint "key" of locked node {UUID} ({path}).'
        return httpx.Response(400, text=msg)
    if method == "POST":  # web.go nodeSelector: the method lower-cased
        return httpx.Response(400, text=f"Cannot do post on locked node {UUID} ({path}).")
    if method == "DELETE":
        return httpx.Response(200)
    return httpx.Response(400, text=f"cannot branch from an unlocked node ({path}).")


@pytest.fixture
def kv() -> KeyValueAPI:
    client = httpx.Client(transport=httpx.MockTransport(_go_dvid))
    inst = RemoteRepository("http://dvid", client=client).node(UUID).instance("kv")
    assert isinstance(inst, KeyValueAPI)
    return inst


def test_head_204_means_the_key_is_absent(kv: KeyValueAPI) -> None:
    assert kv.exists("here")
    assert not kv.exists("gone")
    assert kv.delete("gone") is False


def test_dvids_locked_node_answers_are_locked_node_errors(kv: KeyValueAPI) -> None:
    with pytest.raises(LockedNodeError, match="locked node"):
        kv.put("k", b"v")
    with pytest.raises(LockedNodeError, match="locked node"):
        kv.put_many({"k": b"v"})


def test_other_400s_stay_bad_requests() -> None:
    client = httpx.Client(transport=httpx.MockTransport(_go_dvid))
    rr = RemoteRepository("http://dvid", client=client)
    with pytest.raises(BadRequestError, match="unlocked node") as info:
        rr.request("GET", f"node/{UUID}/kv/whatever")
    assert not isinstance(info.value, LockedNodeError)
