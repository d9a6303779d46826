"""Where a repository lives on disk and how HEAD is recorded.

``PATH/.dvid/`` holds ``db/`` (RocksDB), ``HEAD`` (``branch:NAME`` or
``node:UUID``) and ``config`` (INI: remotes and settings).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dvidctl.errors import CorruptDataError, RepositoryNotFoundError

DIRNAME = ".dvid"
#: A file in ``.dvid`` while ``Repository.init`` makes the database: one left behind means
#: the process died half-way (the database may not open) and nothing else was written.
INITIALIZING = "initializing"


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


_HEAD_BRANCH = re.compile(r"^branch:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})$")
_HEAD_NODE = re.compile(r"^node:(?P<uuid>[0-9a-f]{32})$")


def read_head(dvid_dir: Path) -> tuple[str, bool]:
    """Return ``(ref, detached)``: a branch name, or a full UUID for a detached HEAD.

    A missing, unreadable or malformed ``HEAD`` is :class:`CorruptDataError`
    (never silently master): the hint says how to write a good one.
    """
    path = dvid_dir / "HEAD"
    fix = "point HEAD at a branch again with 'dvidctl checkout master' (or another branch)"
    try:
        text = path.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise CorruptDataError(f"{path} is missing", hint=fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"{path} cannot be read: {exc}", hint=fix) from None
    if m := _HEAD_BRANCH.match(text):
        return m.group("name"), False
    if m := _HEAD_NODE.match(text):
        return m.group("uuid"), True
    raise CorruptDataError(
        f"{path} holds {text[:60]!r}, not 'branch:NAME' or 'node:UUID'", hint=fix
    )


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
