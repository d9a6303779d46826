"""Block reads hold a slab of stored bytes at a time, all from one view (blockvolume.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk import blockvolume
from dvidctl.geometry import Box
from tests.factories import label_noise

SLAB = 100_000  # about 3 stored blocks of 16^3 random uint64 (label_noise: 4096 labels a block)


def _repo(tmp_path: Path) -> Repository:
    repo = Repository.init(tmp_path)
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
    return repo


class Rounds(list[int]):
    """Stored bytes handed to each decoding round of a read; ``before`` runs ahead of each."""

    before: Callable[[], None] | None = None


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Rounds:
    """The decoding rounds of reads, with small slabs."""
    monkeypatch.setattr(blockvolume, "_SLAB_BYTES", SLAB)
    monkeypatch.setattr(blockvolume, "_RUN_BYTES", SLAB)
    rounds = Rounds()
    real = blockvolume.parallel_map

    def spy(fn: Callable[[Any], Any], items: Sequence[Any], **kw: Any) -> list[Any]:
        if items and isinstance(items[0][1], memoryview):  # a read's (coord, payload) items
            if rounds.before is not None:
                rounds.before()
            rounds.append(sum(len(payload) for _, payload in items))
        return real(fn, items, **kw)

    monkeypatch.setattr(blockvolume, "parallel_map", spy)
    return rounds


def test_slabs_are_bounded_by_stored_bytes(tmp_path: Path, held: Rounds) -> None:
    vol = label_noise(1, (3, 4, 10))
    with _repo(tmp_path) as repo:
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, (0, 0, 0))
        one_block = 16**3 * 8
        run = SLAB // one_block  # blocks fetched together along a row
        for box in (Box((0, 0, 0), vol.shape), Box((5, -7, 3), (47, 70, 171))):
            held.clear()
            got = seg.get_subvolume(box)
            inside = Box((0, 0, 0), vol.shape).intersect(box)
            assert inside is not None
            assert np.array_equal(
                got[inside.slices_in(box)], vol[inside.slices_in(Box((0, 0, 0), vol.shape))]
            )
            assert len(held) > 4
            # A round stops once it holds a slab; the last run fetched may overshoot it.
            assert max(held) < SLAB + (run + 1) * one_block * 1.01, held


def test_one_view_serves_every_slab(tmp_path: Path, held: Rounds) -> None:
    """A write that lands while a read is between slabs is not seen by that read."""
    old = label_noise(2, (3, 4, 4))
    new = old + np.uint64(1)
    with _repo(tmp_path) as repo:
        seg = repo.head.instance("seg")
        seg.put_subvolume(old, (0, 0, 0))

        def write_once() -> None:
            if len(held) == 1:  # the first slab is decoded, the rest not fetched yet
                repo.head.instance("seg").put_subvolume(new, (0, 0, 0))

        held.before = write_once
        got = seg.get_subvolume(Box((0, 0, 0), old.shape))
        held.before = None
        assert len(held) > 2
        assert np.array_equal(got, old)
        assert np.array_equal(seg.get_subvolume(Box((0, 0, 0), old.shape)), new)
