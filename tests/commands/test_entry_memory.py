"""The console script keeps freed memory for reuse (commands/entry.py ``_keep_freed_memory``).

Each check runs in a fresh interpreter: a large block is allocated, written, freed,
and allocated again. By default glibc unmaps a freed block of 128 KiB or more, so
the second one starts on fresh pages (a page fault each, and on a virtual machine
that reports free memory to its host, a fault in the host too); after the setting
the block stays in malloc's heap, resident, and the second one reuses its pages.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's"
)

_PROBE = textwrap.dedent(
    """
    import resource, sys
    from dvidctl.commands import entry
    if sys.argv[1] == "keep":
        entry._keep_freed_memory()
    def rss():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
    size = 16 << 20
    block = bytearray(b"x" * size)
    before = rss()
    del block
    after_free = rss()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = bytearray(b"y" * size)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(before - after_free, faults)
    """
)


def _probe(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_a_freed_block_stays_resident_and_is_reused_without_page_faults() -> None:
    given_back, faults_default = _probe("default")
    kept, faults_kept = _probe("keep")
    pages = (16 << 20) // 4096
    assert given_back > 12 << 20  # the default: unmapped at once
    assert kept < 4 << 20  # kept for the next allocation
    assert faults_default > pages // 2  # the second block faulted its pages in again
    assert faults_kept < pages // 8  # ... and now reuses the first one's
