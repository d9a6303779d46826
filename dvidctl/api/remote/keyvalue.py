"""keyvalue over HTTP: :class:`~dvidctl.datatypes.keyvalue.protocol.KeyValueAPI` on any DVID server.

Keys and values are checked here as the local instance checks them, so bad input
is refused before a request is sent (and nothing of a batch is written).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.datatypes.keyvalue import proto as kvproto
from dvidctl.datatypes.keyvalue.keys import check_key, check_value
from dvidctl.datatypes.keyvalue.ops import remaining_bytes
from dvidctl.datatypes.keyvalue.protocol import ByteSink
from dvidctl.errors import NotFoundError

#: Bytes of a streamed request body read at a time.
_SEND = 1 << 20


class RemoteKeyValue(RemoteInstance):
    """keyvalue over HTTP: the methods of :class:`dvidctl.datatypes.keyvalue.KeyValue`."""

    datatype = "keyvalue"

    def get(self, key: str) -> bytes:
        """The value of ``key``; NotFoundError if absent."""
        return self.repo.request("GET", self.path("key", check_key(key))).content

    def get_to(self, key: str, sink: ByteSink) -> int:
        """Write the value of ``key`` to ``sink`` as the body arrives; NotFoundError if absent."""
        return self.repo.get_to(self.path("key", check_key(key)), sink)

    def get_or_none(self, key: str) -> bytes | None:
        """The value of ``key`` or None."""
        try:
            return self.get(key)
        except NotFoundError:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a value (DVID answers HEAD with 200, or 204 when absent)."""
        try:
            r = self.repo.request("HEAD", self.path("key", check_key(key)))
        except NotFoundError:  # dvidctl servers answer 404
            return False
        return r.status_code == 200

    def put(self, key: str, value: bytes) -> None:
        """Set ``key``."""
        body = check_value(check_key(key), value)
        self.repo.request("POST", self.path("key", key), content=body)

    def put_from(self, key: str, source: BinaryIO) -> int:
        """Set ``key`` to what ``source`` holds from its position on (one request).

        The body is sent as it is read, 1 MiB at a time (with its length when
        ``source`` is a regular file, else chunked), never held whole.
        """
        check_key(key)
        size = remaining_bytes(source)
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            while chunk := source.read(_SEND):
                sent += len(chunk)
                yield chunk

        headers = {"Content-Length": str(size)} if size else None
        self.repo.request("POST", self.path("key", key), content=body(), headers=headers)
        return sent

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys in one request (protobuf ``KeyValues``; atomic on dvidctl servers)."""
        checked = [(k, check_value(check_key(k), v)) for k, v in items.items()]
        if not checked:
            return
        body = kvproto.encode_key_values(checked)
        self.repo.request("POST", self.path("keyvalues"), content=body)

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it existed."""
        existed = self.exists(key)
        self.repo.request("DELETE", self.path("key", key))
        return existed

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete several keys, one request each: DVID's API has no batch delete.

        Every key is checked before the first request; the deletes are not atomic.
        """
        for k in [check_key(k) for k in names]:
            self.repo.request("DELETE", self.path("key", k))

    def keys(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Keys with ``first <= key <= last`` (``keyrange`` when both bounds are given)."""
        if first is not None and last is not None:
            got: list[str] = self.repo.request(
                "GET", self.path("keyrange", check_key(first), check_key(last))
            ).json()
            return got
        every: list[str] = self.repo.request("GET", self.path("keys")).json()
        if first is not None:
            lo = check_key(first)
            return [k for k in every if k.encode() >= lo.encode()]
        if last is not None:
            hi = check_key(last)
            return [k for k in every if k.encode() <= hi.encode()]
        return every

    def items(
        self, first: str | None = None, last: str | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """``(key, value)`` pairs in key order (one ``keyrangevalues`` request with both bounds)."""
        if first is not None and last is not None:
            path = self.path("keyrangevalues", check_key(first), check_key(last))
            return iter(kvproto.decode_key_values(self.repo.request("GET", path).content))
        names = self.keys(first, last)
        if not names:
            return iter(())
        r = self.repo.request("GET", self.path("keyvalues"), content=kvproto.encode_keys(names))
        return iter(kvproto.decode_key_values(r.content))

    def get_many(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Values of several keys in one request (None where absent)."""
        names = [check_key(k) for k in names]
        if not names:
            return {}
        r = self.repo.request("GET", self.path("keyvalues"), content=kvproto.encode_keys(names))
        got = dict(kvproto.decode_key_values(r.content))
        # Protobuf cannot tell an empty value from a missing key: ask for those.
        return {k: got[k] if got.get(k) else (b"" if self.exists(k) else None) for k in names}


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared keyvalue interface
    from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI

    _: type[KeyValueAPI] = RemoteKeyValue
