"""Table files get the kernel's readahead (``RocksEngine.readahead_default``).

RocksDB advises the kernel that table files are read at random; through ``mmap``
that meant a 4 KiB page fault, one synchronous disk read, at a time. A clone from a
server whose files were not cached took 3.2-3.3 s against 0.64-0.73 s with
readahead (bench/RESULTS.md, session 16). The cause is checked here by counting this
thread's major page faults (reads from the disk) while it reads values that are not
in the page cache.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest

from dvidctl.commands.main import _settings_from_env
from dvidctl.store.engine import CF_DATA, CF_DELTA, WriteBatch
from dvidctl.store.rocks import RocksEngine
from tests.store.test_pagecache import resident_share

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(resource, "RUSAGE_THREAD"),
    reason="posix_fadvise and per-thread fault counts: Linux",
)

VALUE = 256 << 10
VALUES = 64


def _database(path: Path) -> Path:
    """One table file of 16 MB, left out of the page cache; its path."""
    with RocksEngine(path, create=True) as e:
        e.bulk_threshold = 0
        e.warm_ingested = False
        e.compact_on_close = False
        wb = WriteBatch()
        for i in range(VALUES):
            wb.put(CF_DATA, b"blk%04d" % i, os.urandom(VALUE))
            wb.put(CF_DELTA, b"blk%04d" % i, b"d" * 16)
        e.write(wb)
    return max(path.glob("*.sst"), key=lambda p: p.stat().st_size)


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _major_faults_reading(path: Path, sst: Path, readahead: bool) -> int:
    """Major faults of reading 16 values (4 MB) from the middle of the cold file."""
    _evict(sst)
    if resident_share(sst) > 0.5:
        pytest.skip("this filesystem keeps the file's pages cached (e.g. tmpfs)")
    saved = RocksEngine.readahead_default
    RocksEngine.readahead_default = readahead
    try:
        with RocksEngine(path, read_only=True, mmap_reads=True) as e:
            assert e.readahead is readahead
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_majflt
            for i in range(24, 40):
                assert len(e.get(CF_DATA, b"blk%04d" % i) or b"") == VALUE
            return resource.getrusage(resource.RUSAGE_THREAD).ru_majflt - before
    finally:
        RocksEngine.readahead_default = saved


def test_mapped_reads_of_cold_values_read_ahead(tmp_path: Path) -> None:
    path = tmp_path / "db"
    sst = _database(path)
    page_at_a_time = _major_faults_reading(path, sst, readahead=False)
    if page_at_a_time < VALUE // 4096:
        pytest.skip(f"reads did not fault from the disk here ({page_at_a_time} major faults)")
    ahead = _major_faults_reading(path, sst, readahead=True)
    # 16 values of 256 KiB are 1,024 pages: one fault each without readahead, a few
    # per window of the device's readahead (128 KiB or more) with it.
    assert page_at_a_time >= 16 * VALUE // 4096 * 0.9
    assert ahead * 4 < page_at_a_time


@pytest.mark.parametrize("mmap_reads", [True, False])
@pytest.mark.parametrize("readahead", [True, False])
def test_the_database_options_say_so(tmp_path: Path, mmap_reads: bool, readahead: bool) -> None:
    """Mapped or read with ``pread`` (one-shot commands: the kernel then reads ahead
    only what looks sequential), as RocksDB records the options it opened with."""
    path = tmp_path / "db"
    RocksEngine(path, create=True).close()
    saved = RocksEngine.readahead_default
    RocksEngine.readahead_default = readahead
    try:
        RocksEngine(path, mmap_reads=mmap_reads).close()
    finally:
        RocksEngine.readahead_default = saved
    latest = max(path.glob("OPTIONS-*"), key=lambda p: int(p.name.split("-")[1]))
    text = latest.read_text()
    assert f"advise_random_on_open={'false' if readahead else 'true'}" in text
    assert f"allow_mmap_reads={'true' if mmap_reads else 'false'}" in text


def test_readahead_is_on_by_default_and_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert RocksEngine.readahead_default is True
    saved = RocksEngine.readahead_default
    monkeypatch.setenv("DVIDCTL_READAHEAD", "0")
    try:
        _settings_from_env()
        assert RocksEngine.readahead_default is False
    finally:
        RocksEngine.readahead_default = saved
