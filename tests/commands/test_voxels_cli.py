"""Voxel CLI verbs: put/get subvolume, slice, arb, tile, downres; formats and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from dvidctl.api.repository import Repository
from dvidctl.commands.main import app
from dvidctl.imageio import decode_image


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """In-process CLI in a fresh repository with a uint8blk ``g`` and a labelmap ``seg``."""
    runner = CliRunner()
    repo_dir = tmp_path / "r"

    def invoke(*args: str, input: bytes | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args), input=input, env={"DVIDCTL_REPO": str(repo_dir)})
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    invoke("init", str(repo_dir))
    invoke("new", "uint8blk", "g", "--block-size", "16,16,16", "--max-downres", "1")
    invoke("new", "labelmap", "seg", "--config", "BlockSize=16,16,16")
    return invoke, tmp_path


def _snapshot(tmp_path: Path) -> tuple:  # type: ignore[type-arg]
    with Repository.open(tmp_path / "r") as r:
        return tuple(r.engine.scan("data", b""))


def test_npy_and_tif_round_trip(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, tmp = cli
    vol = np.random.default_rng(0).integers(0, 256, (10, 20, 30), dtype=np.uint8)
    np.save(tmp / "in.npy", vol)
    res = invoke("put", "subvolume", "g", str(tmp / "in.npy"), "--offset", "5,6,7", "--json")
    assert json.loads(res.stdout)["size"] == [30, 20, 10]
    invoke(
        "get",
        "subvolume",
        "g",
        "--offset",
        "5_6_7",
        "--size",
        "30_20_10",
        "-o",
        str(tmp / "out.tif"),
    )
    assert np.array_equal(tifffile.imread(tmp / "out.tif"), vol)
    invoke(
        "get",
        "subvolume",
        "g",
        "--offset",
        "5,6,7",
        "--size",
        "30,20,10",
        "-o",
        str(tmp / "out.npy"),
    )
    assert np.array_equal(np.load(tmp / "out.npy"), vol)
    tifffile.imwrite(tmp / "in.tif", vol[::-1].copy())
    invoke("put", "subvolume", "g", str(tmp / "in.tif"), "--offset", "5,6,7")
    res = invoke("get", "subvolume", "g", "--offset", "5,6,7", "--size", "30,20,10")
    assert np.array_equal(np.frombuffer(res.stdout_bytes, np.uint8).reshape(vol.shape), vol[::-1])
    res = invoke("get", "subvolume", "g", "--offset", "5,6,7", "--size", "15,10,5", "--scale", "1")
    assert len(res.stdout_bytes) == 15 * 10 * 5


def test_raw_stdin_and_labels(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, tmp = cli
    labels = np.arange(4 * 5 * 6, dtype="<u8").reshape(4, 5, 6) * 1000003
    invoke(
        "put",
        "subvolume",
        "seg",
        "-",
        "--offset",
        "-3,0,2",
        "--size",
        "6,5,4",
        input=labels.tobytes(),
    )
    res = invoke("get", "subvolume", "seg", "--offset", "-3,0,2", "--size", "6,5,4", "-o", "-")
    assert np.array_equal(np.frombuffer(res.stdout_bytes, "<u8").reshape(4, 5, 6), labels)
    small = np.full((2, 2, 2), 7, np.uint8)  # uint8 file into a uint64 labelmap: lossless, accepted
    np.save(tmp / "small.npy", small)
    invoke("put", "subvolume", "seg", str(tmp / "small.npy"))
    res = invoke("get", "subvolume", "seg", "--offset", "0,0,0", "--size", "2,2,2")
    assert (np.frombuffer(res.stdout_bytes, "<u8") == 7).all()


def test_slice_arb_tile_downres(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, tmp = cli
    vol = np.random.default_rng(1).integers(0, 256, (32, 32, 32), dtype=np.uint8)
    np.save(tmp / "v.npy", vol)
    invoke("put", "subvolume", "g", str(tmp / "v.npy"))
    invoke(
        "get", "slice", "g", "xz", "--offset", "1,2,3", "--size", "20,10", "-o", str(tmp / "s.png")
    )
    assert np.array_equal(decode_image((tmp / "s.png").read_bytes()), vol[3:13, 2, 1:21])
    res = invoke("get", "arb", "g", "--corners", "0,0,80", "248,0,80", "0,248,80", "--res", "8")
    assert np.array_equal(np.frombuffer(res.stdout_bytes, np.uint8).reshape(32, 32), vol[10])
    res = invoke("get", "tile", "g", "xy", "1,0,4", "--tile-size", "16")
    assert np.array_equal(decode_image(res.stdout_bytes), vol[4, 0:16, 16:32])
    res = invoke("downres", "g", "--json")
    assert json.loads(res.stdout) == {"1": 1}
    res = invoke("downres", "seg")
    assert "no pyramid" in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["put", "subvolume", "g", "{tmp}/f.npy"], "holds float64"),
        (["put", "subvolume", "g", "{tmp}/u.npy", "--size", "3,3,3"], "shape"),
        (["put", "subvolume", "g", "{tmp}/u.npy", "--offset", "a,b,c"], "not an integer"),
        (["put", "subvolume", "g", "{tmp}/u.npy", "--scale", "5"], "scale 5"),
        (["put", "subvolume", "g", "{tmp}/fake.png"], "PNG"),
        (["put", "subvolume", "g", "{tmp}/raw.bin"], "dtype and a shape"),
        (["put", "subvolume", "g", "{tmp}/raw.bin", "--size", "5,5,5"], "bytes"),
        (["put", "subvolume", "g", "{tmp}/missing.npy"], "no such file"),
        (["get", "subvolume", "g", "--offset", "0,0,0", "--size", "-1,2,2"], "negative"),
        (
            ["get", "subvolume", "g", "--offset", "0,0,0", "--size", "100000,100000,100000"],
            "exceeds",
        ),
        (["get", "slice", "g", "ab", "--offset", "0,0,0", "--size", "2,2"], "orientation"),
        (["get", "subvolume", "nope", "--offset", "0,0,0", "--size", "2,2,2"], "no data instance"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    invoke, tmp = cli
    np.save(tmp / "f.npy", np.zeros((4, 4, 4), np.float64))
    np.save(tmp / "u.npy", np.zeros((4, 4, 4), np.uint8))
    (tmp / "fake.png").write_bytes(b"not a png at all")
    (tmp / "raw.bin").write_bytes(b"\x00" * 100)
    before = _snapshot(tmp)
    res = invoke(*[a.format(tmp=tmp) for a in args], ok=False)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    assert _snapshot(tmp) == before


def test_wrong_type_instance(cli) -> None:  # type: ignore[no-untyped-def]
    invoke, _ = cli
    invoke("new", "keyvalue", "kv")
    res = invoke("get", "subvolume", "kv", "--offset", "0,0,0", "--size", "2,2,2", ok=False)
    assert res.exit_code == 2 and "not a voxel type" in res.output
