"""The sparse-volume fast paths against numpy: bit-word runs, tile-major decode, every codec.

Each path the sparse volume of a body can take is checked against the runs of
``np.argwhere``: masks of any row length (one word, several, a part of one), every
block codec (tiled zstd decoded tile after tile; tiles that do not divide the block;
one frame; raw; DVID's label Block), one label or several or more than the
comparisons take, blocks the body fills (never read), bounds, scales and supervoxels.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes.imageblk.codec import LabelBlockZstdCodec, RawCodec, ZstdCodec
from dvidctl.datatypes.imageblk.downsample import downsample_labels
from dvidctl.datatypes.labelmap.blockruns import MAX_COMPARES, block_bits, mask_row_runs
from dvidctl.datatypes.labelmap.sparsevol import index_targets
from dvidctl.errors import CorruptDataError
from dvidctl.geometry import Box


def _ref_row_runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    out = []
    for r, row in enumerate(mask):
        pad = np.diff(np.r_[0, row.astype(np.int8), 0])
        for s, e in zip(np.flatnonzero(pad == 1), np.flatnonzero(pad == -1), strict=True):
            out.append((r, int(s), int(e - s)))
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 12),
    st.sampled_from([1, 7, 8, 16, 63, 64, 65, 128, 200]),
    st.integers(0, 2**32 - 1),
)
def test_mask_row_runs_match_numpy(rows: int, nx: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, nx)) < rng.choice([0.05, 0.5, 0.95])
    mask[rng.random(rows) < 0.3] = True  # whole rows: runs across word borders
    r, x, n = mask_row_runs(mask)
    got = list(zip(r.tolist(), x.tolist(), n.tolist(), strict=True))
    assert got == _ref_row_runs(mask)


def _blocky(rng: np.random.Generator, shape: tuple[int, int, int], n: int) -> np.ndarray:
    small = [-(-s // 4) for s in shape]
    vol = rng.integers(1, n + 1, small).astype(np.uint64) * np.uint64(2**33)
    vol = vol.repeat(4, 0).repeat(4, 1).repeat(4, 2)
    return np.ascontiguousarray(vol[: shape[0], : shape[1], : shape[2]])


CODECS = [
    ZstdCodec(tile=32),  # tiled, decoded tile-major
    ZstdCodec(tile=16),
    ZstdCodec(tile=24),  # tiles that do not divide 64: decoded whole
    ZstdCodec(tile=0),  # one frame
    RawCodec(),
    LabelBlockZstdCodec(),
]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: f"{c.name}-{getattr(c, 'tile', '')}")
@pytest.mark.parametrize("nlabels", [1, 2, MAX_COMPARES + 1, 12])
def test_block_bits_every_codec(codec, nlabels: int) -> None:  # type: ignore[no-untyped-def]
    """A block's bit rows land in their place in a wider row of blocks (a strided view)."""
    rng = np.random.default_rng(nlabels)
    block = _blocky(rng, (64, 64, 64), 40)
    labels = np.sort(rng.choice(np.unique(block), nlabels, replace=False))
    row = np.full((64, 64, 3 * 8), 0xA5, np.uint8)  # three blocks along x, 8 bytes a row each
    block_bits(codec.encode(block), (64, 64, 64), block.dtype, labels, row[:, :, 8:16])
    got = np.unpackbits(row, axis=2, bitorder="little").view(bool)
    np.testing.assert_array_equal(got[:, :, 64:128], np.isin(block, labels))
    untouched = np.unpackbits(np.full((64, 64, 8), 0xA5, np.uint8), axis=2, bitorder="little")
    np.testing.assert_array_equal(got[:, :, :64], untouched.view(bool))
    np.testing.assert_array_equal(got[:, :, 128:], untouched.view(bool))


