"""Data commands against a real server on loopback (``--remote URL --node REF``)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dvidctl.api.repository import Repository
from dvidctl.commands.main import app
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
    r = CliRunner().invoke(app, ["get", "key", "kv", "a", "--remote", "http://127.0.0.1:9", "--node", "abc"])
    assert r.exit_code != 0 and r.stderr.startswith("error: ") and "Traceback" not in r.output
