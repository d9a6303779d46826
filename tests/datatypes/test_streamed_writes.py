"""put_subvolume streams its blocks (bounded memory) and stays one atomic, bit-exact write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api.repository import fsck
from dvidctl.datatypes.imageblk import blockvolume, parallel
from dvidctl.datatypes.imageblk.codec import ZstdCodec
from dvidctl.geometry import Box
from dvidctl.store import bulk
from dvidctl.store.batch import VersionedBatch
from dvidctl.store.rocks import RocksEngine
from dvidctl.store.versioned import VersionedStore
from tests.factories import label_noise, random_labels

#: Blocks of 16^3 uint64 (32 KiB), small enough to have many in a small test.
BS = "16,16,16"
BLOCK_BYTES = 16**3 * 8


def _labels(seed: int, shape: tuple[int, int, int] = (40, 72, 100)) -> np.ndarray:
    """Random labels below 2**40 (4096 of them: see random_labels)."""
    return random_labels(seed, shape)


def _repo(path: Path, **cfg: str) -> Repository:
    repo = Repository.init(path)
    repo.new_instance("labelmap", "seg", {"BlockSize": BS, **cfg})
    assert isinstance(repo.engine, RocksEngine)
    repo.engine.bulk_threshold = 256 << 10  # 8 blocks: the rest leave memory
    return repo


def _ingest_files(repo: Repository) -> list[Path]:
    folder = bulk.ingest_dir(repo.engine.path)  # type: ignore[attr-defined]
    return list(folder.iterdir()) if folder.exists() else []


def test_blocks_are_streamed_a_part_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoded blocks not yet handed to the batch never exceed one part; none stay in the batch."""
    monkeypatch.setattr(blockvolume, "_ENCODE_BYTES", 3 * BLOCK_BYTES)
    monkeypatch.setattr(blockvolume, "_PART_RAW_BYTES", 7 * BLOCK_BYTES)
    part = max(7, 2 * parallel.threads())  # the largest part
    counts = {"encoded": 0, "queued": 0, "most_held": 0}
    real_encode, real_put = ZstdCodec.encode, VersionedBatch.put_prefixed

    def encode(self: Any, block: np.ndarray, prefix: bytes = b"") -> bytes:
        counts["encoded"] += 1
        held = counts["encoded"] - counts["queued"]
        counts["most_held"] = max(counts["most_held"], held)
        return real_encode(self, block, prefix)

    def put_prefixed(self: VersionedBatch, iid: int, tkey: bytes, value: bytes) -> None:
        counts["queued"] += 1
        real_put(self, iid, tkey, value)

    committed: list[VersionedBatch] = []
    real_apply = VersionedStore.apply

    def apply(self: VersionedStore, batch: VersionedBatch) -> None:
        committed.append(batch)
        assert batch.stream is not None and batch.stream.spilled  # the blocks left memory
        real_apply(self, batch)

    monkeypatch.setattr(ZstdCodec, "encode", encode)
    monkeypatch.setattr(VersionedBatch, "put_prefixed", put_prefixed)
    monkeypatch.setattr(VersionedStore, "apply", apply)
    vol = _labels(1)
    with _repo(tmp_path, MaxDownresLevel="1") as repo:
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, (3, 5, 7))  # unaligned: partial blocks are read-modify-written
        (b,) = committed
        blocks = 3 * 5 * 7 + 2 * 3 * 4  # scale 0 and scale 1
        assert counts["encoded"] == blocks and counts["queued"] == blocks
        assert 1 < counts["most_held"] <= part
        assert len(b.streamed) >= blocks and all(len(tk) != 14 for _, tk in b.values)
        assert _ingest_files(repo) == []
        got = seg.get_subvolume(Box.from_shape(vol.shape, (3, 5, 7)))
        assert np.array_equal(got, vol)


