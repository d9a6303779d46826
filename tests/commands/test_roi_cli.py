"""``dvidctl roi ...``: each verb's output, and bad input as one error line.

The verbs run in process through typer's runner (half a second of start-up less per command);
one test runs the installed entry point as a real process for what only it shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from dvidctl import Repository
from dvidctl.commands.main import app
from dvidctl.geometry import Box

DVIDCTL = [sys.executable, "-m", "dvidctl"]
SPANS = [[-1, 0, 2, 3], [0, 1, -2, 0], [2, 1, 0, 0]]
RUNNER = CliRunner()


@dataclass
class Ran:
    returncode: int
    stdout: bytes
    stderr: bytes


def run(repo: Path, *args: str, input: bytes | None = None) -> Ran:
    """``dvidctl ARGS`` in process, with the repository as working directory."""
    with contextlib.chdir(repo):
        got = RUNNER.invoke(app, list(args), input=input, env={"DVIDCTL_REPO": str(repo)})
    return Ran(got.exit_code, got.stdout_bytes, got.stderr_bytes or b"")


def process(repo: Path, *args: str, input: bytes | None = None) -> Ran:
    """``dvidctl ARGS`` as a real process, as a user runs it."""
    env = {**os.environ, "DVIDCTL_REPO": str(repo)}
    env.pop("DVIDCTL_DEBUG", None)
    got = subprocess.run(
        [*DVIDCTL, *args], input=input, capture_output=True, env=env, timeout=120, cwd=repo
    )
    return Ran(got.returncode, got.stdout, got.stderr)


def ok(repo: Path, *args: str, input: bytes | None = None) -> Ran:
    got = run(repo, *args, input=input)
    assert got.returncode == 0, (args, got.stderr.decode())
    return got


def fails(repo: Path, code: int, text: str, *args: str, input: bytes | None = None) -> None:
    check_error(run(repo, *args, input=input), code, text, args)


def check_error(got: Ran, code: int, text: str, args: tuple[str, ...]) -> None:
    err = got.stderr.decode()
    assert got.returncode == code, (args, got.returncode, err)
    assert err.startswith("error: ") and text in err.splitlines()[0], (args, err)
    assert "Traceback" not in err and got.stdout == b"", (args, err)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with roi ``r`` (16³ blocks), labelmap ``seg`` and keyvalue ``kv``."""
    path = tmp_path_factory.mktemp("roicli") / "r"
    with Repository.init(path) as r:
        r.new_instance("roi", "r", {"BlockSize": "16,16,16"})
        r.new_instance("roi", "body", {})
        r.new_instance("labelmap", "seg", {"BlockSize": "32,32,32", "MaxDownresLevel": "1"})
        r.new_instance("keyvalue", "kv")
    return path


def spans_of(repo: Path, name: str = "r") -> list[list[int]]:
    with Repository.open(repo, read_only=True) as r:
        got: list[list[int]] = r.head.instance(name).get_spans()
        return got


