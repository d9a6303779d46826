"""Bit rows of a body over a group of blocks at once (labelmap/grouprows.py) against numpy.

A group mixes codec-5 blocks (label sets: tiles without the body, of only the
body, and mixed), codec-4 blocks (no sets: every tile read), blocks the group
leaves to the caller (one frame, raw), tile edges 32 and 16, and bodies of a few
supervoxels or hundreds, some absent from every block. Rows land in their place in
a wider row of blocks. Splits keep their rewritten blocks' label sets.
"""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk.codec import RawCodec, ZstdCodec
from dvidctl.datatypes.imageblk.tilelabels import ZSTD_TILED_LABELS, split_body
from dvidctl.datatypes.labelmap.grouprows import group_bits, grouped
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.errors import CorruptDataError

U64 = np.dtype(np.uint64)
SHAPE = (64, 64, 64)


def _blocky(rng: np.random.Generator, labels: np.ndarray, cell: int) -> np.ndarray:
    small = [-(-s // cell) for s in SHAPE]
    vol = labels[rng.integers(0, len(labels), small)]
    for ax in range(3):
        vol = vol.repeat(cell, ax)
    return np.ascontiguousarray(vol[:64, :64, :64])


def _codec4(payload: bytes) -> bytes:
    assert payload[0] == ZSTD_TILED_LABELS
    return bytes([4]) + bytes(split_body(memoryview(payload)[1:])[1])


@pytest.mark.parametrize("tile", [32, 16])
@pytest.mark.parametrize("seed", range(4))
def test_group_equals_isin(tile: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.unique(rng.integers(1, 2**63, 90, dtype=np.uint64))
    blocks = []
    for b in range(7):
        block = _blocky(rng, labels[b * 8 : b * 8 + 30], (4, 8)[b % 2])
        block[:tile, :tile] = labels[b * 8]  # a tile of one label (full, or absent)
        block[-tile:, -tile:] = labels[b * 8 + 1]
        blocks.append(block)
    codec = ZstdCodec(tile=tile)
    payloads = [codec.encode_labelled(b) for b in blocks]
    payloads[2] = _codec4(payloads[2])  # no label sets: every tile read
    payloads[4] = RawCodec().encode(blocks[4])
    payloads[5] = ZstdCodec(tile=0).encode(blocks[5])
    body = np.sort(
        np.concatenate([labels[::3], [labels[0], labels[8]], [np.uint64(5), np.uint64(2**64 - 1)]])
    )
    body = np.unique(body)
    row = np.zeros((64, 64, 8 * len(blocks)), np.uint8)  # the blocks side by side along x
    items = [(p, row[:, :, 8 * i : 8 * i + 8]) for i, p in enumerate(payloads)]
    assert grouped(SHAPE, body)
    left = group_bits(items, SHAPE, U64, body)
    assert left == [4, 5]
    got = np.unpackbits(row, axis=2, bitorder="little").view(bool)
    for i, block in enumerate(blocks):
        part = got[:, :, 64 * i : 64 * i + 64]
        if i in left:
            assert not part.any()  # untouched
        else:
            np.testing.assert_array_equal(part, np.isin(block, body))


def test_body_absent_and_full_blocks() -> None:
    rng = np.random.default_rng(9)
    labels = np.arange(1, 30, dtype=np.uint64) * np.uint64(2**40)
    block = _blocky(rng, labels, 8)
    one = np.full(SHAPE, labels[3], U64)
    payloads = [ZstdCodec(tile=32).encode_labelled(b) for b in (block, one)]
    row = np.zeros((64, 64, 16), np.uint8)
    items = [(p, row[:, :, 8 * i : 8 * i + 8]) for i, p in enumerate(payloads)]
    absent = np.array([7, 9], U64)
    assert group_bits(items, SHAPE, U64, absent) == []
    assert not row.any()
    body = np.array([labels[3], labels[4]], U64)
    assert group_bits(items, SHAPE, U64, body) == []
    got = np.unpackbits(row, axis=2, bitorder="little").view(bool)
    np.testing.assert_array_equal(got[:, :, :64], np.isin(block, body))
    assert got[:, :, 64:].all()  # a block of one label of the body: every row full


def test_grouped_needs_rows_of_one_word_and_several_labels() -> None:
    two = np.array([1, 2], U64)
    assert grouped((64, 64, 64), two)
    assert grouped((32, 16, 64), two)
    assert not grouped((64, 64, 64), two[:1])  # one supervoxel: a comparison per tile
    assert not grouped((64, 64, 128), two)  # rows of two words
    assert not grouped((64, 64, 32), two)


def test_corrupt_tile_is_an_error() -> None:
    rng = np.random.default_rng(3)
    labels = np.arange(1, 40, dtype=np.uint64)
    block = _blocky(rng, labels, 4)
    payload = ZstdCodec(tile=32).encode_labelled(block)
    garbled = payload[:-40] + bytes(40)
    out = np.zeros((64, 64, 8), np.uint8)
    with pytest.raises(CorruptDataError):
        group_bits([(garbled, out)], SHAPE, U64, labels[::2].copy())


def _cells(seed: int, small: tuple[int, int, int], top: int) -> np.ndarray:
    """Supervoxels 1..top-1 in 4^3 cells: a volume of ``4 * small`` voxels."""
    cells = np.random.default_rng(seed).integers(1, top, small).astype(np.uint64)
    return np.ascontiguousarray(cells.repeat(4, 0).repeat(4, 1).repeat(4, 2))


def _merged(repo: Repository, vol: np.ndarray, body: list[int]):  # type: ignore[no-untyped-def]
    """A labelmap of ``vol`` (64^3 blocks, one pyramid level) with ``body`` merged into
    its first supervoxel; ``(instance, body)``."""
    repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "MaxDownresLevel": "1"})
    seg = repo.head.instance("seg")
    seg.put_subvolume(vol)
    seg.merge(body[0], body[1:])
    return seg, body


def test_sparsevol_of_a_body_over_many_blocks_reads_them_in_groups() -> None:
    """A merged body over 24 blocks, read in groups by the pool: runs equal numpy's at
    scales 0 and 1."""
    vol = _cells(21, (32, 48, 64), 200)
    with Repository.memory() as repo:
        seg, body = _merged(repo, vol, list(range(2, 200, 2)))
        merged = np.isin(vol, body)
        got = seg.sparsevol(body[0])
        np.testing.assert_array_equal(got.voxels_zyx(), np.argwhere(merged))
        lvl = seg.get_subvolume(seg.extents().scaled_down(1), scale=1)
        want = np.argwhere(np.isin(lvl, body))
        np.testing.assert_array_equal(seg.sparsevol(body[0], scale=1).voxels_zyx(), want)


def test_split_blocks_keep_label_sets() -> None:
    """A split rewrites its scale-0 blocks as an indexed write stores the same voxels
    (codec 5), so sparse volumes of the parts still skip tiles; the pyramid stays codec 4."""
    vol = _cells(4, (32, 32, 48), 60)
    with Repository.memory() as repo:
        seg, body = _merged(repo, vol, list(range(2, 60, 3)))
        part = seg.sparsevol(body[0])
        keep = part.starts[:, 0] < 40  # a slab of the body, through every block in y and x
        new, _ = seg.split(body[0], Runs(part.starts[keep], part.lengths[keep]))
        coords = np.array([[z, y, x] for z in (0, 1) for y in (0, 1) for x in (0, 1, 2)])
        stored = seg.blocks.payloads(0, coords)
        assert {p[0] for p in stored.values()} == {ZSTD_TILED_LABELS}
        after = seg.supervoxel_view().get_subvolume(seg.extents())
        for (z, y, x), p in stored.items():
            block = after[z * 64 : z * 64 + 64, y * 64 : y * 64 + 64, x * 64 : x * 64 + 64]
            assert ZstdCodec().encode_labelled(block) == bytes(p)
        assert {p[0] for p in seg.blocks.payloads(1, coords[:1]).values()} == {4}
        mask = np.isin(vol, body)
        cut = np.zeros_like(mask)
        cut[:40] = mask[:40]
        np.testing.assert_array_equal(seg.sparsevol(new).voxels_zyx(), np.argwhere(cut))
        np.testing.assert_array_equal(seg.sparsevol(body[0]).voxels_zyx(), np.argwhere(mask & ~cut))
