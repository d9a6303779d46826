"""Remotes: named servers holding a copy of the repository, kept in ``.dvid/config``.

A remote URL names a server and one of its repositories,
``http://HOST:PORT/UUIDPREFIX`` (the last path segment is the repository: a
prefix of its root UUID or of any of its nodes). ``.dvid/config`` is INI, as
git's::

    [remote "origin"]
    url = http://emdata:8000/3f8c
    token = ...

A token given to ``remote add --token`` is kept there; the command line may also
take one from the environment (``DVIDCTL_REMOTE_TOKEN``), which is never written.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dvidctl.errors import BadRequestError, ConflictError, NotFoundError

CONFIG = "config"
_SECTION = re.compile(r'^remote "(?P<name>[^"]+)"$')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REF = re.compile(r"^[0-9a-f]{1,32}$")


@dataclass(frozen=True)
class Remote:
    """A named remote: the server's base URL and the repository it names there."""

    name: str
    url: str
    token: str | None = None

    @property
    def base(self) -> str:
        """The server's base URL (``http://HOST:PORT``)."""
        return split_url(self.url)[0]

    @property
    def repo_ref(self) -> str:
        """The UUID (prefix) naming the repository on the server."""
        return split_url(self.url)[1]

    def to_dict(self) -> dict[str, object]:
        """The ``remote list --json`` form (the token itself is not shown)."""
        return {"name": self.name, "url": self.url, "token": self.token is not None}


def split_url(url: str) -> tuple[str, str]:
    """``http://HOST:PORT[/PATH]/UUIDPREFIX`` -> (base URL, UUID prefix)."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    base_path, _, ref = path.rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequestError(
            f"{url!r} is not an http(s) URL", hint="a remote is http://HOST:PORT/UUID"
        )
    if not _REF.match(ref):
        raise BadRequestError(
            f"{url!r} does not name a repository",
            hint="end the URL with the repository's root UUID (or a unique prefix): "
            "http://HOST:PORT/UUID",
        )
    return f"{parts.scheme}://{parts.netloc}{base_path}", ref


def check_name(name: str) -> str:
    """A remote name: letters, digits, ``.``, ``_``, ``-`` (no ``/``: refs are REMOTE/BRANCH)."""
    if not _NAME.match(name):
        raise BadRequestError(
            f"bad remote name {name!r}", hint="use letters, digits, '.', '_' and '-'"
        )
    return name


def _read(dvid_dir: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    path = dvid_dir / CONFIG
    try:
        cp.read_string(path.read_text() if path.exists() else "")
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise BadRequestError(f"{path} cannot be read: {exc}") from None
    return cp


def _write(dvid_dir: Path, cp: configparser.ConfigParser) -> None:
    tmp = dvid_dir / (CONFIG + ".tmp")
    with open(tmp, "w") as f:
        cp.write(f)
    tmp.replace(dvid_dir / CONFIG)


def remotes(dvid_dir: Path) -> list[Remote]:
    """Every configured remote, by name."""
    cp = _read(dvid_dir)
    out = []
    for section in cp.sections():
        m = _SECTION.match(section)
        if m and cp.has_option(section, "url"):
            token = cp.get(section, "token", fallback=None) or None
            out.append(Remote(m.group("name"), cp.get(section, "url"), token))
    return sorted(out, key=lambda r: r.name)


def get(dvid_dir: Path, name: str) -> Remote:
    """Remote ``name`` (NotFoundError listing the others)."""
    for r in remotes(dvid_dir):
        if r.name == name:
            return r
    known = ", ".join(r.name for r in remotes(dvid_dir)) or "none"
    raise NotFoundError(
        f"no remote named {name!r}", hint=f"remotes: {known}; add one with 'dvidctl remote add'"
    )


def add(dvid_dir: Path, name: str, url: str, token: str | None = None) -> Remote:
    """Add remote ``name`` (its URL is checked; a name taken is a conflict)."""
    check_name(name)
    split_url(url)
    cp = _read(dvid_dir)
    section = f'remote "{name}"'
    if cp.has_section(section):
        raise ConflictError(
            f"remote {name!r} already exists",
            hint=f"remove it first: 'dvidctl remote remove {name}'",
        )
    cp.add_section(section)
    cp.set(section, "url", url)
    if token:
        cp.set(section, "token", token)
    _write(dvid_dir, cp)
    return Remote(name, url, token)


def remove(dvid_dir: Path, name: str) -> Remote:
    """Remove remote ``name``; returns it."""
    found = get(dvid_dir, name)
    cp = _read(dvid_dir)
    cp.remove_section(f'remote "{name}"')
    _write(dvid_dir, cp)
    return found


def set_url(dvid_dir: Path, name: str, url: str, token: str | None = None) -> Remote:
    """Point remote ``name`` at ``url`` (created if missing; a given token replaces the old)."""
    check_name(name)
    split_url(url)
    cp = _read(dvid_dir)
    section = f'remote "{name}"'
    if not cp.has_section(section):
        cp.add_section(section)
    cp.set(section, "url", url)
    if token:
        cp.set(section, "token", token)
    _write(dvid_dir, cp)
    return Remote(name, url, cp.get(section, "token", fallback=None) or None)


def set_pending_clone(dvid_dir: Path, url: str | None) -> None:
    """Mark (``url``) or clear (None) a clone that has not finished yet."""
    cp = _read(dvid_dir)
    if url is None:
        cp.remove_section("clone")
    else:
        if not cp.has_section("clone"):
            cp.add_section("clone")
        cp.set("clone", "pending", url)
    _write(dvid_dir, cp)


def pending_clone(dvid_dir: Path) -> str | None:
    """The URL of a clone into this repository that has not finished, if any."""
    return _read(dvid_dir).get("clone", "pending", fallback=None)
