"""The ``dvidctl`` command: one typer app assembled from the command-group modules.

Errors are mapped to exit codes in one place (:class:`DvidGroup`): a
:class:`~dvidctl.errors.DvidError` prints ``error: ...`` and an optional hint to
stderr and exits with the error's code; usage errors exit 2; a traceback is
shown only with ``DVIDCTL_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import dvidctl
from dvidctl.commands import _output
from dvidctl.errors import BadRequestError, DvidError


class DvidGroup(TyperGroup):
    """The top-level group: turns every failure into one ``error:`` line and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs["standalone_mode"] = False
        try:
            _settings_from_env()
            rv = super().main(*args, **kwargs)
        except DvidError as exc:
            _fail_dvid(exc)
        except BrokenPipeError:
            sys.exit(0)
        except KeyboardInterrupt:
            _interrupted()
        except OSError as exc:
            # Last resort: the paths a user names are checked where they are opened; an
            # OS error that slipped through is still about a path, not a crash.
            _fail_dvid(_os_error(exc))
        except Exception as exc:  # noqa: BLE001 - click errors (typer may vendor click), then the rest
            _fail_other(exc)
        if rv == 130:  # typer turns a KeyboardInterrupt inside a command into exit code 130
            _interrupted()
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
        return rv


def _interrupted() -> None:
    """Ctrl-C: one plain line (no rich: nothing more to import or render), exit 130."""
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    sys.exit(130)


def _settings_from_env() -> None:
    """Engine switches for comparisons (bench/): ``DVIDCTL_COMPACT=0``, ``DVIDCTL_WARM=0``,
    ``DVIDCTL_READAHEAD=0``.

    Unset (the usual case), nothing is imported here: the engine loads with the command.
    """
    env = os.environ
    compact, warm = env.get("DVIDCTL_COMPACT"), env.get("DVIDCTL_WARM")
    ahead = env.get("DVIDCTL_READAHEAD")
    if compact is None and warm is None and ahead is None:
        return
    from dvidctl.api.repository import set_engine_defaults

    set_engine_defaults(
        compact_on_close=None if compact is None else compact != "0",
        warm_ingested=None if warm is None else warm != "0",
        readahead=None if ahead is None else ahead != "0",
    )


def _os_error(exc: OSError) -> BadRequestError:
    """An OSError as a one-line bad-request naming its file."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    err = BadRequestError(f"{' -> '.join(names)}: {reason}" if names else reason)
    err.__cause__ = exc  # DVIDCTL_DEBUG=1 shows where it came from
    return err


def _is(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is a click exception class ``name`` (typer may vendor its own click)."""
    return any(c.__name__ == name for c in type(exc).__mro__)


def _fail_dvid(exc: DvidError) -> None:
    if os.environ.get("DVIDCTL_DEBUG") == "1":
        traceback.print_exc()
    _output.error_line(exc.message, exc.hint)
    details = exc.details
    if isinstance(details, list) and details:
        for d in details[:50]:
            if isinstance(d, dict) and "key" in d:
                sides = ", ".join(str(u)[:10] for u in d.get("sides", []))
                d = (
                    f"{d.get('instance')}: {d['key']}"
                    + (f"  (changed on {sides})" if sides else "")
                    + _voxels_note(d)
                )
            _output.stderr.print(f"  {d}", markup=False)
        if len(details) > 50:
            _output.stderr.print(f"  ... and {len(details) - 50} more", markup=False)
    sys.exit(exc.exit_code)


def _voxels_note(d: dict[str, Any]) -> str:
    """``: N voxel(s) differ, at x,y,z ...`` for a block whose voxels conflict."""
    if "voxels" not in d:
        return ""
    where = " ".join(",".join(str(v) for v in p) for p in d.get("where", [])[:3])
    more = " ..." if d["voxels"] > 3 else ""
    return f": {d['voxels']} voxel(s) differ, at x,y,z {where}{more}"


def _fail_other(exc: Exception) -> None:
    ctx: Any = getattr(exc, "ctx", None)
    if _is(exc, "NoArgsIsHelpError"):
        typer.echo(ctx.get_help() if ctx else str(exc))
        sys.exit(0)
    if _is(exc, "UsageError"):
        cmd = ctx.command_path if ctx else "dvidctl"
        _output.error_line(exc.format_message(), f"see '{cmd} --help'")  # type: ignore[attr-defined]
        sys.exit(2)
    if _is(exc, "Abort"):
        _interrupted()
    if _is(exc, "ClickException"):
        _output.error_line(exc.format_message())  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 1))
    if os.environ.get("DVIDCTL_DEBUG") == "1":
        traceback.print_exc()
    _output.error_line(
        f"internal error: {type(exc).__name__}: {exc}",
        "rerun with DVIDCTL_DEBUG=1 for a traceback, and report it",
    )
    sys.exit(70)


_app = typer.Typer(
    cls=DvidGroup,
    name="dvidctl",
    help="A distributed, versioned, image-oriented datastore: git for large image data, "
    "with DVID's HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        _output.info(f"dvidctl {dvidctl.__version__}")
        raise typer.Exit()


@_app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    chdir: Annotated[
        list[Path] | None,
        typer.Option(
            "-C",
            metavar="DIR",
            help="Run as if dvidctl was started in DIR (as git -C; repeatable, each relative "
            "to the last). --repo and DVIDCTL_REPO still name the repository.",
            show_default=False,
        ),
    ] = None,
) -> None:
    for d in chdir or []:
        try:
            os.chdir(d)
        except OSError as exc:
            raise BadRequestError(f"cannot change to {str(d)!r}: {exc.strerror}") from None


