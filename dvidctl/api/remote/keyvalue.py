"""keyvalue over HTTP: the methods of the local keyvalue instance, against any DVID server."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from dvidctl.api.remote.base import RemoteInstance
from dvidctl.datatypes.keyvalue import proto as kvproto
from dvidctl.errors import NotFoundError


class RemoteKeyValue(RemoteInstance):
    """keyvalue over HTTP: the methods of :class:`dvidctl.datatypes.keyvalue.KeyValue`."""

    typename = "keyvalue"

    def get(self, key: str) -> bytes:
        """The value of ``key``; NotFoundError if absent."""
        return self.repo.request("GET", self.path("key", key)).content

    def get_or_none(self, key: str) -> bytes | None:
        """The value of ``key`` or None."""
        try:
            return self.get(key)
        except NotFoundError:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a value."""
        try:
            self.repo.request("HEAD", self.path("key", key))
        except NotFoundError:
            return False
        return True

    def put(self, key: str, value: bytes) -> None:
        """Set ``key``."""
        self.repo.request("POST", self.path("key", key), content=bytes(value))

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys in one request (protobuf ``KeyValues``; atomic on dvidctl servers)."""
        body = kvproto.encode_key_values(items.items())
        self.repo.request("POST", self.path("keyvalues"), content=body)

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it existed."""
        existed = self.exists(key)
        self.repo.request("DELETE", self.path("key", key))
        return existed

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete several keys (one request each: DVID has no batch delete)."""
        for k in names:
            self.repo.request("DELETE", self.path("key", k))

    def keys(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Keys with ``first <= key <= last``."""
        if first is None and last is None:
            got: list[str] = self.repo.request("GET", self.path("keys")).json()
            return got
        lo = first if first is not None else "\x01"
        if last is None:
            return [k for k in self.keys() if k >= lo]
        got = self.repo.request("GET", self.path("keyrange", lo, last)).json()
        return got

    def items(
        self, first: str | None = None, last: str | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """``(key, value)`` pairs in key order."""
        names = self.keys(first, last)
        if not names:
            return iter(())
        body = kvproto.encode_keys(names)
        r = self.repo.request("GET", self.path("keyvalues"), content=body)
        return iter(kvproto.decode_key_values(r.content))

    def get_many(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Values of several keys in one request (None where absent)."""
        names = list(names)
        r = self.repo.request("GET", self.path("keyvalues"), content=kvproto.encode_keys(names))
        got = dict(kvproto.decode_key_values(r.content))
        # Protobuf cannot tell an empty value from a missing key: ask for those.
        return {k: got[k] if got.get(k) else (b"" if self.exists(k) else None) for k in names}
