"""The one output sink: results to stdout, progress/hints/errors to stderr.

``--json`` prints stable, parseable JSON (documented in the README) and turns
progress bars off. Only ``commands/`` imports rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dvidctl.errors import BadRequestError

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (keys sorted for stability)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def emit_bytes(data: bytes | memoryview) -> None:
    """Write raw bytes to stdout."""
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def write_file(path: str | Path, data: bytes | memoryview) -> None:
    """Write a result to the user's file ``path``; an OS error is a one-line bad-request."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise BadRequestError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="name a file in an existing, writable directory",
        ) from None


def info(text: str) -> None:
    """A result line for people (stdout), printed literally."""
    stdout.print(text, markup=False)


def note(text: str) -> None:
    """A hint or status line (stderr), not part of the result."""
    stderr.print(text, style="dim", markup=False)


def error_line(message: str, hint: str | None = None) -> None:
    """Print ``error: message`` (and ``hint: ...``) to stderr."""
    stderr.print(f"[bold red]error:[/] {_escape(message)}")
    if hint:
        stderr.print(f"[yellow]hint:[/] {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def progress(
    description: str, total: float | None, *, enabled: bool = True, bytes_: bool = False
) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callback ``advance(n)``.

    Disabled (the callback does nothing) when ``enabled`` is False (``--json``)
    or stderr is not a terminal.
    """
    if not enabled or not stderr.is_terminal:
        yield lambda n=1: None
        return
    cols: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    cols += (
        [DownloadColumn(), TransferSpeedColumn()]
        if bytes_
        else [TextColumn("{task.completed}/{task.total}")]
    )
    cols.append(TimeRemainingColumn())
    with Progress(*cols, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def working(description: str, *, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr while a step of unknown length runs (terminals only, not --json)."""
    if not enabled or not stderr.is_terminal:
        yield
        return
    with stderr.status(description, spinner="dots"):
        yield
