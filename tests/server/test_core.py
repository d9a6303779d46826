"""Server, repo and node endpoints, and the dispatcher's generic rules."""

from __future__ import annotations

import json

from dvidctl.api.repository import Repository
from dvidctl.server.state import ServerSettings


def test_server_endpoints(client, kv):
    r = client.get("/api/help")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/api/help/keyvalue" in r.text
    r = client.get("/api/help/keyvalue")
    assert (
        r.status_code == 200
        and "keyvalue" in r.text
        and r.headers["content-type"].startswith("text/plain")
    )
    assert client.get("/api/help/nosuchtype").status_code == 400  # DVID's BadRequest
    info = client.get("/api/server/info").json()
    assert all(isinstance(v, str) for v in info.values())
    assert {"Cores", "DVID Version", "Server uptime", "Storage backend"} <= set(info)
    assert client.get("/api/server/types").json() == {
        "keyvalue": "github.com/janelia-flyem/dvid/datatype/keyvalue"
    }
    assert "keyvalue" in client.get("/api/server/compiled-types").json()
    r = client.get("/api/heartbeat")
    assert r.status_code == 200 and r.text == "OK"


def test_cors_on_every_response_and_preflight(client):
    assert client.get("/api/heartbeat").headers["access-control-allow-origin"] == "*"
    assert client.get("/api/nope").headers["access-control-allow-origin"] == "*"
    r = client.options(
        "/api/repos/info", headers={"Origin": "http://x", "Access-Control-Request-Method": "GET"}
    )
    assert r.status_code == 200 and "GET" in r.headers["access-control-allow-methods"]


def test_cors_origin_list(repo, client_factory):
    c = client_factory([repo], ServerSettings(cors=("http://ok",)))
    assert (
        c.get("/api/heartbeat", headers={"Origin": "http://ok"}).headers[
            "access-control-allow-origin"
        ]
        == "http://ok"
    )
    assert (
        "access-control-allow-origin"
        not in c.get("/api/heartbeat", headers={"Origin": "http://bad"}).headers
    )


def test_unknown_route_is_404_with_dvid_text(client):
    r = client.get("/api/nothing/here")
    assert r.status_code == 404 and "Could not find the URL: /api/nothing/here" in r.text


def test_repo_info_shape(client, repo, kv):
    client.post(f"/api/node/{kv}/commit", json={"note": "first", "log": ["a line"]})
    child = client.post(f"/api/node/{kv}/newversion", json={"note": "second"}).json()["child"]
    expt = client.post(f"/api/node/{kv}/branch", json={"branch": "expt"}).json()["child"]
    info = client.get(f"/api/repo/{child[:8]}/info").json()
    assert info["Root"] == repo.root_uuid and info["Alias"] == "demo"
    assert set(info) >= {
        "Root",
        "Alias",
        "Description",
        "Log",
        "Properties",
        "DataInstances",
        "DAG",
        "MutationID",
        "Created",
        "Updated",
    }
    nodes = info["DAG"]["Nodes"]
    root = nodes[repo.root_uuid]
    assert root["VersionID"] == 1 and root["Locked"] is True and root["Branch"] == ""
    assert root["Note"] == "first" and root["Log"][0].endswith("  a line")
    assert sorted(root["Children"]) == [nodes[child]["VersionID"], nodes[expt]["VersionID"]]
    assert nodes[child]["Parents"] == [1] and nodes[child]["Branch"] == ""
    assert nodes[expt]["Branch"] == "expt"
    base = info["DataInstances"]["kv"]["Base"]
    assert (
        base["TypeName"] == "keyvalue"
        and base["Name"] == "kv"
        and base["RepoUUID"] == repo.root_uuid
    )
    assert info["DataInstances"]["kv"]["Extended"] == {}
    all_info = client.get("/api/repos/info").json()
    assert list(all_info) == [repo.root_uuid]
    assert client.head(f"/api/repo/{child}/info").status_code == 200
    assert client.head(f"/api/repo/{child}").status_code == 200


