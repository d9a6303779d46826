"""``dvidctl label ...``: proofreading verbs on a real repository (in-process, and a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelmap.mutlog import mutation_seq
from dvidctl.datatypes.labelmap.sparsevol import decode_rles
from tests.commands.cli_helpers import assert_fails, invoker


@pytest.fixture
def seg_repo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    vol = np.zeros((32, 32, 32), np.uint64)
    vol[:, :, :10], vol[:, :, 10:20], vol[:, :, 20:] = 7, 8, 9
    vol[:16, :, 20:] = 10
    with Repository.init(tmp_path / "r") as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
        repo.head.instance("seg").put_subvolume(vol)
    return tmp_path / "r", vol


def test_label_verbs_json(seg_repo: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, vol = seg_repo
    run = invoker(path)
    sizes = json.loads(run("label", "size", "seg", "7", "8", "11", "--json").stdout)
    assert sizes == {"7": int((vol == 7).sum()), "8": int((vol == 8).sum()), "11": 0}
    got = json.loads(run("label", "merge", "seg", "7", "8", "--json", "--user", "ann").stdout)
    assert set(got) == {"MutationID"} and mutation_seq(got["MutationID"]) == 1
    assert json.loads(run("label", "mapping", "seg", "8", "7", "--json").stdout) == {
        "8": 7,
        "7": 7,
    }
    svs = json.loads(run("label", "supervoxels", "seg", "7", "--json").stdout)
    assert svs == {"supervoxels": [7, 8], "sizes": [int((vol == 7).sum()), int((vol == 8).sum())]}
    cleaved = json.loads(run("label", "cleave", "seg", "7", "8", "--json").stdout)
    assert cleaved["CleavedLabel"] == 11 and mutation_seq(cleaved["MutationID"]) == 2
    out = tmp_path / "b9.rle"
    doc = json.loads(run("label", "sparsevol", "seg", "9", "-o", str(out), "--json").stdout)
    assert doc["voxels"] == int((vol == 9).sum())
    runs = decode_rles(out.read_bytes())
    np.testing.assert_array_equal(runs.voxels_zyx(), np.argwhere(vol == 9))
    # split body 9 by a mask with an offset: its voxels with z >= 24
    mask = np.zeros((8, 32, 32), bool)
    mask[:, :, 20:] = True
    np.save(tmp_path / "m.npy", mask)
    split = json.loads(
        run(
            "label",
            "split",
            "seg",
            "9",
            "--mask",
            str(tmp_path / "m.npy"),
            "--offset",
            "0,0,24",
            "--json",
        ).stdout
    )
    assert json.loads(run("label", "size", "seg", str(split["label"]), "--json").stdout) == {
        str(split["label"]): 8 * 32 * 12
    }
    hist = json.loads(run("label", "history", "seg", "7", "--json").stdout)
    assert [h["Action"] for h in hist] == ["merge-complete", "cleave-complete"]
    assert hist[0]["User"] == "ann"


def test_label_errors_are_one_line(seg_repo: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = seg_repo
    run = invoker(path)
    assert_fails(run("label", "merge", "seg", "7", "7", ok=False), 2, "with itself")
    assert_fails(run("label", "cleave", "seg", "7", "9", ok=False), 2, "not in body 7")
    assert_fails(run("label", "sparsevol", "seg", "12345", ok=False), 3, "no voxels")
    assert_fails(run("label", "split", "seg", "7", ok=False), 2, "--rle FILE or --mask")
    (tmp_path / "bad.rle").write_bytes(b"\x00\x03")
    assert_fails(
        run("label", "split", "seg", "7", "--rle", str(tmp_path / "bad.rle"), ok=False), 2, "RLE"
    )


def test_label_merge_as_a_subprocess(seg_repo: tuple[Path, np.ndarray]) -> None:
    path, vol = seg_repo
    env = {**os.environ, "DVIDCTL_REPO": str(path)}
    cmd = [sys.executable, "-m", "dvidctl", "label", "merge", "seg", "9", "10", "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert mutation_seq(json.loads(done.stdout)["MutationID"]) == 1
    cmd = [sys.executable, "-m", "dvidctl", "label", "size", "seg", "9", "10"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.stdout.split() == ["9", str(int(((vol == 9) | (vol == 10)).sum())), "10", "0"]


def test_label_verbs_print_lines_without_json(seg_repo: tuple[Path, np.ndarray]) -> None:
    """Each verb's line(s) for people, and a non-labelmap named: one error line."""
    path, vol = seg_repo
    run = invoker(path)
    n7, n8 = int((vol == 7).sum()), int((vol == 8).sum())
    merged = re.fullmatch(
        r"merged 8 into 7 \(mutation (\d+)\)\n", run("label", "merge", "seg", "7", "8").stdout
    )
    assert merged and mutation_seq(int(merged[1])) == 1
    assert run("label", "mapping", "seg", "8", "5").stdout == "8  7\n5  0\n"
    assert run("label", "supervoxels", "seg", "7").stdout == f"7  {n7}\n8  {n8}\n"
    assert run("label", "size", "seg", "7").stdout == f"7  {n7 + n8}\n"
    out = run("label", "cleave", "seg", "7", "8").stdout
    cleaved = re.fullmatch(r"cleaved into new body 11 \(mutation (\d+)\)\n", out)
    assert cleaved and mutation_seq(int(cleaved[1])) == 2
    assert run("label", "sparsevol", "seg", "11").stdout == (
        f"11: {n8} voxels in {32 * 32} runs, x,y,z [10, 0, 0]..[19, 31, 31]\n"
    )
    history = run("label", "history", "seg", "7").stdout.splitlines()
    got = [line.split("  ")[:2] for line in history]
    assert got == [[merged[1], "merge-complete"], [cleaved[1], "cleave-complete"]]
    with Repository.open(path) as repo:
        repo.new_instance("keyvalue", "kv")
    got = run("label", "size", "kv", "7", ok=False)
    assert_fails(got, 2, "instance 'kv' is a keyvalue, not a labelmap")
