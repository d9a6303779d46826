"""keyvalue operations: opaque byte values under string keys (DVID_API.md §4).

Large values: :meth:`KeyValue.put_from` reads a value from a binary file (stdin,
a file) in pieces into one buffer that already starts with the store's value
prefix, so the store takes it without another copy; :meth:`KeyValue.get_to`
writes the store's view of a value to a file in pieces, without a ``bytes`` copy.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from dvidctl.datatypes.base import Instance
from dvidctl.datatypes.keyvalue import keys
from dvidctl.datatypes.keyvalue.protocol import ByteSink
from dvidctl.errors import KeyNotFoundError
from dvidctl.store.versioned import VALUE_PREFIX

#: Bytes read from, or written to, a file at a time.
PIECE = 16 << 20


class KeyValue(Instance):
    """A keyvalue instance at one node."""

    typename = "keyvalue"

    def get(self, key: str) -> bytes:
        """Return the value of ``key``; KeyNotFoundError if it is absent at this node."""
        got = self._get(keys.tkey(key))
        if got is None:
            raise KeyNotFoundError(f'Key "{key}" not found')
        return bytes(got)

    def get_to(self, key: str, sink: ByteSink) -> int:
        """Write the value of ``key`` to ``sink`` in pieces; return its length.

        KeyNotFoundError (nothing written) if it is absent at this node.
        """
        got = self._get(keys.tkey(key))
        if got is None:
            raise KeyNotFoundError(f'Key "{key}" not found')
        for i in range(0, len(got), PIECE):
            sink.write(got[i : i + PIECE])
        return len(got)

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

    def put_from(self, key: str, source: BinaryIO) -> int:
        """Set ``key`` to the bytes ``source`` holds from its position to its end.

        Read in pieces into one buffer (the store's value prefix first); the value
        goes to the store without another copy. Returns its length.
        """
        tk = keys.tkey(key)
        self._check_writable()
        stored = read_prefixed(source)
        size = len(stored) - len(VALUE_PREFIX)
        with self._batch(stream=True) as b:
            b.put_prefixed(self.iid, tk, stored)
            del stored  # a streamed value can leave memory once the store took it
            b.commit()
        return size

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Set several keys in one atomic write (every key and value is checked first)."""
        checked = sorted((keys.tkey(k), keys.check_value(k, v)) for k, v in items.items())
        # Streamed in key order: each framed value may leave memory as the next is made.
        with self._batch(stream=True) as b:
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


def read_prefixed(source: BinaryIO) -> bytes:
    """:data:`VALUE_PREFIX` and then everything ``source`` holds from its position on.

    The buffer is sized from the file when it is a regular file (else grown as
    pieces arrive) and filled in :data:`PIECE`-sized reads; one copy turns it into
    the ``bytes`` the engine takes.
    """
    head = len(VALUE_PREFIX)
    buf = bytearray(head + _remaining(source))
    buf[:head] = VALUE_PREFIX
    view = memoryview(buf)
    pos = head
    while pos < len(buf):
        n = source.readinto(view[pos : pos + PIECE])  # type: ignore[attr-defined]
        if not n:
            break
        pos += n
    view.release()
    del buf[pos:]  # the file was shorter than its size said
    while piece := source.read(PIECE):  # a pipe, or a file that grew
        buf += piece
    return bytes(buf)


def _remaining(source: BinaryIO) -> int:
    """Bytes left in ``source`` when it is a regular file, else 0."""
    try:
        st = os.fstat(source.fileno())
        if not stat.S_ISREG(st.st_mode):
            return 0
        return max(0, st.st_size - source.tell())
    except (OSError, ValueError, AttributeError):  # no descriptor (BytesIO), not seekable
        return 0


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared keyvalue interface
    from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI

    _: type[KeyValueAPI] = KeyValue