def test_repo_info_post_and_log(client, repo):
    u = repo.root_uuid
    assert (
        client.post(f"/api/repo/{u}/info", json={"alias": "new", "description": "d"}).status_code
        == 200
    )
    info = client.get(f"/api/repo/{u}/info").json()
    assert info["Alias"] == "new" and info["Description"] == "d"
    assert client.post(f"/api/repo/{u}/log", json={"log": ["x", "y"]}).status_code == 200
    log = client.get(f"/api/repo/{u}/log").json()["log"]
    assert [entry.split("  ", 1)[1] for entry in log] == ["x", "y"]
    assert client.post(f"/api/repo/{u}/log", content=b"not json").status_code == 400


def test_node_note_log_status_commit(client, repo):
    u = repo.root_uuid
    assert client.get(f"/api/node/{u}/status").text == '{"Locked":false}'
    assert client.post(f"/api/node/{u}/note", json={"note": "hello"}).status_code == 200
    assert client.get(f"/api/node/{u}/note").json() == {"note": "hello"}
    assert client.post(f"/api/node/{u}/log", json={"log": ["one"]}).status_code == 200
    assert client.get(f"/api/node/{u}/log").json()["log"][0].endswith("  one")
    assert client.post(f"/api/node/{u}/commit", json={"note": "done"}).json() == {"committed": u}
    assert client.get(f"/api/node/{u}/commit").text == '{"Locked":true}'
    r = client.post(f"/api/node/{u}/commit", json={})
    assert r.status_code == 400 and f"Cannot do POST on locked node {u}" in r.text
    r = client.post(f"/api/node/{u}/note", json={"note": "late"})
    assert r.status_code == 400 and "locked node" in r.text


def test_newversion_branch_explicit_uuid_and_errors(client, repo):
    u = repo.root_uuid
    r = client.post(f"/api/node/{u}/newversion", json={})
    assert r.status_code == 400 and "committed" in r.text  # parent must be locked
    client.post(f"/api/node/{u}/commit", json={})
    want = "ab" * 16
    assert client.post(f"/api/node/{u}/newversion", json={"uuid": want}).json() == {"child": want}
    r = client.post(f"/api/node/{u}/newversion", json={})
    assert r.status_code == 400  # one open child per branch (DVID: BadRequest)
    r = client.post(f"/api/node/{u}/branch", json={"branch": "b1", "uuid": want})
    assert r.status_code == 400 and "already exists" in r.text  # UUID taken
    r = client.post(f"/api/node/{u}/branch", json={"branch": "b1", "uuid": "xyz"})
    assert r.status_code == 400
    want2 = "cd" * 16
    assert client.post(f"/api/node/{u}/branch", json={"branch": "b1", "uuid": want2}).json() == {
        "child": want2
    }
    assert client.post(f"/api/node/{u}/branch", json={"branch": "master"}).status_code == 400
    assert client.post(f"/api/node/{u}/branch", json={}).status_code == 400
    assert client.get(f"/api/repo/{u}/branch-versions/b1").json() == [want2, u]
    assert client.get(f"/api/repo/{u}/branch-versions/master").json() == [want, u]
    assert client.get(f"/api/repo/{u}/branch-versions/none").json() == []


def test_branch_versions_walks_as_dvid_after_a_merge(client, repo, kv):
    """DVID's getAncestryByBranch (repo_local.go 3207-3268): down to the leaf by branch,
    then up, listing a merge node's other parents and ascending through its last one."""
    r0 = repo.root_uuid
    client.post(f"/api/node/{r0}/commit", json={})
    a = client.post(f"/api/node/{r0}/newversion", json={}).json()["child"]
    b = client.post(f"/api/node/{r0}/branch", json={"branch": "b"}).json()["child"]
    client.post(f"/api/node/{b}/commit", json={})
    b2 = client.post(f"/api/node/{b}/newversion", json={}).json()["child"]
    for node in (a, b2):
        client.post(f"/api/node/{node}/commit", json={})
    m = client.post(f"/api/repo/{r0}/merge", json={"parents": [a, b2]}).json()["child"]
    versions = client.get(f"/api/repo/{r0}/branch-versions/master").json()
    assert versions == [m, a, b2, b, r0]  # the merge child is master's leaf
    assert client.get(f"/api/repo/{r0}/branch-versions/b").json() == [b2, b, r0]
    m2 = client.post(f"/api/repo/{r0}/merge", json={"parents": [b2, a]}).json()["child"]
    # a second master child of a: DVID refuses to pick a leaf
    r = client.get(f"/api/repo/{r0}/branch-versions/master")
    assert r.status_code == 400 and "more than 1 child" in r.text and m2 in r.text
    assert client.get(f"/api/repo/{r0}/branch-versions/none").json() == []


