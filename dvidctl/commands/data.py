"""keyvalue data commands: ``put key``, ``get key``, ``delete key``, ``keys``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, cast

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
from dvidctl.datatypes.keyvalue.ops import remaining_bytes
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
        kv = _kv(n, name)
        total = remaining_bytes(source) or None
        with _output.progress(f"put key {key}", total, bytes_=True) as advance:
            kv.put_from(key, cast(BinaryIO, _Counted(source, advance)))  # in pieces


class _Counted:
    """A binary file read through, telling a progress bar how many bytes went by."""

    def __init__(self, f: Any, advance: Callable[[int], object]) -> None:
        self._f = f
        self._advance = advance

    def readinto(self, buf: bytearray | memoryview) -> int:
        n = self._f.readinto(buf)
        if n:
            self._advance(n)
        return int(n or 0)

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._advance(len(data))
        return data

    def write(self, data: bytes | memoryview) -> object:
        got = self._f.write(data)
        self._advance(len(data))
        return got

    def fileno(self) -> int:
        return self._f.fileno()

    def tell(self) -> int:
        return self._f.tell()


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
        with _output.progress(f"get key {key}", None, bytes_=True) as advance:
            if output is None:
                out = _Counted(sys.stdout.buffer, advance)
                kv.get_to(key, out)  # in pieces, from the store's buffers
                sys.stdout.buffer.flush()
            else:
                with _output.FileSink(output) as sink:  # made once there is a value
                    kv.get_to(key, _Counted(sink, advance))


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