def test_parts_grow_while_blocks_compress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts aim at encoded bytes: compressible blocks go in larger parts, up to the raw cap."""
    least = 2 * parallel.threads()
    monkeypatch.setattr(blockvolume, "_ENCODE_BYTES", least * BLOCK_BYTES)
    monkeypatch.setattr(blockvolume, "_PART_RAW_BYTES", 4 * least * BLOCK_BYTES)
    sizes: list[int] = []
    real = blockvolume.parallel_map

    def spy(fn: Any, items: Any, **kw: Any) -> list[Any]:
        if items and isinstance(items[0][1], bool):  # a write's (coord, whole) items
            sizes.append(len(items))
        return real(fn, items, **kw)

    monkeypatch.setattr(blockvolume, "parallel_map", spy)
    shape = (32, 64, 16 * 16)  # 128 blocks
    with _repo(tmp_path) as repo:
        seg = repo.head.instance("seg")
        seg.put_subvolume(np.full(shape, 5, np.uint64), (0, 0, 0))
        assert sizes[:4] == [least, 2 * least, 4 * least, 4 * least] and sum(sizes) == 128
        sizes.clear()
        noise = label_noise(8, (2, 4, 16))
        assert noise.shape == shape and len(np.unique(noise[:16, :16, :16])) == 4096
        seg.put_subvolume(noise, (0, 0, 0))
        assert set(sizes) == {least} and sum(sizes) == 128


@pytest.mark.parametrize("offset", [(0, 0, 0), (3, -5, 17)])
def test_streamed_write_equals_a_held_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset: tuple[int, int, int]
) -> None:
    """The same writes streamed to a RocksDB table file, and held in one batch in memory."""
    old, new = _labels(2), _labels(3, (50, 40, 90)) % np.uint64(7)  # random, then compressible
    with _repo(tmp_path / "r", MaxDownresLevel="2") as disk:
        mem = Repository.memory()
        mem.new_instance("labelmap", "seg", {"BlockSize": BS, "MaxDownresLevel": "2"})
        held = VersionedStore.batch

        def never_streaming(
            self: VersionedStore, vid: int, stream: bool = False, **kw: Any
        ) -> VersionedBatch:
            return held(self, vid, **kw)

        for repo in (disk, mem):
            seg = repo.head.instance("seg")
            with monkeypatch.context() as m:
                if repo is mem:  # the batch of old: everything held until the commit
                    m.setattr(VersionedStore, "batch", never_streaming)
                seg.put_subvolume(old, (0, 0, 0))
                seg.put_subvolume(new, offset)
        a, b = disk.head.instance("seg"), mem.head.instance("seg")
        for scale in (0, 1, 2):
            box = Box((-8, -8, -8), (64 >> scale, 80 >> scale, 120 >> scale))
            assert np.array_equal(a.get_subvolume(box, scale), b.get_subvolume(box, scale)), scale
        assert a.extents() == b.extents() and a.max_label() == b.max_label()
        assert sorted(disk.store.changes(disk.head.vid)) == sorted(mem.store.changes(mem.head.vid))
        mem.close()


def test_an_exception_mid_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blockvolume, "_ENCODE_BYTES", 4 * BLOCK_BYTES)
    real = ZstdCodec.encode
    calls = {"n": 0}

    def encode(self: Any, block: np.ndarray, prefix: bytes = b"") -> bytes:
        calls["n"] += 1
        if calls["n"] == 60:  # well after the stream spilled to its file
            raise MemoryError("out of memory")
        return real(self, block, prefix)

    with _repo(tmp_path) as repo:
        seg = repo.head.instance("seg")
        seg.put_subvolume(_labels(4, (16, 16, 16)), (0, 0, 0))
        monkeypatch.setattr(ZstdCodec, "encode", encode)
        with pytest.raises(MemoryError):
            seg.put_subvolume(_labels(5), (0, 0, 0))
        assert calls["n"] == 60 and _ingest_files(repo) == []
        got = seg.get_subvolume(Box((0, 0, 0), (40, 72, 100)))
        assert np.array_equal(got[:16, :16, :16], _labels(4, (16, 16, 16)))
        assert not got[16:].any() and seg.extents() == Box((0, 0, 0), (16, 16, 16))
    report = fsck(tmp_path)
    assert report.ok, report.to_dict()


_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from dvidctl import Repository
    repo = Repository.open(sys.argv[1])
    repo.engine.bulk_threshold = 256 << 10
    rng = np.random.default_rng(7)  # random_labels(7, (40, 72, 100))
    vol = rng.integers(0, 2**40, 4096, dtype=np.uint64)[rng.integers(0, 4096, (40, 72, 100))]
    repo.head.instance("seg").put_subvolume(vol, (0, 0, 0))
    print("not reached", flush=True)
    """
)


@pytest.mark.parametrize("step", ["sst", "marker", "ingest"])
def test_process_exit_mid_streamed_write_is_all_or_nothing(tmp_path: Path, step: str) -> None:
    """The child dies right after ``step`` of the bulk protocol; reopening shows one whole write."""
    old = _labels(6)
    with _repo(tmp_path, MaxDownresLevel="1") as repo:
        repo.head.instance("seg").put_subvolume(old, (0, 0, 0))
    env = {**os.environ, bulk.CRASH_ENV: step}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, env=env, timeout=120
    )
    assert proc.returncode == 1 and b"not reached" not in proc.stdout, proc.stderr.decode()
    new = _labels(7)  # what the child writes
    with Repository.open(tmp_path) as repo:  # a read-write open finishes a pending write
        seg = repo.head.instance("seg")
        got = seg.get_subvolume(Box((0, 0, 0), (40, 72, 100)))
        want = old if step == "sst" else new
        assert np.array_equal(got, want)
        assert seg.max_label() == int(want.max())
        top = seg.get_subvolume(Box((0, 0, 0), (20, 36, 50)), 1)
        assert top.any()
        assert _ingest_files(repo) == []
    report = fsck(tmp_path)
    assert report.ok, report.to_dict()
