"""labelgraph over HTTP, byte for byte as DVID answers: a real server on loopback, raw httpx.

Paths, JSON shapes (Go's field order and floats), status codes and the binary
``propertytransaction`` format follow DVID's ``datatype/labelgraph/labelgraph.go``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dvidctl import Repository
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState

Q = struct.Struct("<Q")


def u64s(*ns: int) -> bytes:
    return b"".join(Q.pack(n) for n in ns)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, str]]:
    """``(client, "/api/node/<root>/g")`` on a real server holding a labelgraph ``g``."""
    repo = Repository.init(tmp_path / "repo")
    repo.new_instance("labelgraph", "g")
    root = repo.root_uuid
    state = ServerState(RepoSet([repo]), ServerSettings())
    with BackgroundServer(state) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        yield client, f"/api/node/{root}/g"
    state.close()


GRAPH = (
    b'{"Vertices":[{"Id":1,"Weight":100.0},{"Id":2,"Weight":0.25},{"Id":3}],'
    b'"Edges":[{"Id1":3,"Id2":1,"Weight":3.5},{"Id1":1,"Id2":2}]}'
)


def test_subgraph_and_neighbors_as_dvid(api: tuple[httpx.Client, str]) -> None:
    c, g = api
    r = c.post(f"{g}/subgraph", content=GRAPH)
    assert r.status_code == 200 and r.content == b""
    r = c.get(f"{g}/subgraph")
    assert r.headers["content-type"] == "application/json"
    assert r.content == (
        b'{"Transactions":[],"Vertices":[{"Id":1,"Weight":100},{"Id":2,"Weight":0.25},'
        b'{"Id":3,"Weight":0}],"Edges":[{"Id1":1,"Id2":2,"Weight":0},{"Id1":1,"Id2":3,"Weight":3.5}]}'
    )
    # GET with a body listing vertices
    r = c.request("GET", f"{g}/subgraph", content=b'{"Vertices":[{"Id":3}],"Edges":[]}')
    assert json.loads(r.content)["Edges"] == [{"Id1": 1, "Id2": 3, "Weight": 3.5}]
    r = c.get(f"{g}/neighbors/3")
    assert r.content == (
        b'{"Transactions":null,"Vertices":[{"Id":3,"Weight":0},{"Id":1,"Weight":100}],'
        b'"Edges":[{"Id1":1,"Id2":3,"Weight":3.5}]}'
    )
    for path in ("neighbors/4", "neighbors/x", "neighbors/0"):
        assert c.get(f"{g}/{path}").status_code == 400, path
    # the schema: Vertices and Edges required, unless ?unsafe=true
    r = c.post(f"{g}/subgraph", content=b'{"vertices":[{"id":7}]}')
    assert r.status_code == 400 and "JSON did not pass validation" in r.text
    assert c.post(f"{g}/subgraph?unsafe=true", content=b'{"vertices":[{"id":7}]}').is_success
    assert c.get(f"{g}/neighbors/7").is_success


def test_merge_weight_delete_and_undomerge(api: tuple[httpx.Client, str]) -> None:
    c, g = api
    c.post(f"{g}/subgraph", content=GRAPH).raise_for_status()
    r = c.post(f"{g}/weight", content=b'{"Vertices":[{"Id":2,"Weight":1}],"Edges":[]}')
    assert r.is_success
    r = c.post(f"{g}/merge/nohistory", content=b'{"Vertices":[{"Id":2},{"Id":1}],"Edges":[]}')
    assert r.is_success and r.content == b""
    doc = c.get(f"{g}/subgraph").json()
    assert doc["Vertices"] == [{"Id": 1, "Weight": 101.25}, {"Id": 3, "Weight": 0}]
    assert c.post(f"{g}/merge", content=b'{"Vertices":[{"Id":1}],"Edges":[]}').status_code == 400
    r = c.post(f"{g}/undomerge")
    assert r.status_code == 400 and "undomerge not yet implemented" in r.text
    r = c.request("DELETE", f"{g}/subgraph", content=b'{"Vertices":[{"Id":3}],"Edges":[]}')
    assert r.is_success
    assert c.get(f"{g}/subgraph").json()["Edges"] == []
    assert c.delete(f"{g}/subgraph").is_success  # no body: the whole graph
    assert c.get(f"{g}/subgraph").json() == {"Transactions": [], "Vertices": [], "Edges": []}


def test_properties_and_transactions(api: tuple[httpx.Client, str]) -> None:
    c, g = api
    c.post(f"{g}/subgraph", content=GRAPH).raise_for_status()
    assert c.post(f"{g}/property/1/name", content=b"\x00\xffone").is_success
    r = c.get(f"{g}/property/1/name")
    assert r.content == b"\x00\xffone" and r.headers["content-type"] == "application/octet-stream"
    assert c.post(f"{g}/property/3/1/syn", content=b"e13").is_success
    assert c.get(f"{g}/property/1/3/syn").content == b"e13"
    r = c.get(f"{g}/property/2/name")  # DVID reads an unset property as empty
    assert r.status_code == 200 and r.content == b""
    assert c.post(f"{g}/property/9/name", content=b"x").status_code == 400
    assert c.delete(f"{g}/property/1/name").is_success
    assert c.get(f"{g}/property/1/name").content == b""
    assert c.post(f"{g}/property/1/3/syn", content=b"").is_success  # empty: unset
    assert c.get(f"{g}/property/3/1/syn").content == b""
    assert c.post(f"{g}/property/1/3/syn", content=b"e13").is_success

    # GET: lock vertices 1 and 2 (first sight: ids 1 and 2), read 'name' of both
    c.post(f"{g}/property/2/name", content=b"two").raise_for_status()
    r = c.request(
        "GET", f"{g}/propertytransaction/vertices/name", content=u64s(2, 1, 0, 2, 0, 2, 1, 2)
    )
    assert r.is_success
    assert r.content == u64s(2, 1, 1, 2, 2, 0, 2, 1, 0, 2, 3) + b"two"
    # POST with the ids just handed out: written, new ids back; a stale id is refused
    post = u64s(2, 1, 1, 2, 2, 2, 1, 3) + b"abc" + u64s(2, 1) + b"z"
    r = c.post(f"{g}/propertytransaction/vertices/name", content=post)
    assert r.content == u64s(2, 1, 3, 2, 4, 0)
    assert c.get(f"{g}/property/1/name").content == b"abc"
    assert c.get(f"{g}/property/2/name").content == b"z"
    r = c.post(f"{g}/propertytransaction/vertices/name", content=post)  # ids now stale
    assert r.content == u64s(0, 2, 1, 2)
    # edges
    edges = u64s(2, 1, 0, 3, 0, 1, 3, 1)
    r = c.request("GET", f"{g}/propertytransaction/edges/syn", content=edges)
    assert r.content.endswith(u64s(1, 3, 1, 3) + b"e13")
    assert c.get(f"{g}/propertytransaction/nodes/syn").status_code == 400
    r = c.request("GET", f"{g}/propertytransaction/vertices/name", content=u64s(5))
    assert r.status_code == 400  # cut short


def test_committed_node_refuses_writes(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    repo.new_instance("labelgraph", "g")
    repo.head.instance("g").put_subgraph(json.loads(GRAPH))
    locked, _ = repo.commit("one")
    state = ServerState(RepoSet([repo]), ServerSettings())
    with BackgroundServer(state) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        g = f"/api/node/{locked.uuid}/g"
        assert c.get(f"{g}/neighbors/1").is_success
        for method, path in (("POST", "subgraph"), ("POST", "merge"), ("POST", "weight"),
                             ("POST", "property/1/p"), ("DELETE", "subgraph")):  # fmt: skip
            r = c.request(method, f"{g}/{path}", content=b'{"Vertices":[],"Edges":[]}')
            assert r.status_code == 400 and "locked" in r.text, (method, path, r.text)
        assert len(c.get(f"{g}/subgraph").json()["Vertices"]) == 3
    state.close()
