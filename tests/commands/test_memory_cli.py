"""Large reads and writes through the CLI hold little more than their data (issue 8, item 9)."""

from __future__ import annotations

from pathlib import Path

from tests.commands.cli_helpers import assert_fails, invoker


def test_get_key_to_a_file(tmp_path: Path) -> None:
    """The output file is made only once there is a value to write."""
    invoke = invoker(tmp_path / "r")
    invoke("init", str(tmp_path / "r"))
    invoke("new", "keyvalue", "kv")
    out = tmp_path / "out.bin"
    assert_fails(invoke("get", "key", "kv", "nope", "-o", str(out), ok=False), 3, "not found")
    assert not out.exists()
    invoke("put", "key", "kv", "empty", input=b"")
    invoke("get", "key", "kv", "empty", "-o", str(out))
    assert out.exists() and out.read_bytes() == b""
    value = bytes(range(256)) * 40_000
    (tmp_path / "in.bin").write_bytes(value)
    invoke("put", "key", "kv", "big", str(tmp_path / "in.bin"))
    invoke("get", "key", "kv", "big", "-o", str(out))
    assert out.read_bytes() == value
    assert invoke("get", "key", "kv", "big").stdout_bytes == value
    assert_fails(
        invoke("get", "key", "kv", "big", "-o", str(tmp_path / "no" / "f"), ok=False),
        2,
        "cannot write",
    )
    assert_fails(
        invoke("put", "key", "kv", "k", str(tmp_path / "missing.bin"), ok=False), 2, "cannot read"
    )


def test_commands_open_without_mmap_reads(tmp_path: Path) -> None:
    from dvidctl.commands._options import open_repo
    from dvidctl.store.rocks import RocksEngine

    invoke = invoker(tmp_path / "r")
    invoke("init", str(tmp_path / "r"))
    for read_only in (True, False):
        with open_repo(tmp_path / "r", read_only=read_only) as r:
            assert isinstance(r.engine, RocksEngine) and r.engine.mmap_reads is False
    assert RocksEngine.mmap_reads_default is True  # the library and the server keep mmap
