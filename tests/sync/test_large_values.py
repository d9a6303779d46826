"""Large keyvalue values (manifest + pieces) through a real server, both ways.

Through the sync API the pieces travel as the versioned keys they are (push,
clone, and a value POSTed on the server then pulled); through DVID's endpoints (a
server without /api/sync, as DVID) clone, fetch and push move whole values with
``keys``/``keyvalues``/``key`` and the receiving side stores them in pieces of its
own. The piece size is made small (64 KiB, both sides run in this process) so that
the values here are a few hundred KB; the CLI tests use 8 MiB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dvidctl import Repository
from dvidctl.datatypes.keyvalue import KeyValue, chunks
from dvidctl.datatypes.keyvalue import keys as kvkeys
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.pull import pull
from dvidctl.sync.push import push
from tests.sync.helpers import assert_same_nodes, remote, served, server

PIECE = 64 << 10


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", PIECE)


def _kv(repo: Repository, ref: str | None = None) -> KeyValue:
    inst = repo.node(ref).instance("kv")
    assert isinstance(inst, KeyValue)
    return inst


def _pieces(repo: Repository, ref: str | None = None) -> int:
    kv = _kv(repo, ref)
    return sum(1 for _ in kv._scan(bytes([kvkeys.CLASS_PIECE]), bytes([kvkeys.CLASS_PIECE + 1])))


def _build(repo: Repository) -> dict[str, dict[str, bytes]]:
    """Three committed nodes of large and small values; returns what each holds."""
    repo.new_instance("keyvalue", "kv")
    big = os.urandom(5 * PIECE + 123)
    v1 = {"big": big, "other": os.urandom(3 * PIECE), "small": b"s"}
    _kv(repo).put_many(v1)
    c1, _ = repo.commit("c1")
    v2 = dict(v1, big=big + os.urandom(2 * PIECE))  # an append: pieces 0-4 are shared
    _kv(repo).put("big", v2["big"])
    _kv(repo).delete("other")
    del v2["other"]
    c2, _ = repo.commit("c2")
    return {c1.uuid: v1, c2.uuid: v2}


def _check(repo: Repository, expect: dict[str, dict[str, bytes]]) -> None:
    for ref, values in expect.items():
        kv = _kv(repo, ref)
        assert kv.keys() == sorted(values)
        assert dict(kv.items()) == values
        for k, v in values.items():
            assert kv.get(k) == v


def test_sync_api_moves_pieces_both_ways(tmp_path: Path) -> None:
    with Repository.init(tmp_path / "src") as src, server(tmp_path / "store") as srv:
        expect = _build(src)
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        assert assert_same_nodes(src, there, list(expect)) > 10
        _check(there, expect)

        clone(f"{srv.url}/{src.root_uuid[:8]}", tmp_path / "copy")
        with Repository.open(tmp_path / "copy") as copy:
            _check(copy, expect)
            assert _pieces(copy, list(expect)[1]) == 8  # stored in pieces, as on the server

        # The other way: a large value written on the server through DVID's POST key
        # (streamed), committed there, then pulled.
        head = httpx.post(f"{srv.url}/api/node/{there.head.uuid}/newversion").json()["child"]
        value = os.urandom(4 * PIECE + 1)
        url = f"{srv.url}/api/node/{head}/kv/key/fresh"
        posted = httpx.post(url, content=value, timeout=30)
        assert posted.status_code == 200, posted.text
        got = httpx.get(url, timeout=30)
        assert got.content == value and got.headers["content-length"] == str(len(value))
        part = httpx.get(url, headers={"Range": f"bytes={PIECE - 5}-{2 * PIECE + 5}"}, timeout=30)
        assert part.status_code == 206 and part.content == value[PIECE - 5 : 2 * PIECE + 6]
        done = httpx.post(f"{srv.url}/api/node/{head}/commit", json={"note": "c3"})
        assert done.status_code == 200, done.text
        with Repository.open(tmp_path / "copy") as copy:
            pull(copy, remote(srv, src.root_uuid))
            assert _kv(copy, "master~1").get("fresh") == value
            assert _kv(copy).get("big") == expect[list(expect)[1]]["big"]


@pytest.fixture
def dvid(tmp_path: Path) -> Iterator[tuple[Repository, BackgroundServer, dict]]:  # type: ignore[type-arg]
    """A repository with large values served without /api/sync (as DVID)."""
    repo = Repository.init(tmp_path / "src")
    expect = _build(repo)
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        yield repo, srv, expect
    state.close()


def test_dvid_endpoint_fallback_moves_whole_values(
    dvid: tuple[Repository, BackgroundServer, dict],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    src, srv, expect = dvid
    clone(f"{srv.url}/{src.root_uuid[:6]}", tmp_path / "copy")
    with Repository.open(tmp_path / "copy") as copy:
        _check(copy, expect)
        assert _pieces(copy, list(expect)[1]) == 8  # the copy cut the values itself
    later = os.urandom(2 * PIECE + 7)
    _kv(src).put("later", later)
    src.commit("c3")
    with Repository.open(tmp_path / "copy") as copy:
        fetch(copy, remote(srv, src.root_uuid))
        assert _kv(copy, "origin/master").get("later") == later


def test_push_through_dvid_endpoints_sends_whole_values(
    dvid: tuple[Repository, BackgroundServer, dict],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    src, srv, expect = dvid
    head = src.head.uuid
    httpx.post(f"{srv.url}/api/node/{head}/commit", json={"note": "closed"}).raise_for_status()
    clone(f"{srv.url}/{src.root_uuid}", tmp_path / "copy")
    grown = expect[list(expect)[1]]["big"] + os.urandom(PIECE)
    fresh = os.urandom(3 * PIECE + 1)
    with Repository.open(tmp_path / "copy") as copy:
        _kv(copy).put_many({"big": grown, "fresh": fresh})
        tip, _ = copy.commit("large values from the copy")
        got = push(copy, remote(srv, src.root_uuid))
        assert got.via == "dvid"
    there = _kv(src, tip.uuid)
    assert there.get("big") == grown and there.get("fresh") == fresh
    assert there.keys() == ["big", "fresh", "small"]
    assert _pieces(src, tip.uuid) == 9 + 4  # stored in pieces by the server itself
