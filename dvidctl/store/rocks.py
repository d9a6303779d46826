"""The RocksDB engine, through rocksdict in raw mode with RocksDB compression off.

Facts this relies on (ARCHITECTURE.md "Facts measured"): raw mode keeps byte
order; a WriteBatch is atomic across column families; a plain iterator is a
consistent view as of its creation; one read-write process per database, and a
second open fails on the LOCK file, which we turn into :class:`RepositoryBusyError`.
Values are compressed by the datatypes in Python, so RocksDB's own compression is
off (it is slower and silently skips blocks that compress by less than 12.5%).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import rocksdict

from dvidctl.errors import PermissionDeniedError, ReadOnlyError, RepositoryBusyError
from dvidctl.store.engine import COLUMN_FAMILIES, KVEngine, WriteBatch


def _options() -> rocksdict.Options:
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_compression_type(rocksdict.DBCompressionType.none())
    opts.set_max_open_files(-1)
    opts.increase_parallelism(2)
    opts.set_write_buffer_size(64 << 20)
    # mmap'd SST reads halve the per-value cost of scans (bench_voxels --mmap-reads:
    # grayscale whole-volume reads 0.87x -> 1.16x of TensorStore).
    opts.set_allow_mmap_reads(True)
    return opts


class RocksEngine(KVEngine):
    """A RocksDB database at ``path`` with the column families of :mod:`engine`.

    Args:
        path: Database directory (created if missing).
        read_only: Open without taking the write lock; writes are refused.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.supports_writes = not read_only
        self.description = f"rocksdb at {self.path}"
        opts = _options()
        cfs = {cf: _options() for cf in COLUMN_FAMILIES}
        try:
            if read_only:
                ro_opts = rocksdict.AccessType.read_only()
                self._db = rocksdict.Rdict(
                    str(self.path), opts, column_families=cfs, access_type=ro_opts
                )
            else:
                self._db = rocksdict.Rdict(str(self.path), opts, column_families=cfs)
        except Exception as exc:  # rocksdict raises a plain Exception
            text = str(exc)
            if "lock" in text.lower():
                raise RepositoryBusyError(
                    f"the repository database {self.path} is in use by another process",
                    hint="stop the other dvidctl (e.g. 'dvidctl serve'), or send the command "
                    "to that server with --remote URL",
                ) from None
            raise
        self._cfs: dict[str, Any] = {cf: self._db.get_column_family(cf) for cf in COLUMN_FAMILIES}
        self._handles: dict[str, Any] = {
            cf: self._db.get_column_family_handle(cf) for cf in COLUMN_FAMILIES
        }
        self._write_lock = threading.Lock()
        self._closed = False

    def get(self, cf: str, key: bytes) -> bytes | None:
        value: bytes | None = self._cfs[cf].get(key)
        return value

    def multi_get(self, cf: str, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = self._cfs[cf].get(list(keys))
        return values

    def scan(
        self, cf: str, start: bytes, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        read_opts = rocksdict.ReadOptions()
        if stop is not None:
            read_opts.set_iterate_upper_bound(stop)
        # Create the iterator now (not at the first next()): its implicit
        # snapshot is the consistent view "as of the call".
        it = self._cfs[cf].iter(read_opts)
        it.seek(start)
        return _iterate(it, read_opts)

    def write(self, batch: WriteBatch) -> None:
        if self._closed:
            raise PermissionDeniedError(f"the database {self.path} is closed")
        if not self.supports_writes:
            raise ReadOnlyError("the repository is open read-only")
        wb = rocksdict.WriteBatch(raw_mode=True)
        handles = self._handles
        for cf, key, value in batch.ops:
            if value is None:
                wb.delete(key, handles[cf])
            else:
                wb.put(key, value, handles[cf])
        with self._write_lock:
            self._db.write(wb)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # close() keeps the LOCK while any column-family object is referenced.
        self._cfs.clear()
        self._handles.clear()
        self._db.close()
        del self._db


def _iterate(it: Any, read_opts: Any) -> Iterator[tuple[bytes, bytes]]:
    # ``read_opts`` must stay referenced while iterating: the upper bound lives in it.
    try:
        while it.valid():
            yield it.key(), it.value()
            it.next()
    finally:
        del it, read_opts