def test_version_refs(client, repo, kv):
    u = repo.root_uuid
    client.post(f"/api/node/{u}/kv/key/a", content=b"root")
    client.post(f"/api/node/{u}/commit", json={})
    child = client.post(f"/api/node/{u}/newversion", json={}).json()["child"]
    client.post(f"/api/node/{child}/kv/key/a", content=b"child")
    assert client.get("/api/node/:master/kv/key/a").content == b"child"
    assert client.get(f"/api/node/{u[:4]}:master/kv/key/a").content == b"child"
    assert client.get("/api/node/master~1/kv/key/a").content == b"root"
    assert client.get("/api/node/:master~1/kv/key/a").content == b"root"
    assert client.get(f"/api/node/{child[:6]}/kv/key/a").content == b"child"
    r = client.get("/api/node/ffffffffff/kv/key/a")
    assert r.status_code == 400 and "could not find UUID with partial match to ffffffffff" in r.text
    assert client.get("/api/node/a:b:c/kv/key/a").status_code == 400
    assert client.get("/api/node/:nobranch/kv/key/a").status_code == 400
    assert client.get(f"/api/node/{u}~5/kv/key/a").status_code == 400


def test_tag_names_a_committed_node(client, repo, kv):
    u = repo.root_uuid
    client.post(f"/api/node/{u}/kv/key/a", content=b"v1")
    r = client.post(f"/api/node/{u}/tag", json={"tag": "v1.0"})
    assert r.status_code == 400  # open node cannot be tagged
    client.post(f"/api/node/{u}/commit", json={})
    assert client.post(f"/api/node/{u}/tag", json={"tag": "v1.0"}).json() == {"child": "v1.0"}
    assert client.get("/api/node/v1.0/kv/key/a").content == b"v1"
    assert client.get("/api/node/v1.0/status").text == '{"Locked":true}'
    assert client.post(f"/api/node/{u}/tag", json={"tag": "v1.0"}).status_code == 400


def test_instance_creation_rules(client, repo):
    u = repo.root_uuid
    r = client.post(f"/api/repo/{u}/instance", json={"typename": "nosuch", "dataname": "x"})
    assert r.status_code == 400 and "unknown datatype" in r.text
    assert client.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue"}).status_code == 400
    assert client.post(f"/api/repo/{u}/instance", content=b"{oops").status_code == 400
    assert (
        client.post(
            f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "log"}
        ).status_code
        == 400
    )
    ok = client.post(
        f"/api/repo/{u}/instance",
        json={"typename": "keyvalue", "dataname": "kv", "versioned": "true"},
    )
    assert ok.json() == {"result": f"Added kv [keyvalue] to node {u}"}
    assert (
        client.post(
            f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv"}
        ).status_code
        == 400
    )
    client.post(f"/api/node/{u}/commit", json={})
    r = client.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv2"})
    assert r.status_code == 400 and "New data instance cannot be created on locked node" in r.text


def test_instance_common_endpoints(client, kv):
    r = client.get(f"/api/node/{kv}/kv/info")
    assert r.json()["Base"]["Name"] == "kv"
    assert "keyvalue" in client.get(f"/api/node/{kv}/kv/help").text
    assert client.get(f"/api/node/{kv}/kv/tags").json() == {"Tags": None}
    assert client.post(f"/api/node/{kv}/kv/tags", json={"a": "1"}).status_code == 200
    assert client.post(f"/api/node/{kv}/kv/tags", json={"b": "2"}).status_code == 200
    assert client.get(f"/api/node/{kv}/kv/tags").json() == {"Tags": {"a": "1", "b": "2"}}
    client.post(f"/api/node/{kv}/kv/tags?replace=true", json={"c": "3"})
    assert client.get(f"/api/node/{kv}/kv/tags").json() == {"Tags": {"c": "3"}}
    assert client.post(f"/api/node/{kv}/kv/tags", json={"n": 1}).status_code == 400
    r = client.get(f"/api/node/{kv}/nosuch/info")
    assert r.status_code == 400 and "no data instance named 'nosuch'" in r.text
    r = client.get(f"/api/node/{kv}/kv/bogus")
    assert r.status_code == 400 and r.text.startswith(
        f'Bad API call (/api/node/{kv}/kv/bogus) for data "kv"'
    )
    r = client.put(f"/api/node/{kv}/kv/keys")
    assert r.status_code == 400 and 'does not support "PUT"' in r.text


