"""dvidctl mesh: build, status, rebuild of changed bodies, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dvidctl import Repository
from dvidctl.datatypes.labelmap.ngmesh import decode_ngmesh
from tests.commands.cli_helpers import assert_fails, invoker


def _repo(tmp_path: Path) -> Path:
    d = tmp_path / "r"
    with Repository.init(d) as r:
        r.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
        r.new_instance("keyvalue", "kv")
        vol = np.zeros((16, 16, 32), np.uint64)
        vol[2:6, 2:6, 2:6] = 5
        vol[8:12, 8:12, 20:30] = 6
        r.head.instance("seg").put_subvolume(vol)
    return d


def test_mesh_builds_reports_and_rebuilds_what_changed(tmp_path: Path) -> None:
    d = _repo(tmp_path)
    invoke = invoker(d)
    out = json.loads(invoke("mesh", "seg", "5", "6", "--json").stdout)
    assert sorted(out["built"]) == ["5", "6"] and out["meshes"] == "seg_meshes"
    with Repository.open(d, read_only=True) as r:
        mesh = decode_ngmesh(r.head.instance("seg_meshes").get("5.ngmesh"))
    np.testing.assert_allclose(mesh.bounds[0], [16, 16, 16])  # voxel 2 x 8 nm
    assert "nothing to rebuild" in invoke("mesh", "seg").stderr
    with Repository.open(d) as r:
        r.head.instance("seg").put_subvolume(np.full((2, 2, 2), 6, np.uint64), (0, 0, 28))
    status = json.loads(invoke("mesh", "seg", "--status", "--json").stdout)
    assert status["labels"]["6"]["stale"] and not status["labels"]["5"]["stale"]
    text = invoke("mesh", "seg").stdout
    assert "built 6.ngmesh" in text and "5.ngmesh" not in text
    assert "ok" in invoke("mesh", "seg", "--status").stdout


def test_mesh_refusals(tmp_path: Path) -> None:
    invoke = invoker(_repo(tmp_path))
    assert_fails(invoke("mesh", "kv", "1", ok=False), 2, "not a labelmap")
    assert_fails(invoke("mesh", "seg", "77", ok=False), 3, "label 77")
    assert_fails(invoke("mesh", "seg", "0", ok=False), 2, "1 .. 2^64-1")
    invoke("commit", "-m", "c")
    assert_fails(invoke("mesh", "seg", "5", "--node", "HEAD~1", ok=False), 4, "committed")