put_app = typer.Typer(help="Write data: key, subvolume, ...", no_args_is_help=True)
get_app = typer.Typer(help="Read data: key, subvolume, slice, arb, ...", no_args_is_help=True)
delete_app = typer.Typer(help="Delete data: key, instance, ...", no_args_is_help=True)
_app.add_typer(put_app, name="put")
_app.add_typer(get_app, name="get")
_app.add_typer(delete_app, name="delete")


#: The command modules, each with ``register(app[, put_app][, get_app][, delete_app])``.
MODULES = (
    "repo", "fsck", "versions", "instances", "data", "voxels", "labels", "mesh", "graph", "roi",
    "serve", "remotes",
)  # fmt: skip
#: Which module defines each command, by the words that name it.
#: ``tests/commands/test_lazy_commands.py`` keeps it in step with the modules.
COMMANDS: dict[tuple[str, ...], str] = {
    ("init",): "repo", ("status",): "repo", ("log",): "repo",
    ("fsck",): "fsck",
    ("branch",): "versions", ("checkout",): "versions", ("commit",): "versions",
    ("diff",): "versions", ("merge",): "versions", ("tag",): "versions",
    ("info",): "instances", ("instances",): "instances", ("new",): "instances",
    ("types",): "instances", ("delete", "instance"): "instances",
    ("keys",): "data", ("put", "key"): "data", ("get", "key"): "data", ("delete", "key"): "data",
    ("downres",): "voxels", ("put", "subvolume"): "voxels", ("get", "subvolume"): "voxels",
    ("get", "slice"): "voxels", ("get", "arb"): "voxels", ("get", "tile"): "voxels",
    ("label", "merge"): "labels", ("label", "cleave"): "labels", ("label", "split"): "labels",
    ("label", "size"): "labels", ("label", "sparsevol"): "labels",
    ("label", "supervoxels"): "labels", ("label", "mapping"): "labels",
    ("label", "history"): "labels", ("label", "lease"): "labels",
    ("mesh",): "mesh",
    ("graph", "put"): "graph", ("graph", "add-vertex"): "graph", ("graph", "add-edge"): "graph",
    ("graph", "get"): "graph", ("graph", "subgraph"): "graph", ("graph", "neighbors"): "graph",
    ("graph", "components"): "graph", ("graph", "merge"): "graph", ("graph", "delete"): "graph",
    ("graph", "get-property"): "graph", ("graph", "set-property"): "graph",
    ("graph", "delete-property"): "graph",
    ("roi", "put"): "roi", ("roi", "get"): "roi", ("roi", "mask"): "roi",
    ("roi", "contains"): "roi", ("roi", "partition"): "roi", ("roi", "from-body"): "roi",
    ("serve",): "serve",
    ("remote", "add"): "remotes", ("remote", "list"): "remotes", ("remote", "remove"): "remotes",
    ("clone",): "remotes", ("fetch",): "remotes", ("pull",): "remotes", ("push",): "remotes",
}  # fmt: skip
_GROUPS = {"put_app": put_app, "get_app": get_app, "delete_app": delete_app}
_registered: set[str] = set()


def register(names: Iterable[str] = MODULES) -> None:
    """Register the command modules ``names`` (each once)."""
    import importlib
    import inspect

    groups: dict[str, typer.Typer] = {"app": _app, **_GROUPS}
    for name in names:
        if name in _registered:
            continue
        mod = importlib.import_module(f"dvidctl.commands.{name}")
        mod.register(*(groups[p] for p in inspect.signature(mod.register).parameters))
        _registered.add(name)


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a command line needs (all of them for help or anything unknown).

    Loading only the invoked command's module keeps numpy, the server and the other
    commands out of a command's start-up, and typer builds only that command.
    """
    words = []
    it = iter(argv)
    for arg in it:
        if arg == "-C":
            next(it, None)  # -C DIR: a global option with a value
            continue
        if arg.startswith("-C") or arg.startswith("--") and arg != "--":
            if arg in ("--help", "--version"):
                return MODULES
            continue  # another global option (none takes a value)
        if arg.startswith("-"):
            return MODULES  # -h and anything unexpected: everything
        words.append(arg)
        if len(words) == 2:
            break
    for n in (2, 1):
        name = COMMANDS.get(tuple(words[:n]))
        if name is not None:
            return (name,)
    return MODULES


def run() -> None:
    """Console-script entry point: register what the command line needs, then run it."""
    _output.ONE_SHOT = True
    announce_upkeep(sys.argv[1:])
    register(modules_for(sys.argv[1:]))
    _app()


def announce_upkeep(args: list[str]) -> None:
    """Long upkeep after a command's work (a compaction as the repository closes) shows
    a spinner on stderr, as :func:`_output.working` does: terminals only, not with
    ``--json``."""
    from dvidctl.upkeep import set_hook

    enabled = "--json" not in args
    set_hook(lambda text: _output.working(text, enabled=enabled))


def __getattr__(name: str) -> Any:
    """``app``: the whole CLI with every command registered (tests, docs, ``--help``)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    register()
    return _app


if __name__ == "__main__":  # pragma: no cover
    run()
