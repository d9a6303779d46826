"""Options shared by many commands, defined once as ``Annotated`` aliases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from dvidctl.api.repository import Repository

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        "-R",
        help="Repository directory (default: search upward from the working directory; env DVIDCTL_REPO).",
        show_default=False,
    ),
]
NodeOpt = Annotated[
    str | None,
    typer.Option(
        "--node",
        "-n",
        help="Version to use: UUID prefix, branch, tag, HEAD~N, PREFIX:BRANCH (default HEAD).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")]
RemoteOpt = Annotated[
    str | None,
    typer.Option(
        "--remote",
        help="Talk to a DVID server at this URL instead of the local repository (needs --node UUID).",
        show_default=False,
    ),
]


def repo_path(repo: Path | None) -> Path | None:
    """The repository path from ``--repo`` or ``DVIDCTL_REPO`` (None: search upward)."""
    if repo is not None:
        return repo
    env = os.environ.get("DVIDCTL_REPO")
    return Path(env) if env else None


def open_repo(repo: Path | None, *, read_only: bool = False) -> Repository:
    """Open the local repository named by ``--repo`` / env / the working directory."""
    return Repository.open(repo_path(repo), read_only=read_only)
