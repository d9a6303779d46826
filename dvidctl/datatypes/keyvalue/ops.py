"""keyvalue operations: opaque byte values under string keys (DVID_API.md §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from dvidctl.datatypes.base import Instance
from dvidctl.datatypes.keyvalue import keys
from dvidctl.errors import KeyNotFoundError


class KeyValue(Instance):
    """A keyvalue instance at one node."""

    typename = "keyvalue"

    def get(self, key: str) -> bytes:
        """Return the value of ``key``; KeyNotFoundError if it is absent at this node."""
        got = self._get(keys.tkey(key))
        if got is None:
            raise KeyNotFoundError(f'Key "{key}" not found')
        return bytes(got)

    def get_or_none(self, key: str) -> bytes | None:
        """Return the value of ``key`` or None."""
        got = self._get(keys.tkey(key))
        return None if got is None else bytes(got)

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a value at this node."""
        return self._get(keys.tkey(key)) is not None

    def put(self, key: str, value: bytes) -> None:
        """Set ``key`` to ``value`` (one atomic write)."""
        self.put_many({key: value})

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys in one atomic write (every key and value is checked first)."""
        checked = [(keys.tkey(k), keys.check_value(k, v)) for k, v in items.items()]
        b = self._batch()
        for tk, v in checked:
            b.put(self.iid, tk, v)
        b.commit()

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it had a value."""
        existed = self.exists(key)
        b = self._batch()
        b.delete(self.iid, keys.tkey(key))
        b.commit()
        return existed

    def delete_many(self, names: Iterable[str]) -> None:
        """Delete several keys in one atomic write (every key is checked first)."""
        tks = [keys.tkey(k) for k in names]
        b = self._batch()
        for tk in tks:
            b.delete(self.iid, tk)
        b.commit()

    def items(
        self, first: str | None = None, last: str | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """Yield ``(key, value)`` for ``first <= key <= last`` in key order."""
        start, stop = keys.range_bounds(first, last)
        for tk, v in self._scan(start, stop):
            yield keys.key_of(tk), bytes(v)

    def keys(self, first: str | None = None, last: str | None = None) -> list[str]:
        """Keys with ``first <= key <= last`` (inclusive, byte order), at this node."""
        start, stop = keys.range_bounds(first, last)
        return [keys.key_of(tk) for tk, _ in self._scan(start, stop)]

    def get_many(self, names: Iterable[str]) -> dict[str, bytes | None]:
        """Values of several keys (None where absent)."""
        return {k: self.get_or_none(k) for k in names}


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared keyvalue interface
    from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI

    _: type[KeyValueAPI] = KeyValue
