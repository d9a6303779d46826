"""``dvidctl serve`` as a user runs it: prints its URL, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from dvidctl.api.repository import Repository


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_and_releases_the_database(tmp_path, sig):
    Repository.init(tmp_path / "r").close()
    port = _free_port()
    cmd = [
        sys.executable,
        "-c",
        "from dvidctl.commands.main import run; run()",
        "serve",
        "--repo",
        str(tmp_path / "r"),
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        line = proc.stdout.readline().decode()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/api/" in line
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/api/heartbeat").text == "OK":
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert (tmp_path / "r" / ".dvid" / "SERVER").read_text().strip() == url
        # While it serves, a second writer gets a clear error (no RocksDB trace).
        with pytest.raises(OSError, match="being served by 'dvidctl serve' at http"):
            Repository.open(tmp_path / "r")
        proc.send_signal(sig)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "r" / ".dvid" / "SERVER").exists()
    Repository.open(tmp_path / "r").close()  # the lock was released