@pytest.mark.parametrize("nlabels", [1, MAX_COMPARES + 1])
def test_block_bits_corrupt_tile_is_an_error(nlabels: int) -> None:
    """A tiled block whose last frame is cut short or garbled: CorruptDataError, either path."""
    rng = np.random.default_rng(3)
    block = _blocky(rng, (64, 64, 64), 40)
    labels = np.sort(rng.choice(np.unique(block), nlabels, replace=False))
    payload = ZstdCodec(tile=32).encode(block)
    out = np.zeros((64, 64, 8), np.uint8)
    garbled = payload[:-40] + bytes(40)
    with pytest.raises(CorruptDataError):
        block_bits(garbled, (64, 64, 64), block.dtype, labels, out)


def _check_sparsevol(seg, vol: np.ndarray, off: np.ndarray, label: int, **kw) -> None:  # type: ignore[no-untyped-def]
    runs = seg.sparsevol(label, **kw)
    want = np.argwhere(vol == label) + off
    np.testing.assert_array_equal(runs.voxels_zyx(), want)
    # runs are maximal: no two touch along x
    s, n = runs.starts, runs.lengths
    touch = (s[1:, 0] == s[:-1, 0]) & (s[1:, 1] == s[:-1, 1]) & (s[1:, 2] == s[:-1, 2] + n[:-1])
    assert not touch.any()


def test_labelmap_sparsevol_fast_paths_64_blocks() -> None:
    rng = np.random.default_rng(5)
    shape = (128, 192, 128)
    off = np.array([-64, 0, 64])
    vol = _blocky(rng, shape, 30)
    vol[:64, 64:128, 64:] = 7  # one supervoxel fills a whole block (never read)
    vol[64:, :, :3] = 7  # ... and runs on in thin slivers of many others
    vol[100:, 150:, 100:] = 9  # a body spread over blocks, merged below
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "MaxDownresLevel": "1"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, tuple(int(v) for v in off))
        box = Box(tuple(int(v) for v in off), tuple(int(v) for v in off + shape))
        for label in (7, 9, int(vol[0, 0, 0]), int(vol[-1, -1, -1])):
            _check_sparsevol(seg, vol, off, label)
        idx = seg.index(7)
        targets = index_targets(idx.blocks, idx.svs, idx.counts, 0, (64, 64, 64))
        assert targets.coords[targets.full].tolist() == [[-1, 1, 2]]
        assert not index_targets(idx.blocks, idx.svs, idx.counts, 1, (64, 64, 64)).full.any()
        # a merge: several supervoxels per block, compared at once
        others = [int(v) for v in np.unique(vol[:64, :64, :64]) if v not in (0, 7)][:3]
        seg.merge(7, others)
        body = np.where(np.isin(vol, others), np.uint64(7), vol)
        _check_sparsevol(seg, body, off, 7)
        # the supervoxel alone, not its body
        runs = seg.sparsevol(7, supervoxels=True)
        np.testing.assert_array_equal(runs.voxels_zyx(), np.argwhere(vol == 7) + off)
        # bounds that cut blocks, and bounds that leave nothing
        cut = Box((-40, 10, 70), (30, 150, 170))
        runs = seg.sparsevol(7, bounds=cut)
        pts = np.argwhere(body == 7) + off
        inside = np.all((pts >= cut.start) & (pts < cut.stop), axis=1)
        np.testing.assert_array_equal(runs.voxels_zyx(), pts[inside])
        empty = seg.sparsevol(9, bounds=Box((-64, 0, 64), (-60, 4, 68)))
        assert len(empty.lengths) == 0
        # scale 1: the body in the downsampled supervoxels
        lvl = downsample_labels(vol)
        lvl_body = np.where(np.isin(lvl, [7, *others]), np.uint64(7), lvl)
        got = seg.sparsevol(7, scale=1)
        want = np.argwhere(lvl_body == 7) + box.scaled_down(1).start
        np.testing.assert_array_equal(got.voxels_zyx(), want)


