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
"""

from __future__ import annotations

import os
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
