"""The one output sink: results to stdout, progress/hints/errors to stderr.

``--json`` prints stable, parseable JSON (documented in the README) and turns
progress bars off. Only ``commands/`` imports rich, and only when something is
printed through it: the consoles ``stdout`` and ``stderr`` are made on first use
(rich costs ~60 ms to import, a fifth of a command's start-up).
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dvidctl.errors import BadRequestError

if TYPE_CHECKING:
    from rich.console import Console

    stdout: Console
    stderr: Console

_CONSOLES: dict[str, Any] = {}


#: Set by the console script (:func:`dvidctl.commands.main.run`): this process runs one
#: command and ends (not a test runner or another program calling the commands).
ONE_SHOT = False


def __getattr__(name: str) -> Any:
    """``stdout`` and ``stderr``: rich consoles, made on first use."""
    if name not in ("stdout", "stderr"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    console = _CONSOLES.get(name)
    if console is None:
        from rich.console import Console

        console = _CONSOLES[name] = Console(
            stderr=name == "stderr", highlight=False, soft_wrap=True
        )
    return console


def _console(name: str) -> Console:
    got: Console = __getattr__(name)
    return got


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
    with _writing(path), open(path, "wb") as f:
        f.write(data)


class FileSink:
    """The user's output file ``path`` as a binary sink, made at the first write.

    A command that fails before it has anything to write (a missing key) leaves no
    file behind; one that succeeds with nothing to write leaves an empty file. An
    OS error on the file is a one-line bad-request.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._f: BinaryIO | None = None

    def write(self, data: bytes | memoryview) -> int:
        """Write ``data`` (opening the file first if needed)."""
        with _writing(self.path):
            if self._f is None:
                self._f = open(self.path, "wb")  # noqa: SIM115 - closed by close()
            return self._f.write(data)

    def close(self, *, ok: bool = True) -> None:
        """Close the file; ``ok`` and never written: create it empty."""
        with _writing(self.path):
            if self._f is None and ok:
                self._f = open(self.path, "wb")  # noqa: SIM115 - closed just below
            if self._f is not None:
                self._f.close()

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)


@contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise BadRequestError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="name a file in an existing, writable directory",
        ) from None


def result(doc: Any, text: str, *, json_: bool) -> None:
    """A command's result: ``doc`` as JSON with ``--json``, else the line ``text`` (stdout)."""
    if json_:
        emit_json(doc)
    else:
        info(text)


def by_key(keys: Iterable[Any], values: Iterable[Any], *, json_: bool) -> None:
    """Results by key: ``{"key": value, ...}`` with ``--json``, else a ``key  value`` line each."""
    pairs = list(zip(keys, values, strict=True))
    if json_:
        emit_json({str(k): v for k, v in pairs})
        return
    for k, v in pairs:
        info(f"{k}  {v}")


def info(text: str) -> None:
    """A result line for people (stdout), printed literally."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A hint or status line (stderr), not part of the result; dim on a terminal."""
    if sys.stderr.isatty():
        _console("stderr").print(text, style="dim", markup=False)
    else:
        _plain(text)


def error_line(message: str, hint: str | None = None) -> None:
    """Print ``error: message`` (and ``hint: ...``) to stderr; coloured on a terminal."""
    if not sys.stderr.isatty():
        _plain(f"error: {message}" + (f"\nhint: {hint}" if hint else ""))
        return
    err = _console("stderr")
    err.print(f"[bold red]error:[/] {_escape(message)}")
    if hint:
        err.print(f"[yellow]hint:[/] {_escape(hint)}")


def _plain(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def progress(
    description: str, total: float | None, *, enabled: bool = True, bytes_: bool = False
) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callback ``advance(n, total=None)``.

    ``total`` (when given) sets the bar's total, for work whose size is known only
    once it starts. Disabled (the callback does nothing) when ``enabled`` is False
    (``--json``) or stderr is not a terminal.
    """
    if not enabled or not sys.stderr.isatty():
        yield lambda n=1, total=None: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    cols: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    cols += (
        [DownloadColumn(), TransferSpeedColumn()]
        if bytes_
        else [TextColumn("{task.completed}/{task.total}")]
    )
    cols.append(TimeRemainingColumn())
    with Progress(*cols, console=_console("stderr"), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1, total: float | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance


@contextmanager
def working(description: str, *, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr while a step of unknown length runs (terminals only, not --json)."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    with _console("stderr").status(description, spinner="dots"):
        yield


@contextmanager
def transfer_progress(description: str, *, enabled: bool = True) -> Iterator[Any]:
    """A sync progress bar on stderr (nodes, keys, bytes, rate, ETA); yields a callback.

    The callback takes :class:`dvidctl.sync.results.Progress`. Off (a callback that
    does nothing) with ``--json`` or when stderr is not a terminal.

    In the console script (:data:`ONE_SHOT`), everything the process holds by now
    (the modules, the repository's state) is moved out of the garbage collector's
    scans (``gc.freeze``): a transfer makes many short-lived objects, and each full
    collection otherwise walks every object of the loaded code (up to 30 ms each,
    ~10% of a 30 MB pull). The process ends with the command, so nothing frozen
    needs collecting.
    """
    if ONE_SHOT:
        gc.freeze()
    if not enabled or not sys.stderr.isatty():
        yield lambda p: None
        return
    import time

    from rich.filesize import decimal
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    t0 = time.monotonic()
    cols = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[nodes]} nodes"),
        TextColumn("{task.fields[keys]} keys  {task.fields[size]}  {task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*cols, console=_console("stderr"), transient=True) as bar:
        task = bar.add_task(description, total=None, keys=0, size="0 B", rate="", nodes="0/?")

        def update(p: Any) -> None:
            s = p.stats
            elapsed = max(time.monotonic() - t0, 1e-6)
            total, done = max(p.nodes_total, 1), p.nodes_done
            keys_total = getattr(p, "keys_total", None)
            if keys_total:  # keys known: the bar moves with them (a span ends all nodes at once)
                total = keys_total + p.nodes_total
                done = min(keys_total, s.keys + s.same) + p.nodes_done
            bar.update(
                task,
                total=total,
                completed=done,
                nodes=f"{p.nodes_done}/{p.nodes_total}",
                keys=s.keys,
                size=decimal(s.bytes),
                rate=f"{decimal(int(s.bytes / elapsed))}/s",
            )

        yield update
