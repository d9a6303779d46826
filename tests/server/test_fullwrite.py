"""Writes to committed nodes: ``--fullwrite`` and DVID's per-request ``admintoken``.

DVID (server/web.go ``nodeSelector``/``instanceSelector``, server/auth.go): a server
in fullwrite mode, or a request whose ``admintoken`` query parameter equals the
server's admin token, may mutate committed nodes. DVID clients' own test suites
rely on it (they write, e.g. merge bodies, on a committed node).
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dvidctl.commands.main import app
from dvidctl.errors import BadRequestError
from dvidctl.server.state import ServerSettings


def _committed_kv(c, repo) -> str:  # type: ignore[no-untyped-def]
    u = repo.root_uuid
    r = c.post(
        f"/api/repo/{u}/instance?admintoken=s3cret",
        json={"typename": "keyvalue", "dataname": "kv"},
    )
    assert r.status_code == 200, r.text
    assert c.post(f"/api/node/{u}/kv/key/a?admintoken=s3cret", content=b"1").status_code == 200
    assert c.post(f"/api/node/{u}/commit?admintoken=s3cret", json={}).status_code == 200
    return u


def test_fullwrite_server_writes_committed_nodes_visibly(repo, client_factory):
    c = client_factory([repo], ServerSettings(fullwrite=True))
    assert c.get("/api/server/info").json()["Mode"] == "allow writes on committed nodes"
    u = _committed_kv(c, repo)
    before = {tk: d for _, tk, d in repo.store.changes(repo.dag.by_uuid[u])}
    assert c.post(f"/api/node/{u}/kv/key/a", content=b"2").status_code == 200
    assert c.post(f"/api/node/{u}/kv/key/b", content=b"3").status_code == 200
    assert c.get(f"/api/node/{u}/kv/key/a").content == b"2"
    assert c.get(f"/api/node/{u}/status").json() == {"Locked": True}
    vid = repo.dag.by_uuid[u]
    after = {tk: d for _, tk, d in repo.store.changes(vid)}
    assert len(after) == 2 and after != before  # the delta index shows both writes
    assert repo.node_by_vid(vid).to_dict()["writes_after_commit"] == 2
    # node-level mutations pass too, as DVID's nodeSelector lets them
    assert c.post(f"/api/node/{u}/note", json={"note": "late"}).status_code == 200
    # DVID still refuses a new instance on a committed node (its own rule)
    r = c.post(f"/api/repo/{u}/instance", json={"typename": "keyvalue", "dataname": "kv2"})
    assert r.status_code == 400 and "locked node" in r.text


def test_admintoken_grants_one_request_writes_to_committed_nodes(repo, client_factory):
    c = client_factory([repo], ServerSettings(token="s3cret"))
    assert "Mode" not in c.get("/api/server/info").json()
    u = _committed_kv(c, repo)
    vid = repo.dag.by_uuid[u]
    # the token as a bearer authorises ordinary writes, not the committed node
    r = c.post(f"/api/node/{u}/kv/key/a", content=b"x", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 400 and f'Cannot do POST on endpoint "key" of locked node {u}' in r.text
    r = c.post(f"/api/node/{u}/kv/key/a?admintoken=wrong", content=b"x")
    assert r.status_code == 403
    assert c.get(f"/api/node/{u}/kv/key/a").content == b"1"
    assert repo.node_by_vid(vid).to_dict()["writes_after_commit"] == 0
    assert c.post(f"/api/node/{u}/kv/key/a?admintoken=s3cret", content=b"x").status_code == 200
    assert c.get(f"/api/node/{u}/kv/key/a").content == b"x"
    assert repo.node_by_vid(vid).to_dict()["writes_after_commit"] == 1
    # the privilege is per request: the next one without it is refused again
    r = c.delete(f"/api/node/{u}/kv/key/a", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 400
    assert c.delete(f"/api/node/{u}/kv/key/a?admintoken=s3cret").status_code == 200
    assert c.get(f"/api/node/{u}/kv/key/a").status_code == 404
    deltas = {tk: d for _, tk, d in repo.store.changes(vid)}
    assert len(deltas) == 1  # the delete left a tombstone in the delta index


def test_admintoken_means_nothing_without_a_server_token(repo, client_factory, kv):
    c = client_factory([repo])
    u = kv
    c.post(f"/api/node/{u}/commit", json={})
    r = c.post(f"/api/node/{u}/kv/key/a?admintoken=", content=b"x")
    assert r.status_code == 400 and "locked node" in r.text
    r = c.post(f"/api/node/{u}/kv/key/a?admintoken=anything", content=b"x")
    assert r.status_code == 400 and "locked node" in r.text


def test_voxel_writes_reach_a_committed_node_with_admintoken(repo, client_factory):
    c = client_factory([repo], ServerSettings(token="s3cret"))
    u = repo.root_uuid
    r = c.post(
        f"/api/repo/{u}/instance?admintoken=s3cret",
        json={"typename": "labelmap", "dataname": "seg", "BlockSize": "32,32,32"},
    )
    assert r.status_code == 200, r.text
    assert c.post(f"/api/node/{u}/commit?admintoken=s3cret", json={}).status_code == 200
    vol = np.full((32, 32, 32), 7, dtype=np.uint64)
    url = f"/api/node/{u}/seg/raw/0_1_2/32_32_32/0_0_0"
    r = c.post(url, content=vol.tobytes(), headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 400 and "locked node" in r.text
    assert c.post(url + "?admintoken=s3cret", content=vol.tobytes()).status_code == 200
    got = np.frombuffer(c.get(url).content, dtype=np.uint64).reshape(vol.shape)
    assert (got == 7).all()
    assert c.get(f"/api/node/{u}/seg/maxlabel").json() == {"maxlabel": 7}


def test_fullwrite_and_read_only_are_refused_together(tmp_path):
    with pytest.raises(BadRequestError, match="not both"):
        ServerSettings(read_only=True, fullwrite=True)
    r = CliRunner().invoke(app, ["serve", "--fullwrite", "--read-only", "--repo", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: can only serve with --fullwrite or --read-only, not both")
    assert "Traceback" not in r.output


def test_read_only_refuses_even_an_admin_request(repo, client_factory):
    c = client_factory([repo], ServerSettings(token="s3cret", read_only=True))
    r = c.post(f"/api/node/{repo.root_uuid}/note?admintoken=s3cret", json={"note": "x"})
    assert r.status_code == 400 and "read-only" in r.text
