"""Options shared by many commands, defined once as ``Annotated`` aliases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dvidctl.api.repository import Repository
from dvidctl.errors import BadRequestError

if TYPE_CHECKING:
    from dvidctl.api.protocol import NodeAPI
    from dvidctl.datatypes.protocol import InstanceAPI

T = TypeVar("T")

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        "-R",
        help="Repository directory (default: search upward from the working directory; "
        "env DVIDCTL_REPO).",
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
        help="Talk to a DVID server at this URL instead of the local repository "
        "(needs --node UUID).",
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
    """Open the local repository named by ``--repo`` / env / the working directory.

    Without ``mmap`` reads: a command reads what it reads once, and mapped pages
    would count in its memory (``RocksEngine.mmap_reads_default``).
    """
    return Repository.open(repo_path(repo), read_only=read_only, mmap_reads=False)


@contextmanager
def open_node(
    repo: Path | None, node: str | None, remote: str | None, *, write: bool
) -> Iterator[NodeAPI]:
    """Yield the node to work on: local (``--repo``/HEAD) or remote (``--remote URL --node UUID``).

    Local and remote nodes share one interface (:class:`~dvidctl.api.protocol.NodeAPI`,
    whose instances satisfy the datatype protocols), so every data command works against
    either. Reads open the local repository read-only, which works next to a running server.
    """
    if remote is None:
        with open_repo(repo, read_only=not write) as r:
            yield r.node(node)
        return
    if not node:
        raise BadRequestError(
            "--remote needs --node UUID (or PREFIX:BRANCH)", hint="e.g. --node :master"
        )
    from dvidctl.api.remote import RemoteRepository

    with RemoteRepository(remote, token=os.environ.get("DVIDCTL_TOKEN")) as rr:
        yield rr.node(node)


def wrong_type(name: str, inst: InstanceAPI, kind: str) -> BadRequestError:
    """The error for instance ``name`` that is not of the ``kind`` a command works on."""
    return BadRequestError(f"instance {name!r} is a {inst.typename}, not {kind}")


def instance_of(node: NodeAPI, name: str, kind: type[T], what: str) -> T:
    """Instance ``name`` of ``node``, which must be a ``kind`` (``what``: "a labelmap")."""
    inst = node.instance(name)
    if not isinstance(inst, kind):
        raise wrong_type(name, inst, what)
    return inst


@contextmanager
def open_instance(
    repo: Path | None,
    node: str | None,
    name: str,
    kind: type[T],
    what: str,
    *,
    write: bool,
    remote: str | None = None,
) -> Iterator[T]:
    """Yield instance ``name`` at ``--node`` (local, or ``--remote``), checked to be a ``kind``.

    Reads open the local repository read-only, writes read-write (:func:`open_node`).
    """
    with open_node(repo, node, remote, write=write) as n:
        yield instance_of(n, name, kind, what)
