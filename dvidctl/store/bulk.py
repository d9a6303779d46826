"""Large batches through SST ingestion: crash-safe, atomic, without the WAL cost.

:meth:`RocksEngine.write` sends a batch here when its ``data`` column family
values add up to ``RocksEngine.bulk_threshold`` bytes or more. Steps:

1. Dedupe the ops (the later op on a ``(cf, key)`` wins), sort the ``data`` ops
   and write them (puts and deletes) to ``<db>.ingest/<name>.sst``. This touches
   no shared state, so it runs before taking the engine's write lock (as the
   normal path builds its WriteBatch before); steps 2-4 hold the lock.
2. Synced WAL write: a marker ``meta: MARKER_PREFIX + name`` whose value holds
   every other op of the batch (``meta`` and ``delta``), length-prefixed, CRC32.
3. Ingest the file into ``data`` (``move_files``: RocksDB hard-links it, fsyncs
   it and removes our name on success). One file ingestion is atomic. Before
   step 2, an engine that maps its files reads the parts of the file ingestion
   reads into the page cache with the GIL released (:func:`.pagecache.prime`).
4. WAL write: the other ops and the deletion of the marker, in one batch.
5. Remove the file if it is still there (only after the fallback below); after
   an ingestion, read the file back into the page cache (:mod:`.pagecache`: the
   SST writer dropped it, and the first read after a large write is common).

A reader of ``data`` sees all of the batch's data or none of it, and a scan or
cursor opened before step 3 sees none. Between steps 3 and 4 (one small WAL
write) a reader can see the new ``data`` before its ``delta`` and ``meta``
entries; a read-only process opening the database after a crash in that window
sees the same state until a read-write open recovers it.

Recovery (:func:`recover`, run by every read-write open): for each marker,
ingest its file if it still exists (step 3 had not finished; ingesting the same
file again is harmless), then write its other ops and delete the marker in one
batch; finally remove every file left in ``<db>.ingest`` (a crash in step 1 or
before step 5). A marker can only be pending while nothing else was written
after it: any failure after step 2 that this module cannot repair marks the
engine broken (:class:`ReopenRequiredError` for every later write) so that
recovery never puts older data over newer.

If ingestion raises an :class:`Exception`, the whole batch (data, other ops,
marker deletion) is written through the normal path as one atomic batch.

**Streamed writes** (:func:`write_stream`): a streaming batch's values were
written to the file in key order while the batch was built
(:class:`~dvidctl.store.sststream.SstStream`), so step 1 only finishes the file;
the batch's own operations, ``data`` ones included, travel in the marker and are
written in step 4, after (so over) the file's values. Steps 2-5 and recovery are
the same. There is no fallback copy of the values: when ingestion fails, the
marker is deleted (synced) and nothing was written. In the window between steps
3 and 4, the batch's own ``data`` operations are not visible yet either.

Test hook: with ``DVIDCTL_BULK_CRASH_AFTER`` set to ``sst``, ``marker``,
``ingest`` or ``commit``, the process ends with ``os._exit(1)`` right after that
step (read only here, by :func:`_after`).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rocksdict

from dvidctl.store import pagecache
from dvidctl.store.bulkmarker import Op, decode_marker, encode_marker
from dvidctl.store.engine import CF_DATA, CF_META, WriteBatch

if TYPE_CHECKING:
    from dvidctl.store.rocks import RocksEngine
    from dvidctl.store.sststream import SstStream

#: Marker keys in ``meta``. No metadata key starts with 0xFF (metadata.py keys are
#: ASCII: repo, node/, branch/, tag/, inst/, counter/), and metadata.load reads
#: only those prefixes.
MARKER_PREFIX = b"\xffbulk/"
#: ``os._exit(1)`` right after the named step (tests only).
CRASH_ENV = "DVIDCTL_BULK_CRASH_AFTER"

_counter = itertools.count()


def ingest_dir(db_path: Path) -> Path:
    """The directory of files waiting for ingestion: ``<db>.ingest`` beside the database."""
    return db_path.with_name(db_path.name + ".ingest")


def data_value_bytes(ops: Iterable[Op]) -> int | None:
    """Total value bytes of the ``data`` puts; None when the batch has no ``data`` op."""
    total, seen = 0, False
    for cf, _, value in ops:
        if cf == CF_DATA:
            seen = True
            if value is not None:
                total += len(value)
    return total if seen else None


# ---------------------------------------------------------- steps (patchable)
def _write_sst(path: Path, items: list[tuple[bytes, bytes | None]], options: Any) -> None:
    writer = rocksdict.SstFileWriter(options=options)
    writer.open(str(path))
    for key, value in items:
        if value is None:
            del writer[key]
        else:
            writer[key] = value
    writer.finish()


def _ingest(cf: Any, path: Path) -> None:
    opts = rocksdict.IngestExternalFileOptions()
    opts.set_move_files(True)
    cf.ingest_external_file([str(path)], opts)


def _commit(engine: RocksEngine, ops: Iterable[Op], sync: bool = False) -> None:
    wb = rocksdict.WriteBatch(raw_mode=True)
    handles = engine._handles
    put, delete = wb.put, wb.delete
    for cf, key, value in ops:
        if value is None:
            delete(key, handles[cf])
        else:
            put(key, value, handles[cf])
    if sync:
        opts = rocksdict.WriteOptions()
        opts.sync = True
        engine._db.write(wb, opts)
    else:
        engine._db.write(wb)


def _after(step: str) -> None:
    if os.environ.get(CRASH_ENV) == step:
        os._exit(1)


def new_file(db_path: Path) -> Path:
    """A new name in ``<db>.ingest`` (made if missing) for a file to ingest."""
    folder = ingest_dir(db_path)
    folder.mkdir(exist_ok=True)
    return folder / f"{time.time_ns():016x}-{os.getpid()}-{next(_counter)}.sst"


def _latest(engine: RocksEngine, ops: list[Op]) -> dict[str, dict[bytes, bytes | None]]:
    """The last operation on each key, by column family; KeyError for an unknown family."""
    families = dict.fromkeys(op[0] for op in ops)  # each once, in order of first use
    for cf in families:
        if cf not in engine._handles:
            raise KeyError(f"no column family {cf!r}")
    if len(families) == 1:
        return {cf: {k: v for _, k, v in ops} for cf in families}
    return {cf: {k: v for c, k, v in ops if c == cf} for cf in families}


# --------------------------------------------------------------- write, recover
def write(engine: RocksEngine, batch: WriteBatch, options: Any) -> None:
    """Apply ``batch`` through an SST file; ``options`` are those of the ``data`` family."""
    latest = _latest(engine, batch.ops)
    data = sorted(latest.pop(CF_DATA, {}).items(), key=_first)
    other = [(cf, k, v) for cf, ops in latest.items() for k, v in ops.items()]
    sst = new_file(engine.path)
    try:
        _write_sst(sst, data, options)
    except BaseException:
        sst.unlink(missing_ok=True)
        raise
    ends = (_length(data[0][1]), _length(data[-1][1]), len(data)) if data else (0, 0, 0)
    _publish(engine, sst, data, other, ends=ends)


def write_stream(engine: RocksEngine, stream: SstStream, batch: WriteBatch) -> None:
    """Apply a spilled ``stream`` (its table file) and ``batch`` as one bulk write.

    Every operation of ``batch``, ``data`` ones included, is written with the
    metadata after the ingestion (steps 2 and 4), so it wins over the stream's
    value of the same key. There is no fallback: the values are only in the file,
    so when ingestion fails the marker is removed and nothing was written.
    """
    other = [(cf, k, v) for cf, ops in _latest(engine, batch.ops).items() for k, v in ops.items()]
    sst = stream.finish()
    _publish(engine, sst, None, other, warm=stream.warm, ends=stream.ends)


def _publish(
    engine: RocksEngine,
    sst: Path,
    data: list[tuple[bytes, bytes | None]] | None,
    other: list[Op],
    *,
    warm: bool = True,
    ends: tuple[int, int, int] = (0, 0, 0),
) -> None:
    """Steps 2-5 for the finished table file ``sst``; ``data``: its values, for the fallback.

    ``warm=False`` skips step 5's read-back (a stream that asked for none); ``ends``:
    the lengths of the file's first and last values and their count (see
    :func:`.pagecache.prime`).
    """
    name = sst.name
    fd = -1
    try:
        try:
            _after("sst")
            if engine.mmap_reads:
                # Through pread, ingestion reads those blocks itself in ~2 ms (with
                # the kernel's readahead): priming there cost a pull's stream more
                # than it saved, 2-7 ms waiting on the disk (bench/RESULTS.md, session 16).
                pagecache.prime(sst, *ends)
            if engine.warm_ingested and warm:
                # The inode stays reachable through fd once ingestion moved the file.
                fd = os.open(sst, os.O_RDONLY)
            with engine._write_lock:
                engine._check_not_broken()
                _apply(engine, sst, data, other)
        except BaseException:
            # Keep the file only while a pending marker names it (for recovery).
            if not engine._broken or engine._cfs[CF_META].get(_marker_key(name)) is None:
                sst.unlink(missing_ok=True)
            raise
        # Ingestion moved it away; after the fallback path it is still here.
        if fd >= 0 and not sst.exists():
            pagecache.warm_fd(fd, size=os.fstat(fd).st_size, limit=pagecache.budget())
    finally:
        if fd >= 0:
            os.close(fd)
    sst.unlink(missing_ok=True)


def _length(value: bytes | None) -> int:
    return 0 if value is None else len(value)


def _first(item: tuple[bytes, bytes | None]) -> bytes:
    return item[0]


def _marker_key(sst_name: str) -> bytes:
    return MARKER_PREFIX + sst_name.encode()


def _apply(
    engine: RocksEngine, sst: Path, data: list[tuple[bytes, bytes | None]] | None, other: list[Op]
) -> None:
    name = sst.name
    marker = _marker_key(name)
    try:
        # Synced: the ingested file is durable (RocksDB fsyncs it and the MANIFEST),
        # so the marker and every earlier WAL write must be too, or a power loss
        # could keep this data and lose the rest of the batch or older writes.
        _commit(engine, [(CF_META, marker, encode_marker(name, other))], sync=True)
        _after("marker")
    except BaseException:
        if engine._cfs[CF_META].get(marker) is not None:
            engine._broken = True
        raise
    done = [*other, (CF_META, marker, None)]
    undone = False
    try:
        try:
            _ingest(engine._cfs[CF_DATA], sst)
        except Exception:
            if data is None:
                # A streamed write: no copy of its values to fall back on. Ingestion
                # changed nothing, so removing the marker leaves the database as it was.
                _commit(engine, [(CF_META, marker, None)], sync=True)
                undone = True
                raise
            # The same data ops through the WAL, with the rest, as one batch.
            _commit(engine, [*((CF_DATA, k, v) for k, v in data), *done])
        else:
            _after("ingest")
            _commit(engine, done)
    except BaseException:
        if not undone:
            engine._broken = True
        raise
    _after("commit")


def recover(engine: RocksEngine) -> int:
    """Finish the bulk writes a crash interrupted; return how many there were."""
    folder = ingest_dir(engine.path)
    pending = list(engine.scan_prefix(CF_META, MARKER_PREFIX))
    for key, raw in pending:
        name, other = decode_marker(raw)
        sst = folder / name
        if sst.exists():
            _ingest(engine._cfs[CF_DATA], sst)
        _commit(engine, [*other, (CF_META, key, None)])
        sst.unlink(missing_ok=True)
    if folder.is_dir():
        for stray in folder.iterdir():
            stray.unlink(missing_ok=True)
        remove_dir(engine.path)
    return len(pending)


def remove_dir(db_path: Path) -> None:
    """Remove ``<db>.ingest`` if it is empty (read-write close and recovery)."""
    try:
        ingest_dir(db_path).rmdir()
    except OSError:
        pass
