"""Giving back the space of overwritten values when a read-write engine closes.

A value written again at the same key (the same node) leaves the old bytes in an
older table file until RocksDB compacts the two. RocksDB compacts in the
background, but a CLI command closes the database right after its write, which
cancels that work ("Shutdown in progress"): writing one 512^3 volume 8 times grew
``.dvid`` from 129 MB to 1,026 MB. Large writes make it plain, since each is
ingested as one new table file over the last (:mod:`.bulk`).

Policy, run by :meth:`RocksEngine.close` when the engine wrote ``data``:

1. Flush what this engine wrote from memory into table files (the next open
   would; done now, the write-ahead log no longer holds a second copy).
2. Take the ``data`` table files whose key ranges overlap the range of keys
   written through this engine: what a compaction of that range rewrites.
   Estimate their live bytes as RocksDB's ``rocksdb.estimate-live-data-size``
   does, restricted to them: from the bottom level up, count a file only when
   its range overlaps no file counted already.
3. Compact that range (``compact_range``: the files are merged into the bottom
   level and replaced values dropped) when either
   - **this engine replaced** at least :data:`MIN_EXCESS_BYTES` of stored values
     in place, and more than :data:`SPACE_AMP_LIMIT` of the live estimate. The
     versioned layer counts these bytes exactly from the delta index (a key the
     node had already written); or
   - **the files hold over twice** their live estimate (:data:`PILE_UP_LIMIT`),
     by at least :data:`MIN_EXCESS_BYTES`: values replaced by earlier commands
     below the first bound, or files whose key ranges interleave.

So repeated overwrites stay within ``1 + SPACE_AMP_LIMIT`` of one copy after each
command; a fresh write that replaced nothing is not rewritten (unless its range
piles up past twice its live estimate, after which each rewrite covers at least
twice the data of the one before: a geometric series, as level compaction
would do); and a small write is not made to rewrite a large file beside it. Only
the key estimate is an estimate: RocksDB exposes no count of live bytes per
range, and the whole-database property has the same blind spot for files whose
ranges interleave (an instance's per-write metadata key, pyramid levels), which
is why it is only the backstop. The cost is one rewrite of the range, paid by the
command that crossed a bound (``bench/bench_space.py`` measures it); the table
files a compaction writes are read back into the page cache (:mod:`.pagecache`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rocksdict

from dvidctl.store import pagecache
from dvidctl.store.engine import CF_DATA
from dvidctl.upkeep import notice as upkeep_notice

if TYPE_CHECKING:
    from dvidctl.store.rocks import RocksEngine

#: Compact when the bytes replaced through this engine pass this share of the
#: live estimate of the files in the written range ...
SPACE_AMP_LIMIT = 0.25
#: ... or those files hold more than this share on top of their live estimate;
#: either excess at least this many bytes (small ones are RocksDB's to handle).
PILE_UP_LIMIT = 1.0
MIN_EXCESS_BYTES = 8 << 20
_FILE_RE = re.compile(r"^\s*(\d+):\d+\[", re.MULTILINE)


@dataclass(frozen=True)
class TableFile:
    """One live SST file of the ``data`` column family."""

    number: int
    level: int
    size: int
    smallest: bytes
    largest: bytes

    def overlaps(self, lo: bytes, hi: bytes) -> bool:
        """Whether the file's key range meets ``[lo, hi]``."""
        return self.smallest <= hi and self.largest >= lo


@dataclass(frozen=True)
class Estimate:
    """The files a compaction of a key range would rewrite, and their live estimate."""

    files: int
    total_bytes: int
    live_bytes: int

    @property
    def excess_bytes(self) -> int:
        """Bytes beyond the live estimate: replaced values, or interleaved files."""
        return self.total_bytes - self.live_bytes


def worth_compacting(est: Estimate, replaced_bytes: int) -> bool:
    """The policy's test (module docstring, step 3)."""
    replaced = replaced_bytes >= MIN_EXCESS_BYTES and replaced_bytes > (
        SPACE_AMP_LIMIT * est.live_bytes
    )
    excess = est.excess_bytes
    piled_up = excess >= MIN_EXCESS_BYTES and excess > PILE_UP_LIMIT * est.live_bytes
    return replaced or piled_up


@dataclass(frozen=True)
class Compaction:
    """What :func:`reclaim` found and did."""

    before: Estimate
    after: Estimate | None
    seconds: float
    warmed_bytes: int


def data_files(engine: RocksEngine) -> list[TableFile]:
    """The live table files of the ``data`` column family."""
    # live_files() does not say which column family a file belongs to; the
    # family's own "rocksdb.sstables" listing gives its file numbers.
    listing = engine._cfs[CF_DATA].property_value("rocksdb.sstables") or ""
    numbers = {int(n) for n in _FILE_RE.findall(listing)}
    out = []
    for f in engine._db.live_files():
        number = int(Path(f["name"]).stem)
        if number in numbers:
            out.append(TableFile(number, f["level"], f["size"], f["start_key"], f["end_key"]))
    return out


def estimate(files: list[TableFile], lo: bytes, hi: bytes) -> Estimate:
    """:class:`Estimate` of the files overlapping ``[lo, hi]``."""
    hit = [f for f in files if f.overlaps(lo, hi)]
    counted: list[TableFile] = []
    live = 0
    # Bottom level first; in level 0 the newest file first (as RocksDB lists them).
    for f in sorted(hit, key=lambda f: (-f.level, -f.number)):
        if not any(f.overlaps(c.smallest, c.largest) for c in counted):
            counted.append(f)
            live += f.size
    return Estimate(len(hit), sum(f.size for f in hit), live)


def reclaim(engine: RocksEngine, lo: bytes, hi: bytes, replaced_bytes: int) -> Compaction | None:
    """Flush, then compact ``[lo, hi]`` of ``data`` if :func:`worth_compacting` says so."""
    try:
        for cf in engine._cfs.values():
            cf.flush(True)
        before = estimate(data_files(engine), lo, hi)
    except Exception:  # noqa: BLE001 - rocksdict raises plain Exceptions; upkeep is optional
        return None
    if not worth_compacting(before, replaced_bytes):
        return None
    t0 = time.perf_counter()
    opts = rocksdict.CompactOptions()
    opts.set_exclusive_manual_compaction(True)
    cf_data: Any = engine._cfs[CF_DATA]
    mb = before.total_bytes / 1e6
    with upkeep_notice(f"compacting the database ({mb:,.0f} MB of table files)"):
        cf_data.compact_range(lo, hi, opts)
    seconds = time.perf_counter() - t0
    after: Estimate | None = None
    warmed = 0
    try:
        files = [f for f in data_files(engine) if f.overlaps(lo, hi)]
        after = estimate(files, lo, hi)
        if engine.warm_ingested:
            warmed = pagecache.warm([engine.path / f"{f.number:06d}.sst" for f in files])
    except Exception:  # noqa: BLE001 - as above
        pass
    return Compaction(before, after, seconds, warmed)