def test_tags_post_is_refused_on_a_committed_node(client, repo, kv):
    """DVID's generic tags POST is a mutation (datainstance.go IsMutationRequest)."""
    u = repo.root_uuid
    for typename in ("labelmap", "uint8blk", "roi"):
        r = client.post(
            f"/api/repo/{u}/instance", json={"typename": typename, "dataname": typename}
        )
        assert r.status_code == 200, r.text
    r = client.post(
        f"/api/repo/{u}/instance",
        json={"typename": "keyvalue", "dataname": "flat", "versioned": "false"},
    )
    assert r.status_code == 200, r.text
    client.post(f"/api/node/{u}/kv/tags", json={"a": "1"})
    client.post(f"/api/node/{u}/commit", json={})
    for name in ("kv", "labelmap", "uint8blk", "roi"):
        r = client.post(f"/api/node/{u}/{name}/tags", json={"b": "2"})
        assert r.status_code == 400, (name, r.text)
        assert f'Cannot do POST on endpoint "tags" of locked node {u}' in r.text
    assert client.get(f"/api/node/{u}/kv/tags").json() == {"Tags": {"a": "1"}}
    # unversioned data skips the committed-node rule, as every other write
    assert client.post(f"/api/node/{u}/flat/tags", json={"b": "2"}).status_code == 200


def test_merge_endpoint(client, repo, kv):
    u = repo.root_uuid
    client.post(f"/api/node/{u}/commit", json={})
    a = client.post(f"/api/node/{u}/newversion", json={}).json()["child"]
    b = client.post(f"/api/node/{u}/branch", json={"branch": "b"}).json()["child"]
    client.post(f"/api/node/{a}/kv/key/x", content=b"A")
    client.post(f"/api/node/{b}/kv/key/y", content=b"B")
    body = {"mergeType": "conflict-free", "parents": [a, b], "note": "m"}
    r = client.post(f"/api/repo/{u}/merge", json=body)
    assert r.status_code == 400 and "not committed" in r.text
    client.post(f"/api/node/{a}/commit", json={})
    client.post(f"/api/node/{b}/commit", json={})
    assert (
        client.post(f"/api/repo/{u}/merge", json={**body, "mergeType": "flatten"}).status_code
        == 400
    )
    assert client.post(f"/api/repo/{u}/merge", json={**body, "parents": [a]}).status_code == 400
    m = client.post(f"/api/repo/{u}/merge", json=body).json()["child"]
    assert client.get(f"/api/node/{m}/kv/key/x").content == b"A"
    assert client.get(f"/api/node/{m}/kv/key/y").content == b"B"
    node = client.get(f"/api/repo/{u}/info").json()["DAG"]["Nodes"][m]
    assert node["Branch"] == "" and len(node["Parents"]) == 2 and node["Locked"] is False


def test_merge_conflict_is_409_listing_keys(client, repo, kv):
    u = repo.root_uuid
    client.post(f"/api/node/{u}/commit", json={})
    a = client.post(f"/api/node/{u}/newversion", json={}).json()["child"]
    b = client.post(f"/api/node/{u}/branch", json={"branch": "b"}).json()["child"]
    client.post(f"/api/node/{a}/kv/key/x", content=b"A")
    client.post(f"/api/node/{b}/kv/key/x", content=b"B")
    client.post(f"/api/node/{a}/commit", json={})
    client.post(f"/api/node/{b}/commit", json={})
    r = client.post(f"/api/repo/{u}/merge", json={"mergeType": "conflict-free", "parents": [a, b]})
    assert r.status_code == 409 and '"key": "x"' in r.text
    nodes_before = len(client.get(f"/api/repo/{u}/info").json()["DAG"]["Nodes"])
    assert nodes_before == 3  # nothing was created
    r = client.post(f"/api/repo/{u}/merge", json={"parents": [a, b], "strategy": "theirs"})
    m = r.json()["child"]
    assert client.get(f"/api/node/{m}/kv/key/x").content == b"B"


