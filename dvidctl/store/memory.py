"""An in-memory :class:`KVEngine`, the twin of the RocksDB engine for tests."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from dvidctl.errors import PermissionDeniedError
from dvidctl.store.engine import COLUMN_FAMILIES, DataStream, KVEngine, WriteBatch, held_ops


class MemoryEngine(KVEngine):
    """Sorted in-memory column families; scans see a snapshot taken at the call."""

    description = "memory"

    def __init__(self) -> None:
        self._data: dict[str, dict[bytes, bytes]] = {cf: {} for cf in COLUMN_FAMILIES}
        self._keys: dict[str, list[bytes]] = {cf: [] for cf in COLUMN_FAMILIES}
        self._lock = threading.Lock()
        self._closed = False

    def get(self, cf: str, key: bytes) -> bytes | None:
        return self._data[cf].get(bytes(key))

    def scan(
        self, cf: str, start: bytes, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:
            keys = self._keys[cf]
            lo = bisect.bisect_left(keys, start)
            hi = len(keys) if stop is None else bisect.bisect_left(keys, stop)
            data = self._data[cf]
            items = [(k, data[k]) for k in keys[lo:hi]]
        return iter(items)

    def cursor(self, cf: str) -> MemoryCursor:
        with self._lock:
            keys = list(self._keys[cf])
            data = self._data[cf]
            values = [data[k] for k in keys]
        return MemoryCursor(keys, values)

    def write(self, batch: WriteBatch, stream: DataStream | None = None) -> None:
        self.count_write()
        try:
            ops = batch.ops if stream is None else [*held_ops(stream), *batch.ops]
            self._write(ops)
        finally:
            if stream is not None:
                stream.discard()

    def _write(self, ops: list[tuple[str, bytes, bytes | None]]) -> None:
        if self._closed:
            raise PermissionDeniedError("the memory engine is closed")
        unknown = {cf for cf, _, _ in ops} - self._data.keys()
        if unknown:  # check before applying anything: a batch is all or nothing
            raise KeyError(f"unknown column families {sorted(unknown)}")
        with self._lock:
            for cf, key, value in ops:
                key = bytes(key)
                data, keys = self._data[cf], self._keys[cf]
                if value is None:
                    if key in data:
                        del data[key]
                        del keys[bisect.bisect_left(keys, key)]
                else:
                    if key not in data:
                        bisect.insort(keys, key)
                    data[key] = bytes(value)

    def close(self) -> None:
        self._closed = True


class MemoryCursor:
    """A :class:`~dvidctl.store.engine.Cursor` over a snapshot of sorted keys and values."""

    def __init__(self, keys: list[bytes], values: list[bytes]) -> None:
        self._keys = keys
        self._values = values
        self._i = len(keys)

    def seek(self, key: bytes) -> None:
        self._i = bisect.bisect_left(self._keys, key)

    def seek_for_prev(self, key: bytes) -> None:
        self._i = bisect.bisect_right(self._keys, key) - 1

    def valid(self) -> bool:
        return 0 <= self._i < len(self._keys)

    def key(self) -> bytes:
        return self._keys[self._i]

    def value(self) -> bytes:
        return self._values[self._i]

    def next(self) -> None:
        self._i += 1

    def prev(self) -> None:
        self._i = self._i - 1 if self._i > 0 else len(self._keys)

    def status(self) -> None:
        """Memory never fails a read."""
