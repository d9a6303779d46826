"""Partial clones: chosen instances (--instance), the history up to one node (--node)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dvidctl import Repository
from dvidctl.commands.main import app
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.server.runner import BackgroundServer
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.push import push
from tests.sync.helpers import assert_same_nodes, build_source, remote, served, server


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[tuple[BackgroundServer, Repository]]:
    with server(tmp_path / "store") as s, Repository.init(tmp_path / "src") as src:
        build_source(src)
        push(src, remote(s, src.root_uuid))
        push(src, remote(s, src.root_uuid), "side")
        yield s, src


def test_a_clone_of_some_instances_holds_and_moves_only_those(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    url = f"{s.url}/{src.root_uuid}"
    got = clone(url, tmp_path / "part", instances=["kv", "roi"])
    with Repository.open(tmp_path / "part") as part:
        assert sorted(part.state.instances) == ["kv", "roi"]
        locked = {n.uuid for n in src.dag.nodes.values() if n.locked}
        assert {n.uuid for n in part.dag.nodes.values() if n.locked} == locked  # every node
        with pytest.raises(NotFoundError, match="no data instance named 'seg'"):
            part.head.instance("seg")
        kv_roi = [
            part.instance_record(n).data_uuid for n in ("kv", "roi")
        ]  # the comparison covers exactly these
        for uuid in [n.uuid for n in src.dag.nodes.values() if n.locked]:
            mine = part.dag.node(part.dag.by_uuid[uuid]).digests or {}
            theirs = src.dag.node(src.dag.by_uuid[uuid]).digests or {}
            assert {d: mine.get(d) for d in kv_roi} == {d: theirs.get(d) for d in kv_roi}
        assert got.fetch.stats.keys < 100  # no voxel block came
        # Its own commit goes back, over the instances it holds; the rest stays as it was.
        part.head.instance("kv").put("from-part", b"1")
        tip, _ = part.commit("part work")
        pushed = push(part, remote(s, src.root_uuid))
        assert pushed.stats.nodes == 1 and pushed.stats.keys == 1
        there = served(s, src.root_uuid)
        assert there.node(tip.uuid).instance("kv").get("from-part") == b"1"
        assert there.node(tip.uuid).instance("seg").max_label() > 0  # through its parents
        # A later fetch keeps to the choice.
        got2 = fetch(part, remote(s, src.root_uuid))
        assert sorted(part.state.instances) == ["kv", "roi"] and got2.stats.keys == 0


def test_a_clone_up_to_one_node(srv: tuple[BackgroundServer, Repository], tmp_path: Path) -> None:
    s, src = srv
    c2 = src.node("master~2").uuid
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "old", node=c2[:8])
    with Repository.open(tmp_path / "old") as old:
        assert sorted(u for u in old.dag.by_uuid if old.dag.node(old.dag.by_uuid[u]).locked) == (
            sorted([src.root_uuid, c2])
        )
        assert old.head_branch == "master" and old.head.parents[0].uuid == c2
        assert_same_nodes(src, old, [src.root_uuid, c2])
        with pytest.raises(KeyError):
            old.resolve(src.node("master~1").uuid)  # later nodes are not here
        assert fetch(old, remote(s, src.root_uuid)).stats.nodes == 0  # the choice holds


def test_bad_choices_are_refused_before_anything_is_made(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    url = f"{s.url}/{src.root_uuid}"
    with pytest.raises(NotFoundError, match="no instance 'nope'"):
        clone(url, tmp_path / "a", instances=["nope"])
    with pytest.raises(BadRequestError, match="matches no node"):
        clone(url, tmp_path / "b", node="ffff")


def test_status_says_a_clone_is_partial(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    here = os.getcwd()
    try:
        r = CliRunner().invoke(
            app, ["-C", str(tmp_path), "clone", f"{s.url}/{src.root_uuid}", "p", "-i", "kv"]
        )
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(app, ["-C", str(tmp_path / "p"), "status"])
        assert "partial clone: instances kv" in r.stdout
        r = CliRunner().invoke(app, ["-C", str(tmp_path / "p"), "status", "--json"])
        assert json.loads(r.stdout)["partial"] == {"instances": ["kv"], "node": None}
    finally:
        os.chdir(here)
