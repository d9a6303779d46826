"""keyvalue data commands: ``put key``, ``get key``, ``delete key``, ``keys``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import (
    JsonOpt,
    NodeOpt,
    RemoteOpt,
    RepoOpt,
    open_node,
    wrong_type,
)
from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI
from dvidctl.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from dvidctl.api.protocol import NodeAPI


def _kv(node: NodeAPI, name: str) -> KeyValueAPI:
    inst = node.instance(name)
    if not isinstance(inst, KeyValueAPI):
        raise wrong_type(name, inst, "a keyvalue")
    return inst


def put_key(
    name: Annotated[str, typer.Argument(help="keyvalue instance.")],
    key: Annotated[str, typer.Argument(help="Key (no '/').")],
    file: Annotated[str, typer.Argument(help="File with the value, or - for stdin.")] = "-",
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Store a value under a key at HEAD (or --node)."""
    with _source(file) as source, open_node(repo, node, remote, write=True) as n:
        _kv(n, name).put_from(key, source)  # read in pieces, not whole then copied


@contextmanager
def _source(file: str) -> Iterator[BinaryIO]:
    """stdin for ``-``, else the file opened for reading (an OS error is a bad-request)."""
    if file == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BadRequestError(f"cannot read {file}: {exc.strerror}") from None
    with f:
        try:
            yield f
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise BadRequestError(f"cannot read {file}: {exc.strerror}") from None


def get_key(
    name: Annotated[str, typer.Argument(help="keyvalue instance.")],
    key: Annotated[str, typer.Argument(help="Key.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Print the raw value of a key (at HEAD or --node)."""
    with open_node(repo, node, remote, write=False) as n:
        kv = _kv(n, name)
        if output is None:
            kv.get_to(key, sys.stdout.buffer)  # in pieces, from the store's buffer
            sys.stdout.buffer.flush()
        else:
            with _output.FileSink(output) as sink:  # made once there is a value
                kv.get_to(key, sink)


def delete_key(
    name: Annotated[str, typer.Argument(help="keyvalue instance.")],
    key: Annotated[str, typer.Argument(help="Key.")],
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Delete a key at HEAD (or --node)."""
    with open_node(repo, node, remote, write=True) as n:
        kv = _kv(n, name)
        if not kv.exists(key):
            raise NotFoundError(
                f'Key "{key}" not found', hint=f"list keys with 'dvidctl keys {name}'"
            )
        kv.delete(key)


def keys(
    name: Annotated[str, typer.Argument(help="keyvalue instance.")],
    range_: Annotated[
        tuple[str, str] | None, typer.Option("--range", help="FROM TO, both inclusive.")
    ] = None,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List keys (at HEAD or --node)."""
    first, last = range_ if range_ else (None, None)
    with open_node(repo, node, remote, write=False) as n:
        out = _kv(n, name).keys(first, last)
    if json_:
        _output.emit_json(out)
    else:
        for k in out:
            _output.info(k)


def register(
    app: typer.Typer, put_app: typer.Typer, get_app: typer.Typer, delete_app: typer.Typer
) -> None:
    """Add the keyvalue commands."""
    put_app.command("key")(put_key)
    get_app.command("key")(get_key)
    delete_app.command("key")(delete_key)
    app.command("keys")(keys)
