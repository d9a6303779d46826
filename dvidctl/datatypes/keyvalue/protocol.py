"""The keyvalue interface shared by the local instance and the remote one.

:class:`~dvidctl.datatypes.keyvalue.ops.KeyValue` (a repository) and
:class:`~dvidctl.api.remote.keyvalue.RemoteKeyValue` (any DVID server) both
satisfy :class:`KeyValueAPI`, with the same errors: ``NotFoundError`` for a
missing key, ``BadRequestError`` for a bad key or value (checked before anything
is written), ``LockedNodeError`` for a write to a committed node.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO, Protocol, runtime_checkable

from dvidctl.datatypes.protocol import InstanceAPI


class ByteSink(Protocol):
    """Where :meth:`KeyValueAPI.get_to` writes: a binary file, or anything with its ``write``."""

    def write(self, data: bytes | memoryview, /) -> object:
        """Write all of ``data``."""
        ...


@runtime_checkable
class KeyValueAPI(InstanceAPI, Protocol):
    """Opaque byte values under string keys (no ``/``, no NUL), at one version."""

    def get(self, key: str) -> bytes:
        """The value of ``key``; NotFoundError if it is absent."""
        ...

    def get_to(self, key: str, sink: ByteSink) -> int:
        """Write the value of ``key`` to a binary file, in pieces; return its length.

        NotFoundError, with nothing written, if it is absent.
        """
        ...

    def get_or_none(self, key: str) -> bytes | None:
        """The value of ``key``, or None if it is absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a value."""
        ...

    def get_many(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Values of several keys (None where absent), in the order given."""
        ...

    def keys(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Keys with ``first <= key <= last`` (both inclusive, either open), in key order."""
        ...

    def items(
        self, first: str | None = None, last: str | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """``(key, value)`` for ``first <= key <= last``, in key order."""
        ...

    def put(self, key: str, value: bytes) -> None:
        """Set ``key`` to ``value``."""
        ...

    def put_from(self, key: str, source: BinaryIO) -> int:
        """Set ``key`` to what a binary file holds from its position on; return the length."""
        ...

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys (one atomic write locally and on a dvidctl server)."""
        ...

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it had a value."""
        ...

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete several keys (one atomic write locally; DVID's API deletes one key a request)."""
        ...


__all__ = ["ByteSink", "KeyValueAPI"]