def test_put_and_get_spans(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps(SPANS))
    res = ok(repo, "roi", "put", "r", str(tmp_path / "s.json"), "--json")
    assert json.loads(res.stdout)["spans"] == 3
    assert json.loads(ok(repo, "roi", "get", "r").stdout) == SPANS  # DVID's GET roi body
    ok(repo, "roi", "get", "r", "-o", str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == SPANS
    doc = json.loads(ok(repo, "roi", "get", "r", "--json").stdout)
    assert doc["spans"] == SPANS and doc["block_size"] == [16, 16, 16]
    # stdin, and a put replaces the ROI
    ok(repo, "roi", "put", "r", input=b"[[5, 5, 1, 2]]")
    assert spans_of(repo) == [[5, 5, 1, 2]]
    ok(repo, "roi", "put", "r", "-", input=json.dumps(SPANS).encode())
    assert spans_of(repo) == SPANS


def test_mask_and_put_mask(repo: Path, tmp_path: Path) -> None:
    ok(repo, "roi", "put", "r", input=json.dumps(SPANS).encode())
    with Repository.open(repo, read_only=True) as r:
        box = Box.from_xyz((-40, -5, -20), (90, 40, 70))
        want = r.head.instance("r").mask(box)
        want1 = r.head.instance("r").mask(Box.from_xyz((-20, -3, -10), (45, 20, 35)), 1)
    assert want.any() and not want.all()
    ok(repo, "roi", "mask", "r", "--offset", "-40,-5,-20", "--size", "90,40,70", "-o", "m.npy")
    np.testing.assert_array_equal(np.load(repo / "m.npy"), want)
    out = tmp_path / "m.tif"
    ok(repo, "roi", "mask", "r", "--offset", "-40_-5_-20", "--size", "90_40_70", "-o", str(out))
    np.testing.assert_array_equal(tifffile.imread(out), want)
    res = ok(repo, "roi", "mask", "r", "--offset", "-20,-3,-10", "--size", "45,20,35", "-s", "1")
    np.testing.assert_array_equal(np.frombuffer(res.stdout, np.uint8).reshape(want1.shape), want1)
    doc = json.loads(
        ok(
            repo, "roi", "mask", "r", "--offset", "0,0,0", "--size", "16,16,16", "--json",
            "-o", str(tmp_path / "x.npy"),
        ).stdout
    )  # fmt: skip
    assert doc["inside"] == 0 and doc["size"] == [16, 16, 16]

    # a block-aligned mask .npy: a block is in when any voxel is set
    mask = np.zeros((32, 16, 48), np.uint8)
    mask[0, 0, 0] = 1
    mask[31, 15, 47] = 9
    np.save(tmp_path / "in.npy", mask)
    ok(repo, "roi", "put", "r", str(tmp_path / "in.npy"), "--offset", "16,-16,32")
    assert spans_of(repo) == [[2, -1, 1, 1], [3, -1, 3, 3]]
    tifffile.imwrite(tmp_path / "in.tif", mask)
    ok(repo, "roi", "put", "r", str(tmp_path / "in.tif"))
    assert spans_of(repo) == [[0, 0, 0, 0], [1, 0, 2, 2]]


def test_contains(repo: Path, tmp_path: Path) -> None:
    ok(repo, "roi", "put", "r", input=json.dumps(SPANS).encode())
    res = ok(repo, "roi", "contains", "r", "32,0,-16", "31,0,-1", "0_16_0")
    assert res.stdout.decode().splitlines() == [
        "32,0,-16\ttrue",
        "31,0,-1\tfalse",
        "0,16,0\ttrue",
    ]
    pts = [[-32, 16, 0], [-33, 16, 0], [0, 31, 47]]
    (tmp_path / "p.json").write_text(json.dumps(pts))
    res = ok(repo, "roi", "contains", "r", "--file", str(tmp_path / "p.json"), "--json")
    assert json.loads(res.stdout) == [True, False, True]
    res = ok(repo, "roi", "contains", "r", "48,0,-1", "-f", "-", "--json", input=b"[[0,0,0]]")
    assert json.loads(res.stdout) == [True, False]


def test_partition(repo: Path) -> None:
    ok(repo, "roi", "put", "r", input=json.dumps(SPANS).encode())
    with Repository.open(repo, read_only=True) as r:
        want = r.head.instance("r").partition(2, True)
    got = json.loads(ok(repo, "roi", "partition", "r", "-b", "2", "--optimized", "--json").stdout)
    assert got == want and got["NumActiveBlocks"] == 6
    lines = ok(repo, "roi", "partition", "r", "--batchsize", "4").stdout.decode().splitlines()
    assert lines and all("blocks" in line for line in lines)


def test_from_body(repo: Path, tmp_path: Path) -> None:
    vol = np.ones((40, 70, 50), np.uint64)
    vol[3:5, 60:62, 40:50] = 77
    vol[39, 0, 0] = 77
    np.save(tmp_path / "seg.npy", vol)
    ok(repo, "put", "subvolume", "seg", str(tmp_path / "seg.npy"), "--offset", "10,-20,30")
    doc = json.loads(ok(repo, "roi", "from-body", "seg", "77", "body", "--json").stdout)
    pts = np.argwhere(vol == 77) + np.asarray([30, -20, 10])
    want = sorted({tuple(b) for b in (pts // 32).tolist()})
    with Repository.open(repo, read_only=True) as r:
        got = sorted(map(tuple, r.head.instance("body").blocks().tolist()))
    assert got == want and doc["blocks"] == len(want) and doc["label"] == 77
    fails(repo, 3, "label 78 has no voxels", "roi", "from-body", "seg", "78", "body")
    fails(repo, 2, "a body label", "roi", "from-body", "seg", "0", "body")
    fails(repo, 2, "not a labelmap", "roi", "from-body", "kv", "77", "body")
    fails(repo, 2, "not an roi", "roi", "from-body", "seg", "77", "kv")
    fails(repo, 3, "nope", "roi", "from-body", "nope", "77", "body")
    fails(repo, 2, "not stored", "roi", "from-body", "seg", "77", "body", "--scale", "2")
    with Repository.open(repo, read_only=True) as r:
        assert sorted(map(tuple, r.head.instance("body").blocks().tolist())) == want


def test_bad_input_is_one_error_line_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    ok(repo, "roi", "put", "r", input=json.dumps(SPANS).encode())
    (tmp_path / "bad.json").write_text("[[0, 0, 1, 2],")
    np.save(tmp_path / "m.npy", np.ones((16, 16, 10), np.uint8))
    box = ("--offset", "0,0,0", "--size", "4,4,4")
    cases: list[tuple[int, str, tuple[str, ...], bytes | None]] = [
        (2, "not valid JSON", ("put", "r", str(tmp_path / "bad.json")), None),
        (2, "x1 < x0", ("put", "r"), b"[[0, 0, 5, 2]]"),
        (2, "got NoneType", ("put", "r"), b"null"),
        (2, "int32", ("put", "r"), b"[[0, 0, 0, 2147483648]]"),
        (2, "non-integer", ("put", "r"), b"[[0, 0, 0.5, 2]]"),
        (2, "cannot read", ("put", "r", str(tmp_path / "missing.json")), None),
        (2, "multiples", ("put", "r", str(tmp_path / "m.npy")), None),
        (2, "--offset places a mask", ("put", "r", "--offset", "0,0,0"), b"[]"),
        (3, "no data instance named 'nope'", ("get", "nope"), None),
        (2, "'kv' is a keyvalue, not an roi", ("put", "kv"), b"[]"),
        (2, "'seg' is a labelmap, not an roi", ("contains", "seg", "1,2,3"), None),
        (2, "outside the 32-bit range", ("contains", "r", "1,2,3000000000"), None),
        (2, "non-integer", ("contains", "r", "-f", "-"), b"[[1, 2.5, 3]]"),
        (2, "no points", ("contains", "r"), None),
        (2, "positive", ("mask", "r", "--offset", "0,0,0", "--size", "0,4,4"), None),
        (2, "too coarse", ("mask", "r", *box, "-s", "5"), None),
        (2, "batchsize", ("partition", "r", "-b", "0"), None),
    ]
    for code, text, args, stdin in cases:
        fails(repo, code, text, "roi", *args, input=stdin)
    assert spans_of(repo) == SPANS


def test_real_process_output_and_error_line(repo: Path) -> None:
    """The entry point itself: a verb's stdout; bad input as one line, exit code, no traceback."""
    got = process(repo, "roi", "put", "r", input=json.dumps(SPANS).encode())
    assert got.returncode == 0, got.stderr
    assert json.loads(process(repo, "roi", "get", "r").stdout) == SPANS
    args = ("roi", "put", "r")
    check_error(process(repo, *args, input=b"[[0, 0, 5, 2]]"), 2, "x1 < x0", args)
    args = ("roi", "get", "nope")
    check_error(process(repo, *args), 3, "no data instance named 'nope'", args)
    assert spans_of(repo) == SPANS
