"""``put key`` / ``get key`` of values larger than a piece (8 MiB), through real processes.

Locally and through a real server on loopback (``--remote``: the body is streamed
both ways), with the value checked byte for byte, and a progress bar on a terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dvidctl.api.repository import Repository
from dvidctl.datatypes.keyvalue import chunks
from dvidctl.datatypes.keyvalue import keys as kvkeys
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState

SIZE = 2 * chunks.CHUNK_BYTES + 12345  # three pieces at the real piece size


def _dvidctl(*args: str, repo: Path | None = None, **kw: object) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = {**os.environ, **({"DVIDCTL_REPO": str(repo)} if repo else {})}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "dvidctl", *args], env=env, timeout=300, **kw
    )


def _pieces(repo: Repository) -> int:
    kv = repo.head.instance("kv")
    start = bytes([kvkeys.CLASS_PIECE])
    return sum(1 for _ in kv._scan(start, bytes([kvkeys.CLASS_PIECE + 1])))


def test_large_values_round_trip_locally_and_through_a_server(tmp_path: Path) -> None:
    value = os.urandom(SIZE)
    src = tmp_path / "value.bin"
    src.write_bytes(value)
    repo_dir = tmp_path / "r"
    _dvidctl("init", str(repo_dir), check=True, capture_output=True)
    _dvidctl("new", "keyvalue", "kv", repo=repo_dir, check=True, capture_output=True)
    _dvidctl("put", "key", "kv", "file", str(src), repo=repo_dir, check=True, capture_output=True)
    with open(src, "rb") as fin:
        _dvidctl("put", "key", "kv", "pipe", repo=repo_dir, stdin=fin, check=True)
    got = _dvidctl("get", "key", "kv", "pipe", repo=repo_dir, capture_output=True, check=True)
    assert got.stdout == value
    out = tmp_path / "out.bin"
    _dvidctl("get", "key", "kv", "file", "-o", str(out), repo=repo_dir, check=True)
    assert out.read_bytes() == value

    with Repository.open(repo_dir) as repo:
        assert _pieces(repo) == 6
        state = ServerState(RepoSet([repo], None), ServerSettings())
        with BackgroundServer(state) as srv:
            base = ["--remote", srv.url, "--node", ":master"]
            put = _dvidctl("put", "key", "kv", "remote", str(src), *base, capture_output=True)
            assert put.returncode == 0, put.stderr
            with open(src, "rb") as fin:  # no length known: a chunked body
                put = _dvidctl("put", "key", "kv", "piped", *base, stdin=fin, capture_output=True)
            assert put.returncode == 0, put.stderr
            got = _dvidctl("get", "key", "kv", "file", *base, capture_output=True)
            assert got.returncode == 0 and got.stdout == value
            kv = repo.head.instance("kv")
            assert kv.get("remote") == value and kv.get("piped") == value  # type: ignore[attr-defined]
            assert _pieces(repo) == 12


def test_put_and_get_key_draw_progress_on_a_terminal(tmp_path: Path) -> None:
    value = os.urandom(SIZE)
    src = tmp_path / "value.bin"
    src.write_bytes(value)
    repo_dir = tmp_path / "r"
    _dvidctl("init", str(repo_dir), check=True, capture_output=True)
    _dvidctl("new", "keyvalue", "kv", repo=repo_dir, check=True, capture_output=True)
    for args in (["put", "key", "kv", "k", str(src)], ["get", "key", "kv", "k", "-o", "x.bin"]):
        leader, follower = os.openpty()
        try:
            done = _dvidctl(*args, repo=repo_dir, cwd=tmp_path, stderr=follower)
            os.close(follower)
            drawn = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end is closed: all read
                    break
                if not chunk:
                    break
                drawn += chunk
        finally:
            os.close(leader)
        assert done.returncode == 0
        assert f"{args[0]} key k".encode() in drawn, drawn[-500:]
    assert (tmp_path / "x.bin").read_bytes() == value
