"""Issue 3 benchmark: dvidctl voxel reads/writes against TensorStore, zarr-python and zstd itself.

Builds a 512^3 uint64 label volume by tiling the real DVID samples in
``tests/data/dvid`` (each tile flipped at random and relabelled so labels
stay unique, tiles offset from the chunk grid so most chunks hold parts of 8
tiles) and a 512^3 uint8 EM-like grayscale volume (per-cell intensity, dark
membranes, noise: about as incompressible as real EM). Then, on the same data,
64^3 chunks, zstd level 3:

* whole-volume write and read, and 100 random unaligned 128^3 reads, for
  dvidctl (Python API, local RocksDB repo), TensorStore (zarr3, local files)
  and zarr-python (zarr v3, local files);
* the same for dvidctl at DAG depth 20: the blocks are spread over 20 committed
  versions (each block first written at a random version, 5% of the earlier
  blocks rewritten at every version), reads at the leaf, the write overwrites
  the volume at the leaf;
* machine limits: zstd decode of the blocks each read needs (1 and 2 threads,
  into reused buffers), and memcpy of the output.

Each figure is the best of ``--repeat`` rounds, in MB/s of uncompressed voxels,
with its ratio to TensorStore and to the two-thread decode limit. A round runs
every operation on every system and the limits one after another, so a slow
spell of the (virtual) machine does not land on one system only.

Usage: ``python bench/bench_voxels.py [--quick] [--size N] [--reads N] [--codecs]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import zstandard

_HERE = Path(__file__).resolve()
#: DVID's samples, the project's own copy.
TESTDATA = _HERE.parents[1] / "tests" / "data" / "dvid"
SAMPLES = [
    "fib19-64x64x64-sample1.dat.gz",
    "fib19-64x64x64-sample2.dat.gz",
    "cx-64x64x64-sample1.dat.gz",
    "cx-64x64x64-sample2.dat.gz",
]
CHUNK = 64
LEVEL = 3
READ = 128


# ------------------------------------------------------------------ volumes
def load_samples(testdata: Path = TESTDATA) -> list[np.ndarray]:
    """The four real 64^3 uint64 label samples."""
    return [
        np.frombuffer(gzip.decompress((testdata / f).read_bytes()), "<u8").reshape(64, 64, 64)
        for f in SAMPLES
    ]


def build_labels(size: int, seed: int = 0, testdata: Path = TESTDATA) -> np.ndarray:
    """A ``size^3`` uint64 volume tiled from the real samples (see the module docstring)."""
    rng = np.random.default_rng(seed)
    samples = load_samples(testdata)
    n = size // 64 + 1
    big = np.empty((n * 64,) * 3, np.uint64)
    k = 0
    for z in range(n):
        for y in range(n):
            for x in range(n):
                s = samples[rng.integers(len(samples))]
                flip = tuple(slice(None, None, int(rng.choice([1, -1]))) for _ in range(3))
                big[z * 64 : z * 64 + 64, y * 64 : y * 64 + 64, x * 64 : x * 64 + 64] = s[
                    flip
                ] + np.uint64(k << 36)
                k += 1
    return np.ascontiguousarray(big[20 : 20 + size, 40 : 40 + size, 12 : 12 + size])


def build_gray(labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """EM-like uint8 grayscale from a label volume: cell intensity, dark membranes, noise."""
    rng = np.random.default_rng(seed)
    cell = (labels * np.uint64(2654435761) >> np.uint64(24)).astype(np.uint8) // 4 + 120
    edge = np.zeros(labels.shape, bool)
    edge[:, :, 1:] |= labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:, :] |= labels[:, 1:, :] != labels[:, :-1, :]
    gray = np.where(edge, np.uint8(50), cell).astype(np.int16)
    gray += rng.integers(-24, 25, labels.shape, dtype=np.int16)
    return np.clip(gray, 0, 255).astype(np.uint8)


def random_boxes(size: int, n: int, seed: int = 2) -> list[tuple[int, int, int]]:
    """ZYX starts of ``n`` random unaligned READ^3 boxes inside the volume."""
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in rng.integers(0, size - READ + 1, 3)) for _ in range(n)]  # type: ignore[misc]


# ------------------------------------------------------------------ helpers
def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def chunks_of(vol: np.ndarray) -> dict[tuple[int, int, int], bytes]:
    """zstd level-3 frames of every 64^3 chunk, keyed by chunk coordinate."""
    c = zstandard.ZstdCompressor(level=LEVEL)
    n = vol.shape[0] // CHUNK
    return {
        (z, y, x): c.compress(
            np.ascontiguousarray(
                vol[z * 64 : z * 64 + 64, y * 64 : y * 64 + 64, x * 64 : x * 64 + 64]
            )
        )
        for z in range(n)
        for y in range(n)
        for x in range(n)
    }


def touched(start: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Chunk coordinates a READ^3 box at ``start`` touches."""
    r = [range(s // CHUNK, (s + READ - 1) // CHUNK + 1) for s in start]
    return [(z, y, x) for z in r[0] for y in r[1] for x in r[2]]


def decode_limit(frames: list[bytes], dtype: np.dtype, threads: int) -> float:
    """Seconds to decode ``frames`` into reused 64^3 buffers with ``threads`` threads."""
    bufs = [np.empty(CHUNK**3, dtype) for _ in range(threads)]

    def part(i: int) -> None:
        d = zstandard.ZstdDecompressor()
        mv = memoryview(bufs[i].view(np.uint8))
        for f in frames[i::threads]:
            with d.stream_reader(f) as r:
                r.readinto(mv)

    with ThreadPoolExecutor(threads) as ex:
        t0 = time.perf_counter()
        list(ex.map(part, range(threads)))
        return time.perf_counter() - t0


# ------------------------------------------------------------------ systems
class Dvid:
    """dvidctl through the Python API on a local RocksDB repository."""

    def __init__(self, root: Path, vol: np.ndarray, depth: int = 0, codec: str = "zstd") -> None:
        from dvidctl.api.repository import Repository

        self.repo = Repository.init(root)
        typ = "labelmap" if vol.dtype == np.uint64 else "uint8blk"
        self.repo.new_instance(typ, "v", {"BlockSize": "64,64,64", "Compression": codec})
        self.depth = depth
        if depth:
            self._spread(vol, depth)

    def _spread(self, vol: np.ndarray, depth: int) -> None:
        rng = np.random.default_rng(3)
        n = vol.shape[0] // CHUNK
        coords = [(z, y, x) for z in range(n) for y in range(n) for x in range(n)]
        first = rng.integers(0, depth, len(coords))
        written: list[tuple[int, int, int]] = []
        for d in range(depth):
            inst = self.repo.head.instance("v")
            mine = [c for c, f in zip(coords, first, strict=True) if f == d]
            redo = (
                [written[i] for i in rng.choice(len(written), len(written) // 20)]
                if written
                else []
            )
            for z, y, x in mine + redo:
                sl = np.s_[z * 64 : z * 64 + 64, y * 64 : y * 64 + 64, x * 64 : x * 64 + 64]
                inst.put_subvolume(vol[sl], (z * 64, y * 64, x * 64))
            written += mine
            self.repo.commit(f"depth {d}")

    def write(self, vol: np.ndarray) -> None:
        self.repo.head.instance("v").put_subvolume(vol, (0, 0, 0))

    def settle(self) -> None:
        """Flush memtables and compact, so background compaction does not steal the reads' CPU."""
        cfs = self.repo.engine._cfs  # bench only: the engine has no public compaction call
        for cf in cfs.values():
            cf.flush()
            cf.compact_range(None, None)

    def read(self, start: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray:
        from dvidctl.geometry import Box

        return self.repo.head.instance("v").get_subvolume(Box.from_shape(shape, start))

    def close(self) -> None:
        self.repo.close()


class TensorStore:
    """TensorStore zarr3 driver on local files."""

    def __init__(self, root: Path, vol: np.ndarray) -> None:
        import tensorstore as ts

        self.ts = ts
        self.ctx = ts.Context({"cache_pool": {"total_bytes_limit": 0}})
        self.spec = {
            "driver": "zarr3",
            "kvstore": {"driver": "file", "path": str(root)},
            "metadata": {
                "shape": list(vol.shape),
                "data_type": str(vol.dtype),
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [CHUNK] * 3}},
                "codecs": [
                    {"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "zstd", "configuration": {"level": LEVEL}},
                ],
            },
        }
        self.arr = ts.open(
            {**self.spec, "create": True, "delete_existing": True}, context=self.ctx
        ).result()

    def write(self, vol: np.ndarray) -> None:
        self.arr.write(vol).result()

    def read(self, start: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray:
        sl = tuple(slice(s, s + n) for s, n in zip(start, shape, strict=True))
        return self.arr[sl].read().result()

    def close(self) -> None:
        pass


class Zarr:
    """zarr-python v3 on a local store."""

    def __init__(self, root: Path, vol: np.ndarray) -> None:
        import zarr
        from zarr.codecs import ZstdCodec

        self.arr = zarr.create_array(
            store=str(root),
            shape=vol.shape,
            chunks=(CHUNK,) * 3,
            dtype=vol.dtype,
            compressors=ZstdCodec(level=LEVEL),
            overwrite=True,
        )

    def write(self, vol: np.ndarray) -> None:
        self.arr[...] = vol

    def read(self, start: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray:
        sl = tuple(slice(s, s + n) for s, n in zip(start, shape, strict=True))
        return self.arr[sl]

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ runs
class System(Protocol):
    """What the bench drives: dvidctl, TensorStore or zarr-python."""

    def write(self, vol: np.ndarray) -> None: ...

    def read(self, start: tuple[int, int, int], shape: tuple[int, int, int]) -> np.ndarray: ...

    def close(self) -> None: ...


def timed(fn: Callable[..., object], *args: object) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _settle(system: object) -> None:
    if hasattr(system, "settle"):
        system.settle()


def _check(system: System, vol: np.ndarray, boxes: list) -> None:
    """The system reads back exactly what was written (whole volume and one box)."""
    got = system.read((0, 0, 0), vol.shape)  # type: ignore[arg-type]
    if not np.array_equal(got, vol):
        raise AssertionError(f"{type(system).__name__} read back different voxels")
    b = boxes[0]
    got = system.read(b, (READ,) * 3)
    assert np.array_equal(got, vol[b[0] : b[0] + READ, b[1] : b[1] + READ, b[2] : b[2] + READ])


def measure_rounds(
    systems: dict[str, System], vol: np.ndarray, boxes: list, repeat: int
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Best seconds per system and operation, and the machine limits, over ``repeat`` rounds.

    Every round runs each operation on every system (and the limits) one after
    the other, so a slow spell of this VM hits all of them rather than one.
    """
    res: dict[str, dict[str, float]] = {n: {} for n in systems}
    lim: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = chunks_of(vol)
    lim["write:zstd1"] = time.perf_counter() - t0
    rand = [frames[c] for b in boxes for c in touched(b)]
    allf = list(frames.values())
    lim["ratio"] = vol.nbytes / sum(len(f) for f in allf)
    dst = np.empty_like(vol)
    piece = vol[:READ, :READ, :READ].copy()
    limit_ops: dict[str, Callable[[], object]] = {
        "random:zstd1": lambda: decode_limit(rand, vol.dtype, 1),
        "random:zstd2": lambda: decode_limit(rand, vol.dtype, 2),
        "read:zstd1": lambda: decode_limit(allf, vol.dtype, 1),
        "read:zstd2": lambda: decode_limit(allf, vol.dtype, 2),
        "read:memcpy": lambda: np.copyto(dst, vol),
        "random:memcpy": lambda: [piece.copy() for _ in boxes],
    }

    def keep(table: dict[str, float], key: str, seconds: float) -> None:
        table[key] = min(seconds, table.get(key, float("inf")))

    for system in systems.values():
        _settle(system)  # start at rest: the depth-20 setup leaves compactions pending

    def random_reads(system: System) -> None:
        for b in boxes:
            system.read(b, (READ,) * 3)

    for rnd in range(repeat):
        for sysname, system in systems.items():
            keep(res[sysname], "write", timed(system.write, vol))
        for sysname, system in systems.items():
            _settle(system)
            if rnd == 0:
                _check(system, vol, boxes)
            keep(res[sysname], "read", timed(system.read, (0, 0, 0), vol.shape))
        for sysname, system in systems.items():
            keep(res[sysname], "random", timed(random_reads, system))
        for key, op in limit_ops.items():
            if key.endswith("memcpy"):
                keep(lim, key, timed(op))
            else:
                keep(lim, key, op())  # type: ignore[arg-type]
    return res, lim


def report(
    name: str, vol: np.ndarray, nreads: int, res: dict[str, dict[str, float]], lim: dict[str, float]
) -> None:
    """Print one table: MB/s and ratios per operation and system."""
    mb = {
        "write": vol.nbytes / 1e6,
        "read": vol.nbytes / 1e6,
        "random": nreads * READ**3 * vol.itemsize / 1e6,
    }
    print(
        f"\n== {name}: {vol.shape[0]}^3 {vol.dtype}, {CHUNK}^3 chunks, zstd {LEVEL} "
        f"(compression {lim['ratio']:.1f}x) =="
    )
    print(f"{'operation':10s} {'system':14s} {'MB/s':>9s} {'/TS':>7s} {'/zstd2':>7s}")
    for op in ("write", "read", "random"):
        ts_t = res["tensorstore"][op] if "tensorstore" in res else None
        lim2 = lim.get(f"{op}:zstd2")
        for sysname, r in res.items():
            t = r[op]
            rel_ts = f"{ts_t / t:7.2f}" if ts_t else "      -"
            rel_lim = f"{lim2 / t:7.2f}" if lim2 and op != "write" else "      -"
            print(f"{op:10s} {sysname:14s} {mb[op] / t:9.0f} {rel_ts} {rel_lim}")
        for key in ("zstd1", "zstd2", "memcpy"):
            if f"{op}:{key}" in lim:
                print(f"{op:10s} {'limit ' + key:14s} {mb[op] / lim[f'{op}:{key}']:9.0f}")


def run_dataset(name: str, vol: np.ndarray, args: argparse.Namespace, tmp: Path) -> None:
    """Measure every system on one volume and print the table."""
    boxes = random_boxes(vol.shape[0], args.reads)
    res: dict[str, dict[str, float]] = {}
    systems: list[tuple[str, Callable[[Path], object]]] = [
        ("dvidctl", lambda p: Dvid(p, vol)),
        (f"dvidctl@d{args.depth}", lambda p: Dvid(p, vol, depth=args.depth)),
        ("tensorstore", lambda p: TensorStore(p, vol)),
    ]
    if not args.skip_zarr:
        systems.append(("zarr-python", lambda p: Zarr(p, vol)))
    built: dict[str, System] = {}
    try:
        for sysname, make in systems:
            built[sysname] = make(tmp / f"{name}-{sysname}")  # type: ignore[assignment]
        res, lim = measure_rounds(built, vol, boxes, args.repeat)
    finally:
        for sysname, system in built.items():
            system.close()
            shutil.rmtree(tmp / f"{name}-{sysname}", ignore_errors=True)
    report(name, vol, len(boxes), res, lim)


def compare_codecs(labels: np.ndarray) -> None:
    """Raw uint64 under zstd vs DVID's label Block under zstd, on the same 64^3 blocks."""
    from dvidctl.datatypes.imageblk.codec import LabelBlockZstdCodec, ZstdCodec, decode_into

    n = labels.shape[0] // CHUNK
    blocks = [
        np.ascontiguousarray(labels[z : z + 64, y : y + 64, x : x + 64])
        for z in range(0, n * 64, 64) for y in range(0, n * 64, 64) for x in range(0, n * 64, 64)
    ]  # fmt: skip
    out = np.empty((64, 64, 64), np.uint64)
    print(f"\n== labelmap block codecs on {len(blocks)} real-label 64^3 blocks (one thread) ==")
    for codec in (ZstdCodec(LEVEL), LabelBlockZstdCodec(LEVEL)):
        enc = [codec.encode(b) for b in blocks]
        t_enc = best(lambda c=codec: [c.encode(b) for b in blocks], 2)
        t_dec = best(lambda e=enc: [decode_into(p, out) for p in e], 2)
        raw = len(blocks) * 64**3 * 8 / 1e6
        size = sum(map(len, enc)) / len(blocks)
        print(
            f"{codec.name:12s} {size:8.0f} B/block  encode {raw / t_enc:7.0f} MB/s  "
            f"decode {raw / t_dec:7.0f} MB/s"
        )


def warm_memory(nbytes: int) -> None:
    """Touch and free ``nbytes`` so later allocations reuse memory the host already backs.

    In a VM the first touch of guest memory costs a host page fault; without
    this, whichever system runs first pays for it.
    """
    np.ones(nbytes, np.uint8)


MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}


def tune_malloc() -> None:
    """Re-run this script with glibc keeping freed memory (same for every system measured).

    By default glibc gives large freed blocks back to the kernel, so every fresh
    16 MiB read result page-faults again; in this VM that costs about as much as
    decoding it. With a 256 MiB mmap threshold and no trimming, results reuse
    memory, as a long-running server's would.
    """
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})


def use_mmap_reads() -> None:
    """Open RocksDB with ``allow_mmap_reads`` (not the default; measures a proposed change)."""
    from dvidctl.store import rocks

    plain = rocks._options

    def options():  # type: ignore[no-untyped-def]
        opts = plain()
        opts.set_allow_mmap_reads(True)
        return opts

    rocks._options = options


def main() -> None:
    """Parse arguments, build the volumes and run everything."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="256^3 volumes")
    ap.add_argument("--size", type=int, default=None, help="volume edge (multiple of 64)")
    ap.add_argument("--reads", type=int, default=100)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--skip-zarr", action="store_true")
    ap.add_argument("--codecs", action="store_true", help="also compare labelmap block codecs")
    ap.add_argument("--only", choices=["labels", "gray"], default=None)
    ap.add_argument("--tmp", type=Path, default=None, help="directory for the stores")
    ap.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's defaults")
    ap.add_argument(
        "--mmap-reads", action="store_true", help="try RocksDB allow_mmap_reads (a store proposal)"
    )
    args = ap.parse_args()
    if not args.no_malloc_tuning:
        tune_malloc()
    size = args.size or (256 if args.quick else 512)
    if args.mmap_reads:
        use_mmap_reads()
    t0 = time.perf_counter()
    labels = build_labels(size)
    gray = build_gray(labels) if args.only != "labels" else None
    warm_memory(6 * labels.nbytes)
    load = os.getloadavg()[0]
    tuned = "" if args.no_malloc_tuning else ", glibc malloc keeps freed memory"
    print(f"built volumes in {time.perf_counter() - t0:.1f} s; load average {load:.1f}{tuned}")
    if load > 0.5:
        print("warning: the machine is busy; absolute numbers and ratios will be noisy")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.only != "gray":
            run_dataset("labels", labels, args, Path(tmp))
        if gray is not None:
            run_dataset("grayscale", gray, args, Path(tmp))
    if args.codecs:
        compare_codecs(labels)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
