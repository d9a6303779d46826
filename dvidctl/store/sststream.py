"""A data stream that moves to the table file a bulk write will ingest.

:meth:`RocksEngine.data_stream <dvidctl.store.rocks.RocksEngine.data_stream>`
hands one to a streaming batch (:mod:`dvidctl.store.batch`); the engine's
``write`` then publishes the file with :func:`dvidctl.store.bulk.write_stream`:
one ingestion under the bulk path's marker protocol, so a streamed write is as
atomic and crash-safe as any other bulk write.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import rocksdict

from dvidctl.errors import DvidError
from dvidctl.store import bulk
from dvidctl.store.engine import HeldStream


class SstStream(HeldStream):
    """A :class:`~dvidctl.store.engine.DataStream` that moves to a table file past a size.

    Values stay in memory until they add up to ``threshold`` bytes (None: never),
    so a small write still takes the normal path; then they, and every later one,
    go straight to an SST file in ``<db>.ingest``, which
    :func:`~dvidctl.store.bulk.write_stream` ingests. The file is removed when the
    stream is discarded or dropped unwritten, and by the next read-write open after
    a crash (a stray file).
    """

    def __init__(
        self,
        db_path: Path,
        threshold: int | None,
        options: Any,
        error: Callable[[str], DvidError],
    ) -> None:
        super().__init__()
        self._db_path = db_path
        self._threshold = threshold
        self._options = options
        self._error = error
        self._writer: Any = None
        self.path: Path | None = None
        #: Whether the ingested file is read back into the page cache (:mod:`.pagecache`).
        self.warm = True
        self._cleanup: weakref.finalize[Any, SstStream] | None = None
        self._first: int | None = None
        self._last = self._count = 0

    @property
    def spilled(self) -> bool:
        return self.path is not None

    def _put(self, key: bytes, value: bytes) -> None:
        self._first = len(value) if self._first is None else self._first
        self._last = len(value)
        self._count += 1
        if self._writer is None:
            self.items.append((key, value))
            if self._threshold is None or self.nbytes + len(value) < self._threshold:
                return
        failure = None
        try:
            if self._writer is None:
                self._spill()
            else:
                self._writer[key] = value
        except Exception as exc:  # rocksdict raises plain Exceptions (e.g. a full disk)
            failure = str(exc)
        if failure is not None:
            self.discard()
            raise self._error(failure)

    def _put_run(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        i, n = 0, len(keys)
        while self._writer is None and i < n:  # until it spills, as one by one
            self._put(keys[i], values[i])
            self.nbytes += len(values[i])
            i += 1
        if i == n:
            return
        writer, failure = self._writer, None
        try:
            for key, value in zip(keys[i:], values[i:], strict=True):
                writer[key] = value
        except Exception as exc:  # rocksdict raises plain Exceptions (e.g. a full disk)
            failure = str(exc)
        if failure is not None:
            self.discard()
            raise self._error(failure)
        self.nbytes += sum(map(len, values[i:]))
        self._last = len(values[-1])
        self._count += n - i

    @property
    def ends(self) -> tuple[int, int, int]:
        """Lengths of the first and last values put, and their count (:func:`.pagecache.prime`)."""
        return (self._first or 0, self._last, self._count)

    def _spill(self) -> None:
        path = bulk.new_file(self._db_path)
        self._cleanup = weakref.finalize(self, path.unlink, missing_ok=True)
        self.path = path
        self._writer = rocksdict.SstFileWriter(options=self._options)
        self._writer.open(str(path))
        for key, value in self.items:
            self._writer[key] = value
        self.items = []

    def finish(self) -> Path:
        """Close the file (no more puts) and return its path, which the caller now owns.

        From here the bulk write decides when the file goes: a pending marker that
        names it needs it to finish the write at the next open.
        """
        if self.path is None or self._writer is None:
            raise ValueError("only a spilled, unwritten stream has a file")
        self.closed = True
        self._writer.finish()
        self._writer = None
        if self._cleanup is not None:
            self._cleanup.detach()
            self._cleanup = None
        return self.path

    def discard(self) -> None:
        super().discard()
        self._writer = None
        if self._cleanup is not None:
            self._cleanup()  # removes the file once (a no-op after ingestion moved it)
