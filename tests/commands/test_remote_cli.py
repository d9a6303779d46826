"""Data commands against a real server on loopback (``--remote URL --node REF``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dvidctl.api.repository import Repository
from dvidctl.commands.main import app
from dvidctl.geometry import Box
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState


def test_keyvalue_verbs_through_a_server(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "served")
    repo.new_instance("keyvalue", "kv")
    repo.head.instance("kv").put("local", b"L")
    state = ServerState(RepoSet([repo], None), ServerSettings())
    runner = CliRunner()
    with BackgroundServer(state) as srv:
        base = ["--remote", srv.url, "--node", ":master"]
        r = runner.invoke(app, ["put", "key", "kv", "viahttp", *base], input=b"R")
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["get", "key", "kv", "viahttp", *base])
        assert r.exit_code == 0 and r.stdout_bytes == b"R"
        r = runner.invoke(app, ["keys", "kv", "--json", *base])
        assert r.exit_code == 0 and '"local"' in r.stdout and '"viahttp"' in r.stdout
        r = runner.invoke(app, ["get", "key", "kv", "missing", *base])
        assert r.exit_code == 3 and r.stderr.startswith("error: ")
        r = runner.invoke(app, ["get", "key", "kv", "x", "--remote", srv.url])
        assert r.exit_code == 2 and "--node" in r.stderr
        # the write went into the served repository, at master's open head
        assert repo.head.instance("kv").get("viahttp") == b"R"
    repo.close()


def test_remote_unreachable_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["get", "key", "kv", "a", "--remote", "http://127.0.0.1:9", "--node", "abc"]
    )
    assert r.exit_code != 0 and r.stderr.startswith("error: ") and "Traceback" not in r.output


def test_voxel_verbs_through_a_server(tmp_path: Path) -> None:
    import numpy as np

    repo = Repository.init(tmp_path / "served")
    repo.new_instance("uint8blk", "gray", {"BlockSize": "32,32,32"})
    repo.new_instance("labelmap", "seg", {"MaxDownresLevel": "1"})
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 255, (40, 50, 60), dtype=np.uint8)
    labels = rng.integers(1, 4, (64, 64, 64)).astype(np.uint64)
    np.save(tmp_path / "gray.npy", gray)
    np.save(tmp_path / "labels.npy", labels)
    state = ServerState(RepoSet([repo], None), ServerSettings())
    runner = CliRunner()
    with BackgroundServer(state) as srv:
        base = ["--remote", srv.url, "--node", ":master"]
        for inst, f, off in (("gray", "gray.npy", "3,5,7"), ("seg", "labels.npy", "0,0,0")):
            r = runner.invoke(
                app, ["put", "subvolume", inst, str(tmp_path / f), "--offset", off, *base]
            )
            assert r.exit_code == 0, r.output
        out = tmp_path / "back.npy"
        r = runner.invoke(
            app,
            [
                "get",
                "subvolume",
                "gray",
                "--offset",
                "3,5,7",
                "--size",
                "60,50,40",
                "-o",
                str(out),
                *base,
            ],
        )
        assert r.exit_code == 0, r.output
        assert np.array_equal(np.load(out), gray)
        r = runner.invoke(
            app,
            [
                "get",
                "subvolume",
                "seg",
                "--offset",
                "0,0,0",
                "--size",
                "32,32,32",
                "--scale",
                "1",
                "-o",
                str(out),
                *base,
            ],
        )
        assert r.exit_code == 0, r.output
        local = repo.head.instance("seg").get_subvolume(Box.from_xyz((0, 0, 0), (32, 32, 32)), 1)
        assert np.array_equal(np.load(out), local)
        png = tmp_path / "s.png"
        r = runner.invoke(
            app,
            [
                "get",
                "slice",
                "gray",
                "xy",
                "--offset",
                "3,5,20",
                "--size",
                "60,50",
                "-o",
                str(png),
                *base,
            ],
        )
        assert r.exit_code == 0, r.output
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(png)), gray[13])
        r = runner.invoke(
            app,
            [
                "get",
                "arb",
                "gray",
                "--corners",
                "24,40,160",
                "496,40,160",
                "24,432,160",
                "--res",
                "8",
                "-o",
                str(png),
                *base,
            ],
        )
        assert r.exit_code == 0, r.output
        assert np.array_equal(
            np.asarray(Image.open(png)), gray[13]
        )  # z=160/8=20 -> row 13 of the box
        r = runner.invoke(
            app,
            [
                "get",
                "subvolume",
                "gray",
                "--offset",
                "0,0,0",
                "--size",
                "8,8,8",
                "--scale",
                "3",
                "-o",
                str(out),
                *base,
            ],
        )
        assert r.exit_code != 0 and r.stderr.startswith("error: ")
        # the data commands pick instances by protocol, remote as local
        r = runner.invoke(app, ["get", "key", "seg", "x", *base])
        assert r.exit_code == 2 and "'seg' is a labelmap, not a keyvalue" in r.stderr
        r = runner.invoke(app, ["put", "key", "gray", "x", *base], input=b"v")
        assert r.exit_code == 2 and "'gray' is a uint8blk, not a keyvalue" in r.stderr
    repo.close()


def test_roi_verbs_through_a_server(tmp_path: Path) -> None:
    import json

    import numpy as np

    repo = Repository.init(tmp_path / "served")
    repo.new_instance("roi", "r", {"BlockSize": "16,16,16"})
    repo.new_instance("keyvalue", "kv")
    spans = [[0, 0, 0, 2], [1, 1, -1, 0]]
    state = ServerState(RepoSet([repo], None), ServerSettings())
    runner = CliRunner()
    with BackgroundServer(state) as srv:
        base = ["--remote", srv.url, "--node", ":master"]
        r = runner.invoke(app, ["roi", "put", "r", *base], input=json.dumps(spans).encode())
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["roi", "get", "r", *base])
        assert r.exit_code == 0 and json.loads(r.stdout) == spans
        r = runner.invoke(app, ["roi", "contains", "r", "40,0,0", "48,0,0", "--json", *base])
        assert r.exit_code == 0 and json.loads(r.stdout) == [True, False]
        r = runner.invoke(app, ["roi", "partition", "r", "-b", "2", "--json", *base])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout) == repo.head.instance("r").partition(2)
        out = tmp_path / "m.npy"
        r = runner.invoke(
            app,
            ["roi", "mask", "r", "--offset", "-8,8,0", "--size", "40,20,24", "-o", str(out)]
            + ["--scale", "1", *base],
        )
        assert r.exit_code == 0, r.output
        want = repo.head.instance("r").mask(Box.from_xyz((-8, 8, 0), (40, 20, 24)), 1)
        np.testing.assert_array_equal(np.load(out), want)
        mask = np.zeros((16, 16, 32), np.uint8)
        mask[3, 4, 20] = 1
        np.save(tmp_path / "in.npy", mask)
        r = runner.invoke(app, ["roi", "put", "r", str(tmp_path / "in.npy"), *base])
        assert r.exit_code == 0, r.output
        assert repo.head.instance("r").get_spans() == [[0, 0, 1, 1]]
        r = runner.invoke(app, ["roi", "put", "kv", *base], input=b"[]")
        assert r.exit_code == 2 and "not an roi" in r.stderr
        r = runner.invoke(app, ["roi", "put", "r", *base], input=b"[[0, 0, 3, 1]]")
        assert r.exit_code == 2 and "x1 < x0" in r.stderr
    repo.close()
