"""A command line loads only its command's module; the table that says which stays true."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from dvidctl.commands import main


def _paths(app: typer.Typer) -> set[tuple[str, ...]]:
    group = typer.main.get_command(app)
    out: set[tuple[str, ...]] = set()
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        if subs:
            out |= {(name, sub) for sub in subs}
        elif subs is None:
            out.add((name,))
    return out


def _commands_of(module: str) -> set[tuple[str, ...]]:
    """Every command path ``module`` registers, on fresh apps."""
    app, groups = typer.Typer(), {n: typer.Typer() for n in ("put_app", "get_app", "delete_app")}
    for n, g in groups.items():
        app.add_typer(g, name=n.removesuffix("_app"))

    @app.callback()
    def _cb() -> None:
        pass

    mod = importlib.import_module(f"dvidctl.commands.{module}")
    args = {"app": app, **groups}
    mod.register(*(args[p] for p in inspect.signature(mod.register).parameters))
    return _paths(app)


def test_the_table_names_every_command_and_its_module() -> None:
    found = {path: m for m in main.MODULES for path in _commands_of(m)}
    assert found == main.COMMANDS


@pytest.mark.parametrize(
    ("argv", "modules"),
    [
        (["status"], ("repo",)),
        (["-C", "x", "get", "key", "kv", "k"], ("data",)),
        (["get", "subvolume", "g"], ("voxels",)),
        (["delete", "instance", "kv", "--yes"], ("instances",)),
        (["roi", "from-body", "seg", "5", "r"], ("roi",)),
        (["serve", "--port", "0"], ("serve",)),
        (["--help"], main.MODULES),
        (["-h"], main.MODULES),
        (["get"], main.MODULES),
        (["nonsense"], main.MODULES),
        ([], main.MODULES),
    ],
)
def test_modules_for_a_command_line(argv: list[str], modules: tuple[str, ...]) -> None:
    assert main.modules_for(argv) == modules


def test_a_keyvalue_command_does_not_load_numpy_or_the_server(tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv = ['dvidctl', 'status']\n"
        "from dvidctl.commands.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'starlette', 'rich', 'dvidctl.commands.voxels')"
        " if m in sys.modules))\n"
    )
    from dvidctl import Repository

    Repository.init(tmp_path).close()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_naming_a_voxel_type_does_not_load_its_operations() -> None:
    """The registry loads a type's operations when an instance is opened, not when it is
    named, its config parsed or its values synced (a pull loaded ~30 ms of voxel code)."""
    code = (
        "import sys\n"
        "from dvidctl.datatypes import registry\n"
        "spec = registry.get('labelmap')\n"
        "spec.parse_config({})\n"
        "before = [m for m in sys.modules if m.endswith('.ops')]\n"
        "cls = spec.instance_class\n"
        "from dvidctl.datatypes.labelmap import LabelMap\n"
        "print(before, cls.__module__, cls is LabelMap)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "dvidctl.datatypes.labelmap.ops", "True"]


def test_the_console_script_freezes_what_it_holds_when_a_transfer_starts() -> None:
    """Only the console script (one command, then the process ends) freezes the collector's
    view; a program calling the commands (tests, CliRunner) keeps collecting as usual."""
    code = (
        "import gc, sys\n"
        "from dvidctl.commands import _output\n"
        "with _output.transfer_progress('x', enabled=False):\n"
        "    pass\n"
        "plain = gc.get_freeze_count()\n"
        "sys.argv = ['dvidctl', 'remote', 'list']\n"
        "from dvidctl.commands.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "with _output.transfer_progress('x', enabled=False):\n"
        "    pass\n"
        "print(plain, gc.get_freeze_count() > 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd="/"
    )
    assert out.stdout.split()[-2:] == ["0", "True"], out.stderr


def test_a_sync_command_does_not_load_httpx_command_line_tool(tmp_path: Path) -> None:
    """httpx imports its own CLI (click, pygments: ~25 ms) when they are installed; the
    console script blocks that import, and httpx still loads and works."""
    from dvidctl import Repository

    Repository.init(tmp_path).close()
    code = (
        "import sys\n"
        "from dvidctl.commands import entry\n"
        "for argv in (['remote', 'add', 'x', 'http://127.0.0.1:9/abcdef'], ['fetch', 'x']):\n"
        "    sys.argv = ['dvidctl', *argv]\n"
        "    try:\n        entry.main()\n    except SystemExit:\n        pass\n"
        "import httpx\n"
        "print('httpx' in sys.modules, sys.modules.get('httpx._main', 0),"
        " 'pygments.lexers' in sys.modules, callable(httpx.main), callable(httpx.Client))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "error:" in out.stderr  # nothing listens there: the fetch ran and failed
    assert out.stdout.splitlines()[-1].split() == ["True", "None", "False", "True", "True"]
