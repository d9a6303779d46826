"""Putting off compactions while a fetch ingests many table files (:meth:`KVEngine.bulk_load`).

RocksDB's own recipe for a bulk load (``Options::PrepareForBulkLoad``) is to turn
automatic compactions off while the files arrive and compact once at the end; here
the end is the engine's close, whose :func:`~dvidctl.store.space.reclaim` compacts
the range written when the files pile up.

Why: a clone or fetch ingests a table file per batch. A node's files overlap those
of the nodes before it (a key's versions are adjacent), so they land in level 0,
and from four of them RocksDB merges level 0 into the bottom level, rewriting the
files there, and again each time four more arrive. In bench_sync's clone (151 MB,
6 nodes) one such compaction rewrote 137 MB during the transfer, on the cores the
transfer was using, and the close then rewrote the range once more. RocksDB stops
counting level-0 files towards write stalls while compactions are off, and
ingestion does not wait on them.

The option is only changed once the load ingests its first table file: changing
it rewrites RocksDB's OPTIONS file (~2 ms each way), which a no-op or small fetch
(values through the write-ahead log) should not pay.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


class CompactionHold:
    """The bulk loads open on one engine, and whether compactions are off for them.

    ``set_auto(on)`` turns the engine's automatic compactions of ``data`` on or off;
    it must not raise (upkeep only: an engine that refuses keeps compacting).
    """

    def __init__(self, set_auto: Callable[[bool], None]) -> None:
        self._set_auto = set_auto
        self._lock = threading.Lock()
        self._loads = 0
        self._off = False

    @property
    def loads(self) -> int:
        """Bulk loads open now (nested or from several threads)."""
        return self._loads

    @property
    def off(self) -> bool:
        """Whether automatic compactions are off for the open loads."""
        return self._off

    @contextlib.contextmanager
    def loading(self) -> Iterator[None]:
        """One bulk load; compactions come back on when the last open one ends."""
        with self._lock:
            self._loads += 1
        try:
            yield
        finally:
            with self._lock:
                self._loads -= 1
                if self._loads == 0 and self._off:
                    self._off = False
                    self._set_auto(True)

    def before_ingest(self) -> None:
        """Called before each table file is ingested: compactions off during a load."""
        if self._loads and not self._off:
            with self._lock:
                if self._loads and not self._off:
                    self._off = True
                    self._set_auto(False)
