"""Unversioned instances (``versioned=false``): every node sees the root's data (DVID)."""

from __future__ import annotations

from dvidctl.api.repository import Repository


def test_unversioned_keyvalue_is_shared_by_every_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Repository.init(tmp_path) as repo:
        repo.new_instance("keyvalue", "shared", {"versioned": "false"})
        repo.new_instance("keyvalue", "normal")
        repo.head.instance("shared").put("a", b"1")
        repo.commit("c1")
        repo.branch("side")
        # writes through a committed node and through another branch go to the same data
        repo.node("HEAD~1").instance("shared").put("b", b"2")
        repo.node("side").instance("shared").put("c", b"3")
        for ref in ("master", "HEAD~1", "side"):
            assert repo.node(ref).instance("shared").keys() == ["a", "b", "c"]
        # the versioned one keeps the usual rules
        repo.head.instance("normal").put("x", b"1")
        assert repo.node("side").instance("normal").keys() == []
        assert repo.instance_record("shared").versioned is False


def test_unversioned_writes_allowed_on_locked_node_over_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import warnings

    from dvidctl.server.app import create_app
    from dvidctl.server.state import RepoSet, ServerSettings, ServerState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with Repository.init(tmp_path) as repo:
        root = repo.root_uuid
        c = TestClient(create_app(ServerState(RepoSet([repo], None), ServerSettings())))
        spec = {"typename": "keyvalue", "dataname": "u", "versioned": "false"}
        r = c.post(f"/api/repo/{root}/instance", json=spec)
        assert r.status_code == 200, r.text
        c.post(f"/api/repo/{root}/instance", json={"typename": "keyvalue", "dataname": "v"})
        assert c.post(f"/api/node/{root}/commit", json={"note": "c"}).status_code == 200
        assert c.post(f"/api/node/{root}/u/key/k", content=b"ok").status_code == 200
        locked = c.post(f"/api/node/{root}/v/key/k", content=b"no")
        assert locked.status_code == 400 and "locked" in locked.text
        child = c.post(f"/api/node/{root}/newversion", json={}).json()["child"]
        assert c.get(f"/api/node/{child}/u/key/k").content == b"ok"
