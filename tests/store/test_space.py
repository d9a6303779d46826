"""Space overwritten within an open node is given back without a server (store/space.py).

Each write below is its own open and close, as each CLI command is. Before, the
compaction RocksDB started was cancelled by every close and ``.dvid`` grew by one
copy per overwrite (8 writes of a 512^3 volume: 129 MB -> 1,026 MB).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.geometry import Box
from dvidctl.store import rocks, space
from dvidctl.store.rocks import RocksEngine

EDGE = 96  # 96^3 uint8 = 0.9 MB per write, in 27 blocks of 32^3
BOUND = 1.5


@pytest.fixture(autouse=True)
def _small_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production thresholds scaled down with the data (16 MiB bulk writes, 8 MiB excess)."""
    monkeypatch.setattr(rocks, "BULK_THRESHOLD_DEFAULT", 256 << 10)
    monkeypatch.setattr(space, "MIN_EXCESS_BYTES", 256 << 10)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _volume(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (EDGE,) * 3, dtype=np.uint8)


def _write(path: Path, vol: np.ndarray, offset: tuple[int, int, int] = (0, 0, 0)) -> RocksEngine:
    """One open, write and close (a command); returns the closed engine."""
    with Repository.open(path) as r:
        r.head.instance("g").put_subvolume(vol, offset)
        engine = r.engine
    assert isinstance(engine, RocksEngine)
    return engine


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    with Repository.init(tmp_path) as r:
        r.new_instance("uint8blk", "g", {"BlockSize": "32,32,32"})
    return tmp_path


@pytest.mark.parametrize("bulk", [True, False], ids=["ingested", "through-the-log"])
def test_repeated_overwrites_stay_within_the_bound(
    repo: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    if not bulk:
        monkeypatch.setattr(rocks, "BULK_THRESHOLD_DEFAULT", None)
    first = _write(repo, _volume(0))
    assert first.last_compaction is None  # a fresh write overwrote nothing: no rewrite
    one_copy = _du(repo / ".dvid")
    sizes = []
    for i in range(1, 5):
        _write(repo, _volume(i))
        sizes.append(_du(repo / ".dvid"))
    assert max(sizes) <= BOUND * one_copy, [round(s / one_copy, 2) for s in sizes]
    with Repository.open(repo, read_only=True) as r:  # and the last write is what is read
        got = r.head.instance("g").get_subvolume(Box.from_xyz((0, 0, 0), (EDGE,) * 3))
        assert np.array_equal(got, _volume(4))


def test_a_write_beside_the_data_is_not_rewritten(repo: Path) -> None:
    """A new slab whose keys follow the old ones adds a file but rewrites nothing."""
    _write(repo, _volume(0))
    beside = _write(repo, _volume(1), offset=(EDGE, 0, 0))  # z after: keys after
    assert beside.last_compaction is None
    overwrite = _write(repo, _volume(2))
    c = overwrite.last_compaction
    assert c is not None and c.after is not None
    assert c.before.excess_bytes > 0 and c.after.excess_bytes < c.before.excess_bytes


def test_no_compaction_when_closing_on_an_error(repo: Path) -> None:
    _write(repo, _volume(0))
    with pytest.raises(RuntimeError):
        with Repository.open(repo) as r:
            r.head.instance("g").put_subvolume(_volume(1), (0, 0, 0))
            engine = r.engine
            raise RuntimeError("the command failed after its write")
    assert isinstance(engine, RocksEngine) and engine.last_compaction is None


def test_partial_overwrites_below_the_bound_pile_up_at_most_twice(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command replaces the same third of the volume, below SPACE_AMP_LIMIT (set to 1
    here): the files of the range are compacted once they hold twice their live estimate."""
    monkeypatch.setattr(space, "SPACE_AMP_LIMIT", 1.0)
    _write(repo, _volume(0))
    one_copy = _du(repo / ".dvid")
    sizes, compactions = [], 0
    for i in range(1, 8):
        engine = _write(repo, _volume(i)[:32], offset=(32, 0, 0))
        compactions += engine.last_compaction is not None
        sizes.append(_du(repo / ".dvid"))
    assert 1 <= compactions <= 4
    assert max(sizes) <= 2.3 * one_copy, [round(s / one_copy, 2) for s in sizes]


def test_partial_overwrites_of_other_thirds_stay_bounded(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirds in turn: each command's key range meets only its own earlier files, which
    never pile up to twice their estimate; RocksDB's level-0 compaction keeps the total."""
    monkeypatch.setattr(space, "SPACE_AMP_LIMIT", 1.0)
    _write(repo, _volume(0))
    one_copy = _du(repo / ".dvid")
    sizes = []
    for i in range(1, 8):
        _write(repo, _volume(i)[:32], offset=(32 * (i % 3), 0, 0))
        sizes.append(_du(repo / ".dvid"))
    assert max(sizes) <= 2.3 * one_copy, [round(s / one_copy, 2) for s in sizes]


def test_a_compaction_as_the_engine_closes_is_announced(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close's compaction runs after a command's own progress has gone: the store
    announces it through the upkeep hook (the console script's spinner), and only then."""
    from contextlib import contextmanager

    from dvidctl import upkeep

    said: list[str] = []

    @contextmanager
    def hook(text: str) -> Iterator[None]:
        said.append(text)
        yield

    monkeypatch.setattr(upkeep, "_hook", hook)
    _write(repo, _volume(0))
    assert said == []  # a fresh write: no compaction, nothing to say
    engine = _write(repo, _volume(1))
    assert engine.last_compaction is not None
    assert len(said) == 1 and said[0].startswith("compacting the database (")
