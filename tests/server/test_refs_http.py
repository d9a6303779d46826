"""Branch and tag names over DVID's HTTP API (issue #8, part 4): the same rule as the CLI.

DVID clients name a branch as ``:NAME`` or ``UUID:NAME``, never bare, so the
``branch`` endpoint accepts hex-only names as DVID does; a tag is named bare,
like a UUID prefix, so a hex-only tag is refused.
"""

from __future__ import annotations


def _committed(client, repo) -> str:  # type: ignore[no-untyped-def]
    u = repo.root_uuid
    assert client.post(f"/api/node/{u}/commit", json={}).status_code == 200
    return u


def test_branch_and_tag_share_one_namespace(client, repo):  # type: ignore[no-untyped-def]
    """A name taken is 400 over HTTP, as DVID's BadRequest (the CLI's exit code is 5)."""
    u = _committed(client, repo)
    assert client.post(f"/api/node/{u}/tag", json={"tag": "t1"}).status_code == 200
    r = client.post(f"/api/node/{u}/branch", json={"branch": "t1"})
    assert r.status_code == 400 and "tag 't1' already exists" in r.text
    assert client.post(f"/api/node/{u}/branch", json={"branch": "dev"}).status_code == 200
    r = client.post(f"/api/node/{u}/tag", json={"tag": "dev"})
    assert r.status_code == 400 and "branch 'dev' already exists" in r.text
    assert sorted(repo.state.branches) == ["", "dev"] and list(repo.state.tags) == ["t1"]


def test_hex_only_branch_accepted_as_dvid_does_and_named_with_colon(client, repo):  # type: ignore[no-untyped-def]
    u = _committed(client, repo)
    child = client.post(f"/api/node/{u}/branch", json={"branch": "2024"}).json()["child"]
    assert client.get("/api/node/:2024/status").text == '{"Locked":false}'
    assert client.get(f"/api/repo/{u}/branch-versions/2024").json() == [child, u]
    assert repo.node(":2024").uuid == child


def test_hex_only_tag_refused(client, repo):  # type: ignore[no-untyped-def]
    u = _committed(client, repo)
    r = client.post(f"/api/node/{u}/tag", json={"tag": "0bf5"})
    assert r.status_code == 400 and "reads as a UUID prefix" in r.text
    assert repo.state.tags == {}