@pytest.mark.parametrize(
    "block",
    [(64, 64, 64), (32, 16, 128), (16, 16, 48), (16, 32, 16)],
    ids=["64", "x128-multiword", "x48-6bytes", "x16-2bytes"],
)
def test_merged_body_across_blocks_in_x(block: tuple[int, int, int]) -> None:
    """A body of many supervoxels per block whose runs cross block borders in x.

    Rows of several blocks along x are one bit row (runs joined by word operations),
    whatever a block's row is in bytes; rows of 64 voxels are one word each, others
    take the voxel-mask path.
    """
    rng = np.random.default_rng(sum(block))
    shape = (2 * block[0] + 5, 2 * block[1] + 3, 5 * block[2] + 7)
    off = np.array([-block[0], 3, -2 * block[2] + 1])  # unaligned: bodies cut by blocks
    vol = _blocky(rng, shape, 60)
    vol[:, :, : shape[2] // 2] = np.where(vol[:, :, : shape[2] // 2] % 3 == 0, 5, 6)
    with Repository.memory() as repo:
        bs = ",".join(str(v) for v in block[::-1])
        repo.new_instance("labelmap", "seg", {"BlockSize": bs, "MaxDownresLevel": "1"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, tuple(int(v) for v in off))
        svs = [int(v) for v in np.unique(vol)]
        body = svs[: len(svs) // 2]  # many supervoxels in every block
        seg.merge(body[0], body[1:])
        merged = np.isin(vol, body)
        got = seg.sparsevol(body[0])
        np.testing.assert_array_equal(got.voxels_zyx(), np.argwhere(merged) + off)
        _check_sparsevol(seg, np.where(merged, np.uint64(body[0]), vol), off, body[0])
        # the supervoxel alone
        one = seg.sparsevol(body[1], supervoxels=True)
        np.testing.assert_array_equal(one.voxels_zyx(), np.argwhere(vol == body[1]) + off)
        # bounds cutting blocks in x and y
        cut = Box(
            (int(off[0]) + 1, int(off[1]) + block[1] // 2, int(off[2]) + block[2] - 3),
            (int(off[0]) + shape[0] - 2, int(off[1]) + shape[1] - 5, int(off[2]) + 4 * block[2]),
        )
        pts = np.argwhere(merged) + off
        inside = np.all((pts >= cut.start) & (pts < cut.stop), axis=1)
        np.testing.assert_array_equal(seg.sparsevol(body[0], bounds=cut).voxels_zyx(), pts[inside])
        # scale 1: the body in the downsampled supervoxels
        start1 = Box(tuple(int(v) for v in off), tuple(int(v) for v in off + shape)).scaled_down(1)
        lvl = seg.get_subvolume(start1, scale=1)
        want = np.argwhere(np.isin(lvl, body)) + np.asarray(start1.start)
        np.testing.assert_array_equal(seg.sparsevol(body[0], scale=1).voxels_zyx(), want)


def test_small_bodies_on_the_calling_thread() -> None:
    """Bodies of one or two stored blocks with few tiles to decode are read without the
    pool (the label sets parsed once); every supervoxel and some merged pairs of a
    volume of 2 x 2 x 3 blocks, against numpy, whichever way each is read."""
    rng = np.random.default_rng(11)
    shape = (128, 128, 192)
    vol = _blocky(rng, shape, 40)
    vol[:, :, 100:] = np.where(vol[:, :, 100:] % 2 == 0, 3, 4)  # big bodies: the pool
    for i, (z, y, x) in enumerate([(5, 5, 5), (70, 8, 58), (30, 60, 40), (90, 100, 120)]):
        vol[z : z + 12, y : y + 10, x : x + 14] = 100 + i  # one block, or two, or four
    off = np.array([0, -64, 64])
    with Repository.memory() as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "MaxDownresLevel": "1"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, tuple(int(v) for v in off))
        svs = [int(v) for v in np.unique(vol)]
        light = 0
        for label in svs:
            _check_sparsevol(seg, vol, off, label)
            light += len(seg.index(label).block_coords()) <= 2
        assert light >= 3  # the calling-thread path is taken
        for a, b in [(100, 101), (102, 103), (100, int(vol[0, 0, 150]))]:
            seg.merge(a, [b])
            vol = np.where(vol == b, np.uint64(a), vol)
            _check_sparsevol(seg, vol, off, a)
