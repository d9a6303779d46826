"""Asking the kernel to keep just-written table files in the page cache (Linux; no-op elsewhere).

RocksDB's SST writer drops every page it wrote from the cache as it goes
(``fadvise(DONTNEED)`` every MiB and at ``finish()``; rocksdict cannot turn that
off), so after a bulk write the first read of the new data went to the disk:
``put subvolume`` of 846 MB then ``get`` took 27.6 s, 2.8 s when repeated.
:func:`warm` reads the file back with ``POSIX_FADV_WILLNEED``, in large sequential
requests, so later reads find it cached. Recent kernels cap one WILLNEED call at
the device's readahead size, hence the chunks. The calls return once the reads
are queued; on a slow disk queueing blocks about as long as reading, so the cost
is one sequential read of the file (bench/bench_cold_read.py measures it).

:func:`prime` is the synchronous, partial counterpart for a file about to be
ingested: RocksDB's ingestion opens the file and reads its first and last data
blocks (the file's key range) and the blocks at its end (index, properties,
footer) through ``mmap``, a 4 KiB page fault at a time from the disk, since the
writer dropped them -- holding the caller's GIL throughout (rocksdict does not
release it). Reading those two regions first, in large ``pread`` calls that
release the GIL, took a 16 MiB file's ingestion from 10-19 ms to 1-2 ms, for 1-2 ms
of reading that other threads run beside (bench/RESULTS.md, session 15): 64 KiB past
the last value suffice for large values, and 16,384 values of 1 KB need ~256 KiB
(their index).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

#: Bytes per WILLNEED call.
CHUNK = 2 << 20
#: Share of the kernel's available memory one warm-up may use: reading back more
#: than the page cache can hold would only push out the start of the file (or
#: other processes' data).
MEMORY_SHARE = 0.5


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes; None where unknown."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def budget() -> int:
    """How many bytes a warm-up may read back now (0 when the platform cannot)."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    avail = available_memory()
    return 0 if avail is None else int(avail * MEMORY_SHARE)


def warm_fd(fd: int, size: int, limit: int) -> int:
    """Queue reads of the first ``min(size, limit)`` bytes of open file ``fd``; return that."""
    n = max(0, min(size, limit))
    if n == 0 or not hasattr(os, "posix_fadvise"):
        return 0
    try:
        for off in range(0, n, CHUNK):
            os.posix_fadvise(fd, off, min(CHUNK, n - off), os.POSIX_FADV_WILLNEED)
    except OSError:
        return 0  # advice only: a filesystem may not support it
    return n


def warm(paths: list[Path], limit: int | None = None) -> int:
    """Read ``paths`` back into the page cache, up to ``limit`` bytes (default :func:`budget`).

    Returns the bytes requested. Files that vanished (compacted away) are skipped.
    """
    left = budget() if limit is None else limit
    total = 0
    for path in paths:
        if left <= 0:
            break
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            got = warm_fd(fd, os.fstat(fd).st_size, left)
        finally:
            os.close(fd)
        total += got
        left -= got
    return total


#: Bytes :func:`prime` reads past a file's first value (the rest of its block) and
#: before its last one (what follows it: properties, the index's last block, footer).
HEAD_SLACK = 64 << 10
TAIL_SLACK = 64 << 10
#: Bytes of index per data block read before the last value, and the block size the
#: count of blocks is estimated by (RocksDB's default: a block holds one large value,
#: or about this many bytes of small ones).
INDEX_ENTRY = 64
BLOCK = 4 << 10
#: Bytes :func:`prime` reads per call, into a buffer kept per thread.
SCRATCH = 256 << 10
_scratch = threading.local()


def prime(path: Path, first: int, last: int, count: int) -> int:
    """Read into the page cache the parts of the new table file ``path`` that its
    ingestion reads: the start through its first value (``first`` bytes long), and the
    end back through its last one (``last`` bytes) with the index of its ``count``
    values before it.

    Returns the bytes read; 0 where the file cannot be read (advice only: ingestion
    then reads what it needs itself)."""
    if not hasattr(os, "preadv"):
        return 0
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        size = os.fstat(fd).st_size
        head = min(size, first + HEAD_SLACK)
        index = INDEX_ENTRY * min(count, size // BLOCK + 1)
        tail = min(size - head, last + TAIL_SLACK + index)
        return _read(fd, 0, head) + _read(fd, size - tail, tail)
    except OSError:
        return 0
    finally:
        os.close(fd)


def _read(fd: int, offset: int, n: int) -> int:
    """Read ``n`` bytes of ``fd`` at ``offset`` into this thread's scratch buffer (the
    reads release the GIL; a buffer made per call was fresh memory to fault in)."""
    buf = getattr(_scratch, "buf", None)
    if buf is None:
        buf = _scratch.buf = bytearray(SCRATCH)
    done = 0
    with memoryview(buf) as view:
        while done < n:
            got = os.preadv(fd, [view[: min(SCRATCH, n - done)]], offset + done)
            if got <= 0:
                break
            done += got
    return done
