"""The RocksDB engine, through rocksdict in raw mode with RocksDB compression off.

Facts this relies on (ARCHITECTURE.md "Facts measured"): raw mode keeps byte
order; a WriteBatch is atomic across column families; a plain iterator is a
consistent view as of its creation; one read-write process per database, and a
second open fails on the LOCK file, which we turn into :class:`RepositoryBusyError`.
Values are compressed by the datatypes in Python, so RocksDB's own compression is
off (it is slower and silently skips blocks that compress by less than 12.5%).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rocksdict

from dvidctl.errors import (
    DvidError,
    PermissionDeniedError,
    ReadOnlyError,
    ReopenRequiredError,
)
from dvidctl.store import bulk, rocksfiles
from dvidctl.store.bulkload import CompactionHold
from dvidctl.store.engine import (
    CF_DATA,
    COLUMN_FAMILIES,
    DataStream,
    KVEngine,
    WriteBatch,
    held_ops,
)
from dvidctl.store.rockserrors import open_error, read_error, write_error
from dvidctl.store.rocksread import RocksCursor, chunked, iterate
from dvidctl.store.sststream import SstStream

if TYPE_CHECKING:
    from dvidctl.store.space import Compaction

#: Default :attr:`RocksEngine.bulk_threshold` (bytes of ``data`` values in one batch).
#: ``bench/bench_bulk.py --crossover``: the SST path costs ~2 ms fixed (file, synced
#: marker, fsync'd ingestion); it breaks even with the WAL path around 4-8 MiB and wins
#: in every run from 16 MiB (1.4-4x), where the WAL path starts filling the 64 MB memtable.
#: A higher threshold also keeps ingested files (one per bulk write) from being tiny.
BULK_THRESHOLD_DEFAULT = 16 << 20


#: RocksDB's info logs (``LOG``, ``LOG.old.*``): each read-write open starts a new
#: ``LOG`` and kept the old one, ~70 KB per command without end; now at most
#: :data:`LOG_FILES_KEPT` files of at most :data:`LOG_FILE_MAX_BYTES` each.
LOG_FILES_KEPT = 3
LOG_FILE_MAX_BYTES = 1 << 20
#: Table files the read-only probe before a read-write open keeps open (it only checks them).
_PROBE_OPEN_FILES = 16
_ROCKSDICT_CONFIG = "rocksdict-config.json"


def _options(
    *,
    create: bool = False,
    max_open_files: int = -1,
    mmap_reads: bool = True,
    readahead: bool = True,
) -> rocksdict.Options:
    opts = rocksdict.Options(raw_mode=True)
    # Only ``init`` creates a database: any other open of a missing or emptied one
    # must fail rather than start an empty repository in its place.
    opts.create_if_missing(create)
    opts.create_missing_column_families(create)
    opts.set_compression_type(rocksdict.DBCompressionType.none())
    opts.set_max_open_files(max_open_files)
    opts.increase_parallelism(2)
    opts.set_write_buffer_size(64 << 20)
    # mmap'd SST reads halve the per-value cost of scans in a process that reads the
    # same data again (bench_voxels --mmap-reads: grayscale whole-volume reads 0.87x
    # -> 1.16x of TensorStore); see RocksEngine.mmap_reads_default for the cost.
    opts.set_allow_mmap_reads(mmap_reads)
    # RocksDB advises the kernel that every table file is read at random, which turns
    # the kernel's readahead off: a mapped file then came from the disk a 4 KiB page
    # fault at a time (a 220 KB block in 55 synchronous reads), and ``pread`` one
    # block at a time. See RocksEngine.readahead_default.
    opts.set_advise_random_on_open(not readahead)
    opts.set_keep_log_file_num(LOG_FILES_KEPT)
    opts.set_max_log_file_size(LOG_FILE_MAX_BYTES)
    return opts


class RocksEngine(KVEngine):
    """A RocksDB database at ``path`` with the column families of :mod:`engine`.

    A batch whose ``data`` values add up to :attr:`bulk_threshold` bytes or more
    is written as an SST file and ingested (:mod:`dvidctl.store.bulk`); a
    read-write open first finishes any such write a crash interrupted.

    Opening an existing database changes nothing until it is known to be whole:
    the files are checked first (:mod:`~dvidctl.store.rocksfiles`), and a
    read-write open is preceded by a read-only one, so that RocksDB's own checks
    (missing or truncated table files, manifest checksums, column families) fail
    before it rotates its log or deletes anything. Every failure to open, read or
    write that comes from the database files is :class:`CorruptDataError`.

    Closing a read-write engine that wrote data gives back the space of
    overwritten values when it is worth it (:mod:`~dvidctl.store.space`).

    Args:
        path: Database directory.
        read_only: Open without taking the write lock; writes are refused.
        create: Create the database (and its column families) if missing; only
            a new repository does (``Repository.init``).
        verify_checksums: Check block CRCs on every scan and cursor read.
        mmap_reads: Read table files through ``mmap`` (see :attr:`mmap_reads_default`).
    """

    #: Whether :meth:`close` may compact what this engine overwrote (:mod:`.space`).
    #: ``dvidctl`` sets it from ``DVIDCTL_COMPACT`` (``0``: off, for comparisons).
    compact_on_close_default = True
    #: Whether a bulk write reads its new table file back into the page cache
    #: (:mod:`.pagecache`); ``DVIDCTL_WARM=0`` turns it off.
    warm_ingested_default = True
    #: Whether table files are read through ``mmap`` (RocksDB's ``allow_mmap_reads``).
    #: A process that reads the same data again (a server, a notebook) reads it from
    #: its mapping at no cost after the first time; but every page read stays in
    #: the process's resident memory (RSS) while the file is open, so a command that
    #: reads a 128 MiB volume once counted 128 MiB more. One-shot commands
    #: (``dvidctl get ...``, ``fsck``) open with ``mmap_reads=False``: they read each
    #: page once either way, at the same speed.
    mmap_reads_default = True
    #: Whether table files get the kernel's readahead (RocksDB's ``advise_random_on_open``
    #: off). Without it a server (mapped files) read what was not cached a 4 KiB page
    #: fault at a time: a clone of 241 MB from a server whose files were not in the
    #: page cache took 3.2-3.3 s, 0.64-0.73 s with it (0.42-0.48 s cached, either way);
    #: a 512³ grayscale GET 1.85-1.92 s against 0.36-0.44 s. Through ``pread`` (one-shot
    #: commands) the kernel reads ahead only what looks sequential: ``get subvolume``
    #: of the same volume, not cached, 0.51-0.53 s against 0.36-0.37 s. The cost is in
    #: mapped files: a random read of a small value that is not cached may bring the
    #: pages around it (the device's ``read_ahead_kb``) until the kernel sees that the
    #: file's faults are mostly misses (bench/RESULTS.md, session 16).
    #: ``DVIDCTL_READAHEAD=0`` turns it off.
    readahead_default = True

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        create: bool = False,
        verify_checksums: bool = False,
        mmap_reads: bool | None = None,
    ) -> None:
        self.path = Path(path)
        #: See :attr:`mmap_reads_default` (None: that default).
        self.mmap_reads = self.mmap_reads_default if mmap_reads is None else mmap_reads
        self.readahead = self.readahead_default
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
        self.compact_on_close = self.compact_on_close_default
        self.warm_ingested = self.warm_ingested_default
        #: ``[lowest, highest]`` ``data`` key written through this engine (None: none).
        self.written: tuple[bytes, bytes] | None = None
        #: Stored bytes the writes through this engine replaced in place
        #: (:attr:`WriteBatch.replaced_bytes`).
        self.replaced_bytes = 0
        #: What :meth:`close` compacted, for callers that report it (None: nothing).
        self.last_compaction: Compaction | None = None
        #: Options of the ``data`` family, which the bulk path's SST writer needs.
        self._data_options = _options()
        if not create:
            rocksfiles.check(self.path)
            if not read_only:
                # RocksDB's read-write open rotates LOG (and may delete files) before
                # it finds damage; a read-only open runs the same checks and writes nothing.
                self._rdict(read_only=True, max_open_files=_PROBE_OPEN_FILES).close()
        self._db = self._rdict(read_only=read_only, create=create)
        self._cfs: dict[str, Any] = {cf: self._db.get_column_family(cf) for cf in COLUMN_FAMILIES}
        for cf, cf_db in self._cfs.items():
            cf_db.set_read_options(self._read_options(cf))  # point reads too
        # No column family may stay bound in this frame: a traceback through
        # __init__ (a failed recovery below) would keep the database LOCK held.
        del cf_db
        self._handles: dict[str, Any] = {
            cf: self._db.get_column_family_handle(cf) for cf in COLUMN_FAMILIES
        }
        self._write_lock = threading.Lock()
        self._closed = False
        #: Open :meth:`bulk_load` contexts (:mod:`~dvidctl.store.bulkload`).
        self.compaction_hold = CompactionHold(self._auto_compactions)
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

    def _rdict(
        self, *, read_only: bool, create: bool = False, max_open_files: int = -1
    ) -> rocksdict.Rdict:
        """Open the database through rocksdict, its errors turned into :class:`DvidError`."""
        mm, ra = self.mmap_reads, self.readahead
        opts = _options(create=create, max_open_files=max_open_files, mmap_reads=mm, readahead=ra)
        cfs = {
            cf: _options(create=create, max_open_files=max_open_files, mmap_reads=mm, readahead=ra)
            for cf in COLUMN_FAMILIES
        }
        # rocksdict (re)writes this file before RocksDB opens anything: a refused
        # open must not leave one behind where there was none.
        config = self.path / _ROCKSDICT_CONFIG
        had_config = config.exists()
        failure = None
        try:
            if read_only:
                ro = rocksdict.AccessType.read_only()
                return rocksdict.Rdict(str(self.path), opts, column_families=cfs, access_type=ro)
            return rocksdict.Rdict(str(self.path), opts, column_families=cfs)
        except Exception as exc:  # rocksdict raises a plain Exception
            failure = str(exc)
        if not had_config and not create:
            config.unlink(missing_ok=True)
        raise open_error(self.path, failure)

    def get(self, cf: str, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._cfs[cf].get(key)
        except Exception as exc:  # rocksdict raises a plain Exception
            raise self._read_error(exc) from None
        return value

    def multi_get(self, cf: str, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values: list[bytes | None] = self._cfs[cf].get(list(keys))
        except Exception as exc:  # rocksdict raises a plain Exception
            raise self._read_error(exc) from None
        return values

    def _read_error(self, exc: Exception) -> DvidError:
        if isinstance(exc, KeyError):  # an unknown column family: a caller's bug
            raise exc
        return read_error(self.path, str(exc))

    def scan(
        self, cf: str, start: bytes, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        read_opts = self._read_options(cf)
        if stop is not None:
            read_opts.set_iterate_upper_bound(stop)
        # Create the iterator now (not at the first next()): its implicit
        # snapshot is the consistent view "as of the call".
        it = self._cfs[cf].iter(read_opts)
        it.seek(start)
        return iterate(it, read_opts, f" {self.path}")

    def scan_chunks(
        self, cf: str, start: bytes, stop: bytes | None = None, size: int = 4096
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        read_opts = self._read_options(cf)
        if stop is not None:
            read_opts.set_iterate_upper_bound(stop)
        # rocksdict's items() steps in one call per entry (a raw iterator takes four),
        # but ends on a read error as at the end: an explicit snapshot lets the end be
        # checked afterwards in the same view.
        snap = self._cfs[cf].snapshot()
        items = snap.items(from_key=start, read_opt=read_opts)
        return chunked(snap, items, read_opts, start, size, f" {self.path}")

    def cursor(self, cf: str) -> RocksCursor:
        return RocksCursor(self._cfs[cf].iter(self._read_options(cf)), self.path)

    def _read_options(self, cf: str) -> rocksdict.ReadOptions:
        opts = rocksdict.ReadOptions()
        opts.set_verify_checksums(self.verify_checksums)
        if cf == CF_DATA and not self.mmap_reads:
            # Without a mapping, every data block read would also go into RocksDB's
            # block cache (32 MiB more of a one-shot read's memory, never read again).
            opts.fill_cache(False)  # type: ignore[call-arg]  # the stub omits the flag
        return opts

    def data_stream(self, spill: int | None = None, *, warm: bool = True) -> SstStream:
        """Values kept in memory up to ``spill`` (default :attr:`bulk_threshold`) bytes, then
        written to the table file that :meth:`write` ingests
        (:class:`~dvidctl.store.sststream.SstStream`); ``warm=False``: not read back after."""
        if self._closed:
            raise PermissionDeniedError(f"the database {self.path} is closed")
        if not self.supports_writes:
            raise ReadOnlyError("the repository is open read-only")
        path = self.path
        threshold = self.bulk_threshold if spill is None else spill
        stream = SstStream(path, threshold, self._data_options, lambda t: write_error(path, t))
        stream.warm = warm
        return stream

    def write(self, batch: WriteBatch, stream: DataStream | None = None) -> None:
        self.count_write()
        try:
            self._write(batch, stream)
        finally:
            if stream is not None:
                stream.discard()

    def _write(self, batch: WriteBatch, stream: DataStream | None) -> None:
        if self._closed:
            raise PermissionDeniedError(f"the database {self.path} is closed")
        if not self.supports_writes:
            raise ReadOnlyError("the repository is open read-only")
        if stream is not None and stream.closed:
            raise ValueError("a data stream is written once, by the engine that made it")
        spilled = stream if isinstance(stream, SstStream) and stream.spilled else None
        if stream is not None and spilled is None:
            ops = [*held_ops(stream), *batch.ops]
            batch = WriteBatch(ops, batch.replaced_bytes, sync=batch.sync)
        if batch.data_span is not None:
            data_keys = list(batch.data_span)
        else:
            data_keys = [key for cf, key, _ in batch.ops if cf == CF_DATA]
        if spilled is not None and spilled.first_key and spilled.last_key:
            data_keys += [spilled.first_key, spilled.last_key]
        threshold = self.bulk_threshold
        size = batch.data_bytes
        if size is None and threshold is not None:
            size = bulk.data_value_bytes(batch.ops)
        failure = None
        try:
            if spilled is not None:
                self.compaction_hold.before_ingest()
                bulk.write_stream(self, spilled, batch)
            elif threshold is not None and size is not None and size >= threshold:
                self.compaction_hold.before_ingest()
                bulk.write(self, batch, self._data_options)
            else:
                self._write_wal(batch)
        except (DvidError, KeyError):  # KeyError: an unknown column family (a caller's bug)
            raise
        except Exception as exc:  # rocksdict raises plain Exceptions
            failure = str(exc)
        if failure is not None:
            raise write_error(self.path, failure)
        if data_keys:
            lo, hi = min(data_keys), max(data_keys)
            if self.written is not None:
                lo, hi = min(lo, self.written[0]), max(hi, self.written[1])
            self.written = (lo, hi)
        self.replaced_bytes += batch.replaced_bytes

    def _write_wal(self, batch: WriteBatch) -> None:
        wb = rocksdict.WriteBatch(raw_mode=True)
        handles = self._handles
        for cf, key, value in batch.ops:
            if value is None:
                wb.delete(key, handles[cf])
            else:
                wb.put(key, value, handles[cf])
        opts = None
        if batch.sync:
            opts = rocksdict.WriteOptions()
            opts.sync = True
        with self._write_lock:
            self._check_not_broken()
            if opts is None:
                self._db.write(wb)
            else:
                self._db.write(wb, opts)

    def _check_not_broken(self) -> None:
        if self._broken:
            raise ReopenRequiredError(
                f"a bulk write to {self.path} failed half-way; writes are refused",
                hint="close and reopen the repository (e.g. restart 'dvidctl serve'): "
                "opening it finishes the interrupted write",
            )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def bulk_load(self) -> contextlib.AbstractContextManager[None]:
        return self.compaction_hold.loading()

    def _auto_compactions(self, on: bool) -> None:
        if self._closed:
            return
        try:
            self._cfs[CF_DATA].set_options({"disable_auto_compactions": str(not on).lower()})
        except Exception:  # noqa: BLE001 - rocksdict raises plain Exceptions; upkeep is optional
            pass

    def close(self) -> None:
        if self._closed:
            return
        if self.supports_writes and self.maintenance and self.compact_on_close:
            if self.written is not None and not self._broken:
                # Imported here: most commands never need it (nor its dataclasses at start-up).
                from dvidctl.store import space

                self.last_compaction = space.reclaim(self, *self.written, self.replaced_bytes)
        self._closed = True
        if self.supports_writes:
            bulk.remove_dir(self.path)  # while we still hold the LOCK
        # close() keeps the LOCK while any column-family object is referenced.
        self._cfs.clear()
        self._handles.clear()
        failure = None
        try:
            self._db.close()  # flushes: fails when the disk is full, as the write before did
        except Exception as exc:  # rocksdict raises plain Exceptions
            failure = str(exc)
        del self._db
        if failure is not None:  # what was written is in the WAL: the next open recovers it
            raise write_error(self.path, failure)