def test_dvid_api_errors_are_400_but_missing_keys_and_merge_conflicts(client, repo, kv):
    """DVID answers errors through BadRequest (web.go 1068-1088): 400, not 404/409.

    A missing key stays 404 (as DVID's keyvalue), an unknown URL 404, and a merge
    conflict 409 (dvidctl detects conflicts eagerly, on purpose).
    """
    u = repo.root_uuid
    r = client.get(f"/api/node/{u}/nosuch/keys")
    assert r.status_code == 400 and r.text.startswith("no data instance named 'nosuch'")
    assert r.text.rstrip().endswith(f"(/api/node/{u}/nosuch/keys).")
    r = client.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv"})
    assert r.status_code == 400 and "already exists" in r.text
    assert client.get("/api/help/nosuchtype").status_code == 400
    client.post(f"/api/node/{u}/commit", json={})
    assert client.post(f"/api/node/{u}/branch", json={"branch": "b"}).status_code == 200
    r = client.post(f"/api/node/{u}/branch", json={"branch": "b"})
    assert r.status_code == 400 and "branch 'b' already exists" in r.text
    assert client.post(f"/api/node/{u}/newversion", json={}).status_code == 200
    assert client.post(f"/api/node/{u}/newversion", json={}).status_code == 400
    r = client.get(f"/api/node/{u}/kv/key/nothing")
    assert r.status_code == 404 and 'Key "nothing" not found' in r.text
    assert client.head(f"/api/node/{u}/kv/key/nothing").status_code == 404
    assert client.get("/api/no/such/route").status_code == 404
    a, b = (client.get(f"/api/repo/{u}/branch-versions/{n}").json()[0] for n in ("master", "b"))
    for node, val in ((a, b"A"), (b, b"B")):
        client.post(f"/api/node/{node}/kv/key/x", content=val)
        client.post(f"/api/node/{node}/commit", json={})
    r = client.post(f"/api/repo/{u}/merge", json={"mergeType": "conflict-free", "parents": [a, b]})
    assert r.status_code == 409 and '"key": "x"' in r.text


