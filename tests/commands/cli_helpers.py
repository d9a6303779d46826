"""Helpers for CLI tests: an in-process ``invoke`` bound to one repository, and the error check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from dvidctl.commands.main import app


def invoker(repo_dir: Path) -> Callable[..., Result]:
    """``invoke(*args, input=None, ok=True)``: dvidctl in-process on the repository ``repo_dir``.

    ``DVIDCTL_REPO`` names the repository; with ``ok`` the command must succeed.
    """
    runner = CliRunner()

    def invoke(*args: str, input: bytes | None = None, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args), input=input, env={"DVIDCTL_REPO": str(repo_dir)})
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return invoke


def assert_fails(result: Any, code: int, text: str) -> None:
    """One ``error: ...`` line holding ``text`` on stderr, exit ``code``, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stderr.startswith("error: ") and text in result.stderr, result.stderr
    assert "Traceback" not in result.output
