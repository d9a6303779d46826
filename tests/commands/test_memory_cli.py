"""Large reads and writes through the CLI hold little more than their data (issue 8, item 9)."""

from __future__ import annotations

from pathlib import Path

from tests.commands.cli_helpers import invoker


def test_commands_open_without_mmap_reads(tmp_path: Path) -> None:
    from dvidctl.commands._options import open_repo
    from dvidctl.store.rocks import RocksEngine

    invoke = invoker(tmp_path / "r")
    invoke("init", str(tmp_path / "r"))
    for read_only in (True, False):
        with open_repo(tmp_path / "r", read_only=read_only) as r:
            assert isinstance(r.engine, RocksEngine) and r.engine.mmap_reads is False
    assert RocksEngine.mmap_reads_default is True  # the library and the server keep mmap
