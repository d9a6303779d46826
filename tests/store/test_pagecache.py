"""A bulk write leaves its table file in the page cache (store/pagecache.py).

RocksDB's SST writer drops what it wrote from the cache, so the first read after
a large write went to the disk (846 MB: 27.6 s, against 2.8 s repeated).
``bench/bench_cold_read.py`` measures the reads; this checks the cause, with
mincore(2), at a small scale.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys
from pathlib import Path

import pytest

from dvidctl.store import pagecache
from dvidctl.store.engine import CF_DATA, CF_DELTA, WriteBatch
from dvidctl.store.rocks import RocksEngine

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="mincore(2) and posix_fadvise: Linux"
)


def resident_share(path: Path) -> float:
    """The share of ``path``'s pages in the page cache."""
    size = path.stat().st_size
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    page = mmap.PAGESIZE
    pages = (size + page - 1) // page
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
        vec = (ctypes.c_ubyte * pages)()
        buf = ctypes.c_char.from_buffer(m)  # type: ignore[arg-type]
        try:
            assert libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), size, vec) == 0
        finally:
            del buf
        return sum(b & 1 for b in vec) / pages


def _bulk_write(path: Path, warm: bool) -> Path:
    """One 32 MB batch through SST ingestion (smaller files can stay cached anyway)."""
    with RocksEngine(path, create=True) as e:
        e.bulk_threshold = 0
        e.warm_ingested = warm
        wb = WriteBatch()
        for i in range(128):
            wb.put(CF_DATA, b"blk%04d" % i, os.urandom(256 << 10))
            wb.put(CF_DELTA, b"blk%04d" % i, b"d" * 16)
        e.write(wb)
    return max(path.glob("*.sst"), key=lambda p: p.stat().st_size)


def test_ingested_file_is_read_back_into_the_page_cache(tmp_path: Path) -> None:
    sst = _bulk_write(tmp_path / "db", warm=True)
    assert sst.stat().st_size > 32 << 20
    assert resident_share(sst) > 0.9


def test_the_sst_writer_alone_drops_it(tmp_path: Path) -> None:
    """Why the read-back is needed (skipped where the writer's advice has no effect, e.g. tmpfs)."""
    sst = _bulk_write(tmp_path / "db", warm=False)
    share = resident_share(sst)
    if share > 0.9:
        pytest.skip(f"this filesystem keeps written pages cached anyway ({share:.0%})")
    assert share < 0.5


def test_warm_is_bounded_by_the_budget(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(os.urandom(4 << 20))
    assert pagecache.warm([f], limit=1 << 20) == 1 << 20
    assert pagecache.warm([tmp_path / "gone"], limit=1 << 20) == 0
