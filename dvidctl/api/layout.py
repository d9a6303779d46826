"""Where a repository lives on disk and how HEAD is recorded.

``PATH/.dvid/`` holds ``db/`` (RocksDB), ``HEAD`` (``branch:NAME`` or
``node:UUID``) and ``config`` (INI: remotes and settings).
"""

from __future__ import annotations

import os
from pathlib import Path

from dvidctl.errors import RepositoryNotFoundError

DIRNAME = ".dvid"


def find_repo_dir(start: str | Path | None = None) -> Path:
    """Return the ``.dvid`` directory at or above ``start`` (default: the working directory)."""
    here = Path(start or os.getcwd()).resolve()
    if here.name == DIRNAME and (here / "db").exists():
        return here
    for d in (here, *here.parents):
        if (d / DIRNAME / "db").exists():
            return d / DIRNAME
    raise RepositoryNotFoundError(
        f"no dvidctl repository at or above {here}",
        hint="create one with 'dvidctl init', or pass --repo PATH",
    )


def read_head(dvid_dir: Path) -> str:
    """Return the HEAD ref: a branch name, or a full UUID for a detached HEAD."""
    try:
        text = (dvid_dir / "HEAD").read_text().strip()
    except FileNotFoundError:
        return "master"
    kind, _, value = text.partition(":")
    return value if kind in ("branch", "node") and value else "master"


def write_head(dvid_dir: Path, ref: str, *, detached: bool) -> None:
    """Record HEAD atomically (write then rename)."""
    tmp = dvid_dir / "HEAD.tmp"
    tmp.write_text(f"{'node' if detached else 'branch'}:{ref}\n")
    tmp.replace(dvid_dir / "HEAD")


def server_url(dvid_dir: Path) -> str | None:
    """The URL of the ``dvidctl serve`` holding this repository, from ``.dvid/SERVER``."""
    try:
        text = (dvid_dir / "SERVER").read_text().strip()
    except OSError:
        return None
    return text or None
