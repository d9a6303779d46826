"""The console's HTTP: its files at / and /console/, and the /api/console/ helpers."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl.api.repository import Repository
from dvidctl.datatypes.labelmap.ngmesh import decode_ngmesh
from dvidctl.server import console
from dvidctl.server.state import ServerSettings


@pytest.fixture
def seg_repo(repo: Repository) -> Repository:
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
    repo.new_instance("keyvalue", "kv")
    vol = np.zeros((16, 16, 32), np.uint64)
    vol[2:6, 2:6, 2:6] = 5
    vol[8:12, 8:12, 20:30] = 2**40 + 1
    repo.head.instance("seg").put_subvolume(vol)
    repo.head.instance("kv").put("a", b"1")
    return repo


def test_the_console_page_and_its_modules(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/app.js">' in r.text
    js = client.get("/console/app.js")
    assert js.headers["content-type"].startswith("text/javascript")  # ES modules need it
    etag = js.headers["etag"]
    again = client.get("/console/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/console/console.css").headers["content-type"].startswith("text/css")
    for bad in ("/console/nope.js", "/console/__init__.py", "/console/%2e%2e%2fapp.py"):
        assert client.get(bad).status_code == 404, bad


def test_every_module_the_page_imports_is_served(client) -> None:  # type: ignore[no-untyped-def]
    import re

    names = set(console.assets())
    for name in [n for n in names if n.endswith(".js")]:
        text = console.assets()[name].body.decode()
        for dep in re.findall(r"""(?:from|import\()\s*['"]\./([\w.]+)['"]""", text):
            assert dep in names, f"{name} imports {dep}, which is not shipped"


def test_server_helper_says_whether_writes_need_a_token(repo, client_factory) -> None:  # type: ignore[no-untyped-def]
    assert client_factory([repo]).get("/api/console/server").json()["token_required"] is False
    with_token = client_factory([repo], ServerSettings(token="s3cret"))
    assert with_token.get("/api/console/server").json()["token_required"] is True
    assert with_token.post("/api/console/token").status_code == 403
    bad = with_token.post("/api/console/token", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 403
    ok = with_token.post("/api/console/token", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json() == {"writes": True}
    ro = client_factory([repo], ServerSettings(read_only=True))
    assert ro.get("/api/console/server").json() == {
        "version": ro.get("/api/console/server").json()["version"],
        "token_required": False,
        "read_only": True,
        "fullwrite": False,
    }
    assert ro.post("/api/console/token").status_code == 400  # DVID's status for read-only


def test_refs_lists_branch_leaves_and_tags(repo: Repository, client) -> None:  # type: ignore[no-untyped-def]
    done, _ = repo.commit("one")
    repo.tag("v1", done.uuid)
    side = repo.branch("side")
    got = client.get(f"/api/console/repo/{repo.root_uuid[:6]}/refs").json()
    assert got["root"] == repo.root_uuid
    assert got["tags"] == {"v1": done.uuid}
    assert got["branches"] == {"master": repo.node("master").uuid, "side": side.uuid}


def test_diff_counts_and_lists_keys_per_instance(seg_repo: Repository, client) -> None:  # type: ignore[no-untyped-def]
    a, _ = seg_repo.commit("base")
    seg_repo.head.instance("kv").put("b", b"2")
    seg_repo.head.instance("kv").put("a", b"changed")
    seg_repo.head.instance("seg").put_subvolume(np.full((2, 2, 2), 3, np.uint64), (0, 0, 0))
    b = seg_repo.head
    got = client.get(f"/api/console/diff/{a.uuid}/{b.uuid}").json()
    assert got["from"] == a.uuid and got["to"] == b.uuid
    kv = got["instances"]["kv"]
    assert (kv["type"], kv["added"], kv["changed"], kv["deleted"]) == ("keyvalue", 1, 1, 0)
    assert kv["added_keys"] == ["b"] and kv["changed_keys"] == ["a"]
    assert got["instances"]["seg"]["changed"] >= 1
    limited = client.get(f"/api/console/diff/{a.uuid}/{b.uuid}?limit=0").json()
    assert (
        limited["instances"]["kv"]["added_keys"] == [] and limited["instances"]["kv"]["added"] == 1
    )
    assert client.get(f"/api/console/diff/{b.uuid}/{b.uuid}").json()["instances"] == {}
    assert client.get(f"/api/console/diff/{a.uuid}/nonsense").status_code == 400


def test_mesh_helpers_compute_store_and_report(seg_repo: Repository, client) -> None:  # type: ignore[no-untyped-def]
    u = seg_repo.head.uuid
    status = client.get(f"/api/console/node/{u}/seg/meshes").json()
    assert status["exists"] is False and status["labels"] == {}
    r = client.get(f"/api/console/node/{u}/seg/mesh/5")
    assert r.status_code == 200 and r.headers["x-dvidctl-mesh-scale"] == "0"
    np.testing.assert_allclose(decode_ngmesh(r.content).bounds[0], [16, 16, 16])
    assert "seg_meshes" not in seg_repo.state.instances  # computing stores nothing
    assert client.get(f"/api/console/node/{u}/seg/mesh/77").status_code == 400  # DVID's 400
    assert client.get(f"/api/console/node/{u}/kv/mesh/1").status_code == 400
    big = str(2**40 + 1)
    built = client.post(f"/api/console/node/{u}/seg/meshes", json={"labels": [5, big]}).json()
    assert sorted(built["built"]) == sorted(["5", big])
    stored = client.get(f"/api/node/{u}/seg_meshes/key/{big}.ngmesh")  # neuroglancer's URL
    assert stored.status_code == 200
    assert decode_ngmesh(stored.content).bounds[0][0] == 20 * 8
    status = client.get(f"/api/console/node/{u}/seg/meshes").json()
    assert status["labels"]["5"]["stale"] is False and big in status["labels"]
    bad = client.post(f"/api/console/node/{u}/seg/meshes", json={"labels": [True]})
    assert bad.status_code == 400


def test_building_meshes_is_a_write(seg_repo: Repository, client_factory) -> None:  # type: ignore[no-untyped-def]
    u = seg_repo.head.uuid
    c = client_factory([seg_repo], ServerSettings(token="s3cret"))
    assert c.post(f"/api/console/node/{u}/seg/meshes", json={"labels": [5]}).status_code == 403
    assert c.get(f"/api/console/node/{u}/seg/mesh/5").status_code == 200  # reads need nothing
    ok = c.post(
        f"/api/console/node/{u}/seg/meshes",
        json={"labels": [5]},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert ok.status_code == 200
    seg_repo.commit("locked")
    locked = c.post(
        f"/api/console/node/{u}/seg/meshes",
        json={"labels": [5], "force": True},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert locked.status_code == 400 and "locked node" in locked.text


def test_console_routes_are_in_openapi(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").json()["paths"]
    for p in (
        "/",
        "/console/{name}",
        "/api/console/server",
        "/api/console/token",
        "/api/console/repo/{uuid}/refs",
        "/api/console/diff/{uuid}/{to}",
        "/api/console/node/{uuid}/{data}/meshes",
        "/api/console/node/{uuid}/{data}/mesh/{label}",
    ):
        assert p in paths, p
    assert paths["/api/console/node/{uuid}/{data}/meshes"]["post"]["x-dvid-mutates"] is True
    assert paths["/api/console/diff/{uuid}/{to}"]["get"]["tags"] == ["console"]


def test_the_console_ships_as_package_data() -> None:
    """pyproject's package-data takes ``server/static/*``: the console's files stay flat there."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "server/static/*" in data["package-data"]["dvidctl"]
    static = root / "dvidctl" / "server" / "static"
    assert [p.name for p in static.iterdir() if p.is_dir()] == []
    assert {p.name for p in static.iterdir()} == set(console.assets())
