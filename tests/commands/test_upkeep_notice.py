"""The console script announces long upkeep after a command (commands/main.announce_upkeep).

Run in a pseudo-terminal, as a user's shell: stderr is a terminal, so the hook the
console script installs shows rich's spinner with the store's text while the upkeep
runs; with ``--json`` it stays quiet.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pty")

_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dvidctl.commands import main
    from dvidctl.upkeep import notice
    main.announce_upkeep(sys.argv[1:])
    with notice("compacting the database (143 MB of table files)"):
        time.sleep(0.6)
    """
)


def _stderr_on_a_terminal(*args: str) -> str:
    master, slave = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", _SCRIPT, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            check=True,
            timeout=60,
        )
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end is closed: all read
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_upkeep_shows_a_spinner_on_a_terminal_and_not_with_json() -> None:
    assert "compacting the database (143 MB of table files)" in _stderr_on_a_terminal("clone")
    assert "compacting" not in _stderr_on_a_terminal("clone", "--json")
