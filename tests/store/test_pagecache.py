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


def _table_file(path: Path, sizes: list[int]) -> Path:
    """A table file as the bulk path writes one (the writer drops its pages as it goes)."""
    import rocksdict

    from dvidctl.store.rocks import _options

    writer = rocksdict.SstFileWriter(options=_options())
    writer.open(str(path))
    for i, n in enumerate(sizes):
        writer[b"blk%04d" % i] = os.urandom(n)
    writer.finish()
    return path


def _resident(path: Path, start: int, stop: int) -> float:
    """The share of the pages of ``path[start:stop]`` in the page cache."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    page = mmap.PAGESIZE
    lo, hi = start // page * page, stop
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as m:
        pages = (hi - lo + page - 1) // page
        vec = (ctypes.c_ubyte * pages)()
        buf = ctypes.c_char.from_buffer(m, lo)  # type: ignore[arg-type]
        try:
            assert libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), hi - lo, vec) == 0
        finally:
            del buf
        return sum(b & 1 for b in vec) / pages


def test_prime_reads_the_ends_that_ingestion_reads(tmp_path: Path) -> None:
    """The first value's block and the last value with the index after it come into the
    cache; the middle of the file does not (skipped where written pages stay cached)."""
    first, last = 300 << 10, 500 << 10
    sst = _table_file(tmp_path / "t.sst", [first] + [256 << 10] * 128 + [last])
    size = sst.stat().st_size
    if resident_share(sst) > 0.5:
        pytest.skip("this filesystem keeps written pages cached anyway")
    got = pagecache.prime(sst, first, last, 130)
    head = first + pagecache.HEAD_SLACK
    tail = last + pagecache.TAIL_SLACK + 130 * pagecache.INDEX_ENTRY
    assert got == head + tail
    assert _resident(sst, 0, head) == 1.0
    assert _resident(sst, size - tail, size) == 1.0
    assert _resident(sst, head + (1 << 20), size - tail - (1 << 20)) < 0.5
    assert pagecache.prime(tmp_path / "gone.sst", first, last, 130) == 0


def test_prime_of_a_small_file_reads_it_once(tmp_path: Path) -> None:
    sst = _table_file(tmp_path / "t.sst", [1000, 2000, 3000])
    assert pagecache.prime(sst, 1000, 3000, 3) == sst.stat().st_size


@pytest.mark.parametrize("mmap_reads", [True, False])
@pytest.mark.parametrize("streamed", [False, True])
def test_bulk_writes_prime_with_their_first_and_last_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool, mmap_reads: bool
) -> None:
    """Both bulk paths tell :func:`pagecache.prime` the lengths of the file's first and
    last values in key order, and how many it holds, before the file is ingested, in an
    engine that maps its files; one that reads them with ``pread`` does not prime."""
    from dvidctl.store import bulk

    seen: list[tuple[int, int, int, bool]] = []

    def spy(path: Path, first: int, last: int, count: int) -> int:
        seen.append((first, last, count, path.exists()))
        return 0

    monkeypatch.setattr(pagecache, "prime", spy)
    sizes = {b"blk%04d" % i: (40 + i) << 10 for i in range(32)}
    RocksEngine(tmp_path / "db", create=True).close()
    with RocksEngine(tmp_path / "db", mmap_reads=mmap_reads) as e:
        e.bulk_threshold = 0
        wb = WriteBatch()
        if streamed:
            stream = e.data_stream(0)
            for key in sorted(sizes):
                stream.put(key, os.urandom(sizes[key]))
            e.write(wb, stream)
        else:
            for key in sorted(sizes, reverse=True):  # the bulk path sorts them
                wb.put(CF_DATA, key, os.urandom(sizes[key]))
            e.write(wb)
        assert e.get(CF_DATA, b"blk0031") is not None
    assert seen == ([(40 << 10, 71 << 10, 32, True)] if mmap_reads else [])
    assert not list(bulk.ingest_dir(tmp_path / "db").glob("*.sst"))
