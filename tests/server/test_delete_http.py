"""DVID's ``DELETE /api/repo/{uuid}/{dataname}?imsure=true`` (issue #8, part 7).

DVID (server/web.go, ``repoDeleteInstanceHandler``) answers 400 without
``imsure=true`` and ``{"result": "Started deletion of data instance "NAME" from
repo with root UUID"}`` when it starts; the instance leaves the metadata at
once. An unknown instance is 400, as in DVID (server/errors.py: DVID's statuses).
"""

from __future__ import annotations

from tests.server.conftest import make_client


def test_delete_needs_imsure(client, repo, kv):  # type: ignore[no-untyped-def]
    r = client.delete(f"/api/repo/{kv}/kv")  # main: 404
    assert r.status_code == 400
    assert "Cannot delete instance unless query string 'imsure=true' is present!" in r.text
    assert client.delete(f"/api/repo/{kv}/kv?imsure=false").status_code == 400
    assert "kv" in repo.state.instances


def test_delete_then_recreate_starts_empty(client, repo, kv):  # type: ignore[no-untyped-def]
    u = repo.root_uuid
    assert client.post(f"/api/node/{u}/kv/key/a", content=b"old").status_code == 200
    r = client.delete(f"/api/repo/{u[:6]}/kv?imsure=true")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"result": f'Started deletion of data instance "kv" from repo with root {u}'}
    assert client.get(f"/api/repo/{u}/info").json()["DataInstances"] == {}
    r = client.get(f"/api/node/{u}/kv/key/a")
    assert r.status_code == 400 and "no data instance named 'kv'" in r.text
    log = client.get(f"/api/repo/{u}/log").json()["log"]
    assert log[-1].endswith("Delete data instance 'kv' of type 'keyvalue'")
    r = client.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv"})
    assert r.status_code == 200
    assert client.get(f"/api/node/{u}/kv/keys").json() == []


def test_delete_unknown_instance_is_400_as_dvid(client, kv):  # type: ignore[no-untyped-def]
    r = client.delete(f"/api/repo/{kv}/nokv?imsure=true")
    assert r.status_code == 400 and "no data instance named 'nokv'" in r.text


def test_delete_through_a_committed_node(client, repo, kv):  # type: ignore[no-untyped-def]
    u = repo.root_uuid
    assert client.post(f"/api/node/{u}/commit", json={}).status_code == 200
    assert client.delete(f"/api/repo/{u}/kv?imsure=true").status_code == 200
    assert repo.state.instances == {}


def test_delete_refused_on_a_read_only_server(repo, kv):  # type: ignore[no-untyped-def]
    from dvidctl.server.state import ServerSettings

    ro = make_client([repo], ServerSettings(read_only=True))
    assert ro.delete(f"/api/repo/{kv}/kv?imsure=true").status_code == 400
    assert "kv" in repo.state.instances