def test_token_protects_writes_only(repo, client_factory):
    c = client_factory([repo], ServerSettings(token="s3cret"))
    u = repo.root_uuid
    assert c.get(f"/api/repo/{u}/info").status_code == 200
    r = c.post(f"/api/node/{u}/note", json={"note": "x"})
    assert r.status_code == 403 and "token" in r.text
    assert (
        c.post(
            f"/api/node/{u}/note", json={"note": "x"}, headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 403
    )
    assert (
        c.post(
            f"/api/node/{u}/note", json={"note": "x"}, headers={"Authorization": "Bearer s3cret"}
        ).status_code
        == 200
    )
    assert c.post(f"/api/node/{u}/note?admintoken=s3cret", json={"note": "y"}).status_code == 200
    assert c.get(f"/api/node/{u}/note").json() == {"note": "y"}


def test_read_only_refuses_writes(repo, client_factory):
    c = client_factory([repo], ServerSettings(read_only=True))
    u = repo.root_uuid
    assert c.get(f"/api/node/{u}/note").status_code == 200
    r = c.post(f"/api/node/{u}/note", json={"note": "x"})
    assert r.status_code == 400 and "read-only" in r.text  # DVID answers 400
    assert c.get("/api/server/info").json()["Mode"] == "read only"


def test_several_repos_and_repo_creation(tmp_path, client_factory):
    r1 = Repository.memory(alias="one")
    c = client_factory([r1], store_dir=tmp_path)
    got = c.post("/api/repos", json={"alias": "two", "description": "second"})
    assert got.status_code == 200
    root2 = got.json()["root"]
    assert (tmp_path / root2 / ".dvid" / "db").exists()
    info = c.get("/api/repos/info").json()
    assert set(info) == {r1.root_uuid, root2} and info[root2]["Alias"] == "two"
    # ':master' is ambiguous with two repos; a prefix selects one.
    assert c.get("/api/node/:master/status").status_code == 400
    assert c.get(f"/api/node/{root2[:5]}:master/status").status_code == 200
    want = "12" * 16
    assert c.post("/api/repos", json={"root": want}).json() == {"root": want}
    assert c.post("/api/repos", json={"root": want}).status_code == 400
    assert c.post("/api/repos", json={"root": "bad"}).status_code == 400
    c.app.app.state.dvid.close()  # type: ignore[attr-defined]


def test_repo_creation_needs_a_store(client):
    r = client.post("/api/repos", json={})
    assert r.status_code == 400 and "store" in r.text


def test_get_with_json_body_and_unknown_query_params(client, kv):
    client.post(f"/api/node/{kv}/kv/key/a?u=me&app=test&throttle=true", content=b"1")
    r = client.request(
        "GET",
        f"/api/node/{kv}/kv/keyvalues?json=true&u=x",
        content=json.dumps(["a", "zz"]).encode(),
    )
    assert r.status_code == 200 and r.json() == {"a": 1, "zz": {}}


def test_body_limit_refused_before_reading(repo, kv, client_factory):
    c = client_factory([repo], ServerSettings(max_body=10))
    r = c.post(f"/api/node/{kv}/kv/key/a", content=b"x" * 11)
    assert r.status_code == 413
    assert c.get(f"/api/node/{kv}/kv/keys").json() == []


def test_openapi_from_route_tables(client):
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert "/api/repos/info" in paths and "/api/node/{uuid}/commit" in paths
    kv_key = paths["/api/node/{uuid}/{keyvalue}/key/{key}"]
    assert set(kv_key) == {"get", "head", "post", "delete"}
    assert kv_key["post"]["x-dvid-mutates"] is True and kv_key["get"]["x-dvid-mutates"] is False
    names = [p["name"] for p in kv_key["get"]["parameters"]]
    assert names == ["uuid", "keyvalue", "key"]
    for path in (
        "/api/node/{uuid}/{labelmap}/blocks",
        "/api/node/{uuid}/{labelmap}/raw/{dims}/{size}/{offset}",
        "/api/node/{uuid}/{uint8blk}/subvolblocks/{size}/{offset}",
        "/api/node/{uuid}/{roi}/ptquery",
        "/api/repo/{uuid}/merge",
    ):
        assert path in paths, path
    assert paths["/api/node/{uuid}/{roi}/ptquery"]["post"]["x-dvid-mutates"] is False
    size = paths["/api/node/{uuid}/{labelmap}/raw/{dims}/{size}/{offset}"]["get"]["parameters"][3]
    assert size["name"] == "size" and "pattern" in size["schema"]


def test_wrong_method_on_server_route_is_400(client):
    r = client.delete("/api/repos/info")
    assert r.status_code == 400 and "DELETE is not supported" in r.text


def test_resolve_endpoint_prefers_earlier_parents(client, repo, kv):
    u = repo.root_uuid
    client.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv2"})
    client.post(f"/api/node/{u}/commit", json={})
    a = client.post(f"/api/node/{u}/newversion", json={}).json()["child"]
    b = client.post(f"/api/node/{u}/branch", json={"branch": "b"}).json()["child"]
    for node, val in ((a, b"A"), (b, b"B")):
        client.post(f"/api/node/{node}/kv/key/x", content=val)
        client.post(f"/api/node/{node}/commit", json={})
    r = client.post(f"/api/repo/{u}/resolve", json={"data": ["kv2"], "parents": [b, a]})
    assert r.status_code == 409 and "not listed in data: kv" in r.text
    assert (
        client.post(
            f"/api/repo/{u}/resolve", json={"data": ["nope"], "parents": [b, a]}
        ).status_code
        == 400
    )
    m = client.post(
        f"/api/repo/{u}/resolve", json={"data": ["kv"], "parents": [b, a], "note": "r"}
    ).json()["child"]
    assert client.get(f"/api/node/{m}/kv/key/x").content == b"B"
