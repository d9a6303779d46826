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

from dvidctl.errors import (
    CorruptDataError,
    DvidError,
    PermissionDeniedError,
    ReadOnlyError,
    ReopenRequiredError,
    RepositoryBusyError,
)
from dvidctl.store import bulk
from dvidctl.store.engine import CF_DATA, COLUMN_FAMILIES, KVEngine, WriteBatch

#: Default :attr:`RocksEngine.bulk_threshold` (bytes of ``data`` values in one batch).
#: ``bench/bench_bulk.py --crossover``: the SST path costs ~2 ms fixed (file, synced
#: marker, fsync'd ingestion); it breaks even with the WAL path around 4-8 MiB and wins
#: in every run from 16 MiB (1.4-4x), where the WAL path starts filling the 64 MB memtable.
#: A higher threshold also keeps ingested files (one per bulk write) from being tiny.
BULK_THRESHOLD_DEFAULT = 16 << 20


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

    A batch whose ``data`` values add up to :attr:`bulk_threshold` bytes or more
    is written as an SST file and ingested (:mod:`dvidctl.store.bulk`); a
    read-write open first finishes any such write a crash interrupted.

    Args:
        path: Database directory (created if missing).
        read_only: Open without taking the write lock; writes are refused.
        verify_checksums: Check block CRCs on every scan and cursor read.
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, verify_checksums: bool = False
    ) -> None:
        self.path = Path(path)
        self.supports_writes = not read_only
        self.description = f"rocksdb at {self.path}"
        #: ``data`` value bytes from which a batch goes through SST ingestion
        #: (:mod:`~dvidctl.store.bulk`). 0 sends every batch with a ``data`` op
        #: (put or delete) that way; None never does.
        self.bulk_threshold: int | None = BULK_THRESHOLD_DEFAULT
        #: Whether scans and cursors check each SST block's CRC as they read it.
        #: Off by default, as in DVID's leveldb engine: with values of ~200 KB
        #: the CRC of every block read (and of every older version stepped over)
        #: cost about half of a subvolume read's RocksDB time (bench_voxels,
        #: grayscale random reads at depth 20: scan 0.119 s -> 0.045 s). RocksDB
        #: still checks blocks when it compacts them.
        self.verify_checksums = verify_checksums
        opts = _options()
        cfs = {cf: _options() for cf in COLUMN_FAMILIES}
        self._data_options = cfs[CF_DATA]
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
        for cf_db in self._cfs.values():
            cf_db.set_read_options(self._read_options())  # point reads too
        # No column family may stay bound in this frame: a traceback through
        # __init__ (a failed recovery below) would keep the database LOCK held.
        del cf_db
        self._handles: dict[str, Any] = {
            cf: self._db.get_column_family_handle(cf) for cf in COLUMN_FAMILIES
        }
        self._write_lock = threading.Lock()
        self._closed = False
        #: Set when a bulk write failed half-way: writes refused until a reopen.
        self._broken = False
        if not read_only:
            failure = None
            try:
                bulk.recover(self)
            except DvidError:
                self.close()
                raise
            except Exception as exc:  # rocksdict raises plain Exceptions
                failure = str(exc)
            except BaseException:
                self.close()
                raise
            if failure is not None:
                # Raised outside the handler: the rocksdict error's frames hold column
                # families, which would keep the database (and its LOCK) open.
                self.close()
                raise ReopenRequiredError(
                    f"finishing an interrupted large write in {self.path} failed: {failure}",
                    hint="free disk space or fix permissions, then run the command again",
                )

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
        read_opts = self._read_options()
        if stop is not None:
            read_opts.set_iterate_upper_bound(stop)
        # Create the iterator now (not at the first next()): its implicit
        # snapshot is the consistent view "as of the call".
        it = self._cfs[cf].iter(read_opts)
        it.seek(start)
        return _iterate(it, read_opts)

    def cursor(self, cf: str) -> _RocksCursor:
        return _RocksCursor(self._cfs[cf].iter(self._read_options()), self.path)

    def _read_options(self) -> rocksdict.ReadOptions:
        opts = rocksdict.ReadOptions()
        opts.set_verify_checksums(self.verify_checksums)
        return opts

    def write(self, batch: WriteBatch) -> None:
        if self._closed:
            raise PermissionDeniedError(f"the database {self.path} is closed")
        if not self.supports_writes:
            raise ReadOnlyError("the repository is open read-only")
        threshold = self.bulk_threshold
        if threshold is not None:
            size = bulk.data_value_bytes(batch.ops)
            if size is not None and size >= threshold:
                bulk.write(self, batch, self._data_options)
                return
        wb = rocksdict.WriteBatch(raw_mode=True)
        handles = self._handles
        for cf, key, value in batch.ops:
            if value is None:
                wb.delete(key, handles[cf])
            else:
                wb.put(key, value, handles[cf])
        with self._write_lock:
            self._check_not_broken()
            self._db.write(wb)

    def _check_not_broken(self) -> None:
        if self._broken:
            raise ReopenRequiredError(
                f"a bulk write to {self.path} failed half-way; writes are refused",
                hint="close and reopen the repository (e.g. restart 'dvidctl serve'): "
                "opening it finishes the interrupted write",
            )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.supports_writes:
            bulk.remove_dir(self.path)  # while we still hold the LOCK
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
        _check_status(it, "")
    finally:
        del it, read_opts


def _check_status(it: Any, where: str) -> None:
    """Raise CorruptDataError if the iterator stopped on an error, not at the end."""
    try:
        it.status()
    except Exception as exc:  # rocksdict raises a plain Exception
        raise CorruptDataError(
            f"reading the database{where} failed: {exc}",
            hint="the database files are damaged; restore the repository from a copy",
        ) from None


class _RocksCursor:
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
        _check_status(self._it, self._where)
