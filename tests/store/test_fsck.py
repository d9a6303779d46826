"""``fsck``: each damage is reported (kind, where); a clean repository passes; nothing is written.

The damage is made with the real engine (raw writes under the versioned layer),
on a repository built through the API.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dvidctl import Repository
from dvidctl.api.repository import fsck
from dvidctl.commands.main import app
from dvidctl.store import bulk, metadata
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, COLUMN_FAMILIES, WriteBatch
from dvidctl.store.keys import data_key, delta_key, u32
from dvidctl.store.rocks import RocksEngine
from tests.factories import tree_hashes


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """master c1 (kv a, b) -> c2 (a changed, b deleted) -> open (c); branch side; tag v1."""
    path = tmp_path_factory.mktemp("base")
    with Repository.init(path) as r:
        r.new_instance("keyvalue", "kv")
        kv = r.head.instance("kv")
        kv.put("a", b"1")
        kv.put("b", b"2" * 5000)
        r.commit("c1")
        r.head.instance("kv").put("a", b"one")
        r.head.instance("kv").delete("b")
        r.commit("c2")
        r.tag("v1", "HEAD~1")
        r.branch("side", "HEAD~1")
        r.head.instance("kv").put("c", b"3")
    with RocksEngine(path / ".dvid" / "db") as e:  # everything into table files
        for cf in COLUMN_FAMILIES:
            e._cfs[cf].flush()
    return path


def _copy(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest)
    return dest


def _first(engine: RocksEngine, cf: str, prefix: bytes = b"") -> tuple[bytes, bytes]:
    return next(iter(engine.scan_prefix(cf, prefix)))


def _raw(repo: Path, change: Callable[[RocksEngine, WriteBatch], None]) -> None:
    with RocksEngine(repo / ".dvid" / "db") as e:
        wb = WriteBatch()
        change(e, wb)
        e.write(wb)


def _node(e: RocksEngine, vid: int) -> dict[str, object]:
    d: dict[str, object] = json.loads(e.get(CF_META, metadata.NODE_PREFIX + u32(vid)) or b"")
    return d


def _put_node(wb: WriteBatch, d: dict[str, object]) -> None:
    wb.put(CF_META, metadata.NODE_PREFIX + u32(int(str(d["vid"]))), json.dumps(d).encode())


def _flip_node(e: RocksEngine, wb: WriteBatch, vid: int, **changes: object) -> None:
    d = _node(e, vid)
    d.update(changes)
    _put_node(wb, d)


DAMAGE: dict[str, tuple[Callable[[RocksEngine, WriteBatch], None], str]] = {
    "data-without-delta": (lambda e, wb: wb.delete(CF_DELTA, _first(e, CF_DELTA)[0]), "data "),
    "delta-without-data": (lambda e, wb: wb.delete(CF_DATA, _first(e, CF_DATA)[0]), "delta "),
    "digest-mismatch": (lambda e, wb: wb.put(CF_DATA, _first(e, CF_DATA)[0], b"\x00x"), "key "),
    "bad-value": (lambda e, wb: wb.put(CF_DATA, _first(e, CF_DATA)[0], b"\x07x"), "instance kv"),
    "unknown-version": (
        lambda e, wb: (
            wb.put(CF_DATA, data_key(1, b"zz", 77), b"\x00v"),
            wb.put(CF_DELTA, delta_key(77, 1, b"zz"), b"0" * 16),
        ),
        "version 77",
    ),
    "bad-digest": (lambda e, wb: wb.put(CF_DELTA, _first(e, CF_DELTA)[0], b"short"), "delta "),
    "dag-asymmetric": (lambda e, wb: _flip_node(e, wb, 1, children=[]), "node "),
    "missing-parent": (lambda e, wb: _flip_node(e, wb, 2, parents=[1, 40]), "node 2"),
    "open-parent": (lambda e, wb: _flip_node(e, wb, 1, locked=False), "node 1"),
    "root-mismatch": (lambda e, wb: _flip_node(e, wb, 1, uuid="f" * 32), "'repo'"),
    "dangling-branch": (lambda e, wb: metadata.put_branch(wb, "gone", 99), "branch gone"),
    "dangling-tag": (lambda e, wb: metadata.put_tag(wb, "t9", 99), "tag t9"),
    "counter-behind": (lambda e, wb: metadata.put_counter(wb, "vid", 1), "counter vid"),
    "missing-counter": (lambda e, wb: wb.delete(CF_META, b"counter/iid"), "counter iid"),
    "missing-repo-record": (lambda e, wb: wb.delete(CF_META, metadata.REPO_KEY), "'repo'"),
    "bad-record": (lambda e, wb: wb.put(CF_META, b"node/" + u32(2), b"{nope"), "node/"),
    "duplicate-instance-id": (
        lambda e, wb: wb.put(
            CF_META,
            b"inst/kv2",
            e.get(CF_META, b"inst/kv").replace(b'"kv"', b'"kv2"'),  # type: ignore[union-attr]
        ),
        "instance kv2",
    ),
    "unknown-type": (
        lambda e, wb: wb.put(
            CF_META,
            b"inst/kv",
            e.get(CF_META, b"inst/kv").replace(b'"keyvalue"', b'"nosuchtype"'),  # type: ignore[union-attr]
        ),
        "instance kv",
    ),
    "bad-bulk-marker": (lambda e, wb: wb.put(CF_META, bulk.MARKER_PREFIX + b"x", b"junk"), "bulk"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_damage_is_found_and_named(base_repo: Path, tmp_path: Path, kind: str) -> None:
    repo = _copy(base_repo, tmp_path / "r")
    change, where = DAMAGE[kind]
    _raw(repo, change)
    before = tree_hashes(repo)
    report = fsck(repo)
    assert not report.ok
    found = [p for p in report.problems if p.kind == kind]
    assert found, report.to_dict()
    assert any(where in p.where for p in found), found
    assert tree_hashes(repo) == before, "fsck must not write"


def test_clean_repository_passes_and_counts(base_repo: Path, tmp_path: Path) -> None:
    repo = _copy(base_repo, tmp_path / "r")
    before = tree_hashes(repo)
    report = fsck(repo)
    assert report.ok and report.problems == [] and report.warnings == [], report.to_dict()
    assert report.counts["nodes"] == 4 and report.counts["instances"] == 1
    assert report.counts["data_keys"] == report.counts["delta_keys"] == 5
    assert tree_hashes(repo) == before


def test_flipped_byte_in_a_table_file_is_a_read_problem(base_repo: Path, tmp_path: Path) -> None:
    """The check reads every block with its checksum on (the default read path does not)."""
    repo = _copy(base_repo, tmp_path / "r")
    db = repo / ".dvid" / "db"
    sst = next(p for p in db.glob("*.sst") if b"2" * 5000 in p.read_bytes())
    raw = bytearray(sst.read_bytes())
    raw[raw.index(b"2" * 5000) + 100] ^= 0x01
    sst.write_bytes(bytes(raw))
    report = fsck(repo)
    assert [p.kind for p in report.problems] == ["read"], report.to_dict()
    assert "checksum" in report.problems[0].message


def test_unopenable_database_is_reported_not_raised(base_repo: Path, tmp_path: Path) -> None:
    repo = _copy(base_repo, tmp_path / "r")
    db = repo / ".dvid" / "db"
    (db / "CURRENT").unlink()
    assert [p.kind for p in fsck(repo).problems] == ["files"]
    shutil.rmtree(repo)
    repo = _copy(base_repo, tmp_path / "r2")
    max((repo / ".dvid" / "db").glob("*.sst"), key=lambda p: p.stat().st_size).unlink()
    report = fsck(repo)
    assert [p.kind for p in report.problems] == ["open"] and "missing" in report.problems[0].message


def test_warnings_do_not_fail(base_repo: Path, tmp_path: Path) -> None:
    """A pending bulk write and a stray file are states the next open repairs, not damage."""
    repo = _copy(base_repo, tmp_path / "r")
    db = repo / ".dvid" / "db"
    name = "0000000000000001-1-0.sst"
    marker = bulk.encode_marker(name, [(CF_META, b"x", b"y")])
    _raw(repo, lambda e, wb: wb.put(CF_META, bulk.MARKER_PREFIX + name.encode(), marker))
    (db / "999999.sst").write_bytes(b"left by a crash")
    report = fsck(repo)
    assert report.ok, report.to_dict()
    assert {w.kind for w in report.warnings} == {"pending-bulk-write", "unreferenced-file"}


def test_bad_head_is_a_problem(base_repo: Path, tmp_path: Path) -> None:
    repo = _copy(base_repo, tmp_path / "r")
    (repo / ".dvid" / "HEAD").write_text("branch:nosuch\n")
    assert [p.kind for p in fsck(repo).problems] == ["bad-head"]
    (repo / ".dvid" / "HEAD").write_text("garbage\n")
    assert [p.kind for p in fsck(repo).problems] == ["bad-head"]


def test_cli_exit_codes_and_json(base_repo: Path, tmp_path: Path) -> None:
    repo = _copy(base_repo, tmp_path / "r")
    runner = CliRunner()
    env = {"DVIDCTL_REPO": str(repo)}
    ok = runner.invoke(app, ["fsck"], env=env)
    assert ok.exit_code == 0 and ok.stdout.strip().endswith("ok"), ok.output
    body = json.loads(runner.invoke(app, ["fsck", "--json"], env=env).stdout)
    assert body["ok"] is True and body["problems"] == []
    _raw(repo, DAMAGE["digest-mismatch"][0])
    bad = runner.invoke(app, ["fsck"], env=env)
    assert bad.exit_code == 2, bad.output
    assert bad.stdout.startswith("digest-mismatch  data instance kv key ")
    assert bad.stderr.startswith("error: the repository database") and "1 problem" in bad.stderr
    res = runner.invoke(app, ["fsck", "--json"], env=env)
    body = json.loads(res.stdout)
    assert res.exit_code == 2 and body["ok"] is False
    assert [p["kind"] for p in body["problems"]] == ["digest-mismatch"]
    assert os.path.isdir(repo / ".dvid")


def test_a_deleted_instance_awaiting_gc_is_no_problem(base_repo: Path, tmp_path: Path) -> None:
    """Data left by 'delete instance' (noted under deleted-inst/ for a later gc) is expected;
    a live instance that takes the deleted one's id is not."""
    repo = _copy(base_repo, tmp_path / "r")
    with Repository.open(repo) as r:
        r.delete_instance("kv")
    report = fsck(repo)
    assert report.ok and report.warnings == [], report.to_dict()
    assert report.counts["deleted_instances"] == 1
    assert report.counts["data_keys_of_deleted_instances"] == 5
    rec = b'{"config":{},"created":"","data_uuid":"x","iid":1,"name":"kv2",'
    rec += b'"root_uuid":"","tags":{},"typename":"keyvalue","versioned":true}'
    _raw(repo, lambda e, wb: wb.put(CF_META, b"inst/kv2", rec))
    assert [p.kind for p in fsck(repo).problems] == ["duplicate-instance-id"]


def test_a_node_being_received_may_have_children(base_repo: Path, tmp_path: Path) -> None:
    """Sync creates nodes before their parents are complete (a clone's spans create them
    all first): an incoming node with children is no damage, an open one is."""
    repo = _copy(base_repo, tmp_path / "r")
    _raw(repo, lambda e, wb: _flip_node(e, wb, 1, locked=False, incoming=True))
    report = fsck(repo)
    assert not [p for p in report.problems if p.kind == "open-parent"], report.to_dict()
