"""Reading RocksDB through rocksdict's iterators: scans, chunked scans and cursors that
tell a read error from the end of a range (:class:`~dvidctl.errors.CorruptDataError`).

rocksdict's iterators and its ``items()`` stop on a read error just as at the end of a
range; each helper here asks the iterator's ``status()`` (or, after ``items()``, a raw
iterator of the same snapshot) which of the two it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from dvidctl.errors import CorruptDataError
from dvidctl.store.rockserrors import first_line


def iterate(it: Any, read_opts: Any, where: str) -> Iterator[tuple[bytes, bytes]]:
    # ``read_opts`` must stay referenced while iterating: the upper bound lives in it.
    try:
        while it.valid():
            yield it.key(), it.value()
            it.next()
        check_status(it, where)
    finally:
        del it, read_opts


def chunked(
    snap: Any, items: Any, read_opts: Any, start: bytes, size: int, where: str
) -> Iterator[list[tuple[bytes, bytes]]]:
    try:
        last = None
        while chunk := list(islice(items, size)):
            last = chunk[-1][0]
            yield chunk
        # Where items() stopped, a raw iterator of the same snapshot must be at the end
        # too: a read error stops it there again, and status() says so.
        it = snap.iter(read_opts)
        it.seek(start if last is None else last + b"\x00")
        if it.valid():
            raise CorruptDataError(
                f"reading the database{where} stopped before the end of a range",
                hint="its files may be damaged: 'dvidctl fsck' lists what is wrong",
            )
        check_status(it, where)
    finally:
        del items, snap, read_opts


def check_status(it: Any, where: str) -> None:
    """Raise CorruptDataError if the iterator stopped on an error, not at the end."""
    try:
        it.status()
    except Exception as exc:  # rocksdict raises a plain Exception
        raise CorruptDataError(
            f"reading the database{where} failed: {first_line(str(exc))}",
            hint="its files are damaged: 'dvidctl fsck' lists what is wrong; restore .dvid/db "
            "from a copy",
        ) from None


class RocksCursor:
    """rocksdict's iterator as a :class:`~dvidctl.store.engine.Cursor` (bound methods, no wrapping
    per call), whose :meth:`status` raises :class:`CorruptDataError`."""

    __slots__ = ("_it", "_where", "key", "next", "prev", "seek", "seek_for_prev", "valid", "value")

    def __init__(self, it: Any, path: Path) -> None:
        self._it = it
        self._where = f" {path}"
        self.seek, self.seek_for_prev = it.seek, it.seek_for_prev
        self.valid, self.key, self.value = it.valid, it.key, it.value
        self.next, self.prev = it.next, it.prev

    def status(self) -> None:
        """Raise if the cursor stopped on a read error rather than at an end."""
        check_status(self._it, self._where)
