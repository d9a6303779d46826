"""``dvidctl serve``: the DVID-compatible HTTP server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dvidctl.commands import _output


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="Port to listen on (0: any free port)."
        ),
    ] = 8000,
    repo: Annotated[
        list[Path] | None,
        typer.Option(
            "--repo",
            "-R",
            help="Repository to serve (repeat for several; default: the "
            "one at or above the working directory; env DVIDCTL_REPO).",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="Directory where POST /api/repos creates repositories "
            "(default: .dvid/repos of the served repository); "
            "ones created there before are served too.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Require 'Authorization: Bearer T' (or ?admintoken=T) on every "
            "mutating request (env DVIDCTL_TOKEN); ?admintoken=T is also DVID's admin "
            "privilege: that request may write to committed nodes.",
            show_default=False,
        ),
    ] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every write.")] = False,
    fullwrite: Annotated[
        bool,
        typer.Option(
            "--fullwrite",
            help="Let writes reach committed nodes too (DVID's -fullwrite; expert use). "
            "Each such write is counted on the node record. Not with --read-only.",
        ),
    ] = False,
    cors: Annotated[
        str, typer.Option("--cors", help="Comma-separated origins allowed by CORS ('*' = any).")
    ] = "*",
    sync_api: Annotated[
        bool,
        typer.Option(
            "--sync-api/--no-sync-api",
            help="Serve dvidctl's /api/sync endpoints (off: answer as DVID, which lacks them).",
        ),
    ] = True,
) -> None:
    """Serve the repository over DVID's HTTP API until Ctrl-C (neuroglancer, neuclease, ...)."""
    from dvidctl.server.runner import open_state
    from dvidctl.server.runner import serve as run_server
    from dvidctl.server.state import ServerSettings

    paths = list(repo or [])
    if not paths and os.environ.get("DVIDCTL_REPO"):
        paths = [Path(os.environ["DVIDCTL_REPO"])]
    settings = ServerSettings(  # refuses --fullwrite with --read-only, before opening anything
        host=host,
        port=port,
        token=token or os.environ.get("DVIDCTL_TOKEN") or None,
        read_only=read_only,
        fullwrite=fullwrite,
        cors=tuple(o.strip() for o in cors.split(",") if o.strip()) or ("*",),
        sync_api=sync_api,
    )
    state = open_state(paths, store, settings)

    def announce(url: str) -> None:
        names = ", ".join(
            f"{r.alias or r.root_uuid[:10]} ({r.root_uuid[:10]})" for r in state.repos
        )
        _output.note(f"serving {len(state.repos)} repository(ies): {names or 'none yet'}")
        if state.repos.store_dir is not None:
            _output.note(f"new repositories go to {state.repos.store_dir}")
        modes = [
            "read-only" if read_only else "",
            "writes allowed on committed nodes" if fullwrite else "",
            "token required for writes" if settings.token and not read_only else "",
        ]
        mode = "".join(f" ({m})" for m in modes if m)
        _output.info(f"dvidctl serving at {url}/api/{mode}  (Ctrl-C to stop)")
        _output.note(f"web console: {url}/")

    run_server(state, announce=announce)
    _output.note("server stopped; repositories closed")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command("serve")(serve)
