"""Label blocks with per-tile label sets (codec id 5, imageblk/tilelabels.py).

Round trips for any label count and block shape (uniform tiles, one label, tiles
that do not divide the block), deterministic bytes, corrupt label sections, old
codec-4 payloads read as before, sparse volumes and index upkeep equal on both.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk.blockkeys import block_tkey
from dvidctl.datatypes.imageblk.codec import (
    ZSTD,
    ZSTD_TILED,
    ZSTD_TILED_LABELS,
    LabelBlockZstdCodec,
    ZstdCodec,
    block_tile_labels,
    decode_into,
    decode_region,
)
from dvidctl.datatypes.imageblk.tilelabels import split_body
from dvidctl.datatypes.labelmap.blockruns import block_bits, decode_rows
from dvidctl.errors import CorruptDataError
from dvidctl.geometry import Box
from dvidctl.store.versioned import VALUE_PREFIX

U64 = np.dtype(np.uint64)


def _old(payload: bytes) -> bytes:
    """The codec-4 payload of a codec-5 one: what the writer stored before (no label section)."""
    assert payload[0] == ZSTD_TILED_LABELS
    return bytes([ZSTD_TILED]) + bytes(split_body(memoryview(payload)[1:])[1])


def _blocky(rng: np.random.Generator, shape: tuple[int, ...], labels: np.ndarray, cell: int):  # type: ignore[no-untyped-def]
    small = [-(-s // cell) for s in shape]
    vol = labels[rng.integers(0, len(labels), small)]
    for ax in range(3):
        vol = vol.repeat(cell, ax)
    return np.ascontiguousarray(vol[: shape[0], : shape[1], : shape[2]])


SHAPES = [((64, 64, 64), 32), ((32, 64, 16), 16), ((48, 40, 24), 16), ((64, 64, 64), 16)]


@pytest.mark.parametrize("shape,tile", SHAPES)
@pytest.mark.parametrize("nlabels", [1, 2, 3, 9, 300])
def test_round_trip_and_tile_sets(shape: tuple[int, int, int], tile: int, nlabels: int) -> None:
    rng = np.random.default_rng(nlabels + sum(shape))
    labels = np.unique(rng.integers(0, 2**64, nlabels + 4, dtype=np.uint64))[:nlabels]
    labels[0] = 0
    block = _blocky(rng, shape, labels, 8 if nlabels < 300 else 4)
    block[: min(tile, shape[0]), : min(tile, shape[1])] = labels[-1]  # a uniform tile
    codec = ZstdCodec(tile=tile)
    payload = codec.encode_labelled(block)
    assert payload[0] == ZSTD_TILED_LABELS
    assert codec.encode_labelled(block.copy(order="F")) == payload  # deterministic, any layout
    out = np.full(shape, 7, np.uint64)
    np.testing.assert_array_equal(decode_into(payload, out), block)
    region = (slice(3, shape[0] - 1), slice(5, shape[1]), slice(1, shape[2] - 2))
    dst = np.zeros([s.stop - s.start for s in region], np.uint64)
    decode_region(payload, shape, region, dst)
    np.testing.assert_array_equal(dst, block[region])
    sets = block_tile_labels(payload)
    assert sets is not None
    np.testing.assert_array_equal(sets.table, np.unique(block))
    i = 0
    for z in range(0, shape[0], tile):
        for y in range(0, shape[1], tile):
            np.testing.assert_array_equal(
                sets.tile_labels(i), np.unique(block[z : z + tile, y : y + tile])
            )
            i += 1
    assert len(sets.tile_labels(0)) == 1  # the uniform tile
    old = _old(payload)
    np.testing.assert_array_equal(decode_into(old, np.empty(shape, np.uint64)), block)
    # the rows of index upkeep: the same label set on both codecs
    for p in (payload, old):
        rows = decode_rows(p, shape, U64, "t")
        np.testing.assert_array_equal(np.unique(rows), np.unique(block))


def test_not_label_data_keeps_codec_4() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 2**40, (64, 64, 64), dtype=np.uint64)
    assert ZstdCodec().encode_labelled(noise)[0] == ZSTD_TILED  # too many runs for label sets
    assert ZstdCodec().encode_labelled(np.ones((64, 64, 64), np.uint16))[0] == ZSTD_TILED
    assert ZstdCodec().encode_labelled(np.ones((32, 32, 32), np.uint64))[0] == ZSTD  # one tile


def _bits(payload: bytes, shape: tuple[int, int, int], labels: np.ndarray) -> np.ndarray:
    out = np.full((shape[0], shape[1], shape[2] // 8), 0x5A, np.uint8)
    block_bits(payload, shape, U64, labels, out)
    return np.unpackbits(out, axis=2, bitorder="little").view(bool)


@pytest.mark.parametrize("shape,tile", SHAPES)
@pytest.mark.parametrize("seed", range(6))
def test_sparse_bits_equal_on_every_codec(
    shape: tuple[int, int, int], tile: int, seed: int
) -> None:
    """Tiles without the body (zero rows), of only the body (full rows), and mixed ones."""
    rng = np.random.default_rng(seed)
    labels = np.arange(1, 40, dtype=np.uint64) * np.uint64(2**35)
    block = _blocky(rng, shape, labels, 4)
    block[: min(tile, shape[0])] = labels[0]  # tiles of one label
    block[-min(tile, shape[0]) :, : min(tile, shape[1])] = labels[1]
    new = ZstdCodec(tile=tile).encode_labelled(block)
    payloads = [
        new,
        _old(new),
        ZstdCodec(tile=0).encode(block),
        LabelBlockZstdCodec().encode(block),
    ]
    for body in ([labels[0]], [labels[1]], [labels[0], labels[5]], labels[::3], [np.uint64(3)]):
        want = np.isin(block, body)
        for p in payloads:
            np.testing.assert_array_equal(_bits(p, shape, np.sort(np.asarray(body, U64))), want)


def _edit_bits(  # type: ignore[no-untyped-def]
    good: bytes, at: int, k: int, tile, byte, mask: int, *, clear: bool = False
) -> bytes:
    """``good`` with bits of the tiles' bitsets set (or cleared): ``None`` is every tile/byte."""
    nb = -(-k // 8)
    bits = np.frombuffer(good, np.uint8, 4 * nb, at).reshape(4, nb).copy()
    sel = (slice(None) if tile is None else tile, slice(None) if byte is None else byte)
    bits[sel] = bits[sel] & np.uint8(~mask & 0xFF) if clear else bits[sel] | np.uint8(mask)
    if clear and mask == 0:
        bits[sel] = 0
    return good[:at] + bits.tobytes() + good[at + 4 * nb :]


def test_corrupt_label_section_is_an_error() -> None:
    rng = np.random.default_rng(1)
    block = _blocky(rng, (64, 64, 64), np.arange(1, 20, dtype=np.uint64), 8)
    good = ZstdCodec().encode_labelled(block)
    m = int.from_bytes(good[1:5], "little")
    k = int.from_bytes(good[5:9], "little")
    members = (
        1 + 4 + m - 4 * (-(-k // 8))
    )  # 4 tiles (z, y) of 32: the section ends in their bitsets
    bad = [
        good[:3],  # no room for m
        good[:1] + (m + 1000).to_bytes(4, "little") + good[5:],  # m past the end
        good[:1] + (m - 1).to_bytes(4, "little") + good[5:],  # section one byte short
        good[:5] + (k + 1).to_bytes(4, "little") + good[9:],  # k too large for m
        good[:9] + b"\x03" + good[10:],  # width 3
        good[:18] + bytes(1) + good[19:],  # a zero gap: labels not ascending
        _edit_bits(good, members, k, 0, 2, 0x80),  # a bit past k (k = 19: byte 2 holds 16-23)
        _edit_bits(good, members, k, None, 0, 0x01, clear=True),  # label 0 in no tile
        _edit_bits(good, members, k, 0, None, 0, clear=True),  # tile 0 holds no label
    ]
    out = np.zeros((64, 64, 8), np.uint8)
    for payload in bad:
        with pytest.raises(CorruptDataError):
            block_tile_labels(payload)
        with pytest.raises(CorruptDataError):
            block_bits(payload, (64, 64, 64), U64, np.array([1], np.uint64), out)
    assert block_tile_labels(good) is not None


def test_upkeep_exact_with_old_and_new_payloads_mixed(tmp_path: Path) -> None:
    """Blocks stored by the writer before (codec 4) and now (codec 5), rewritten in one write."""
    rng = np.random.default_rng(4)
    shape = (128, 128, 128)
    vol = _blocky(rng, shape, np.arange(1, 60, dtype=np.uint64), 8)
    with Repository.init(tmp_path / "r") as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, (0, 0, 0))
        coords = np.array([[z, y, x] for z in (0, 1) for y in (0, 1) for x in (0, 1)])
        stored = seg.blocks.payloads(0, coords)
        assert all(p[0] == ZSTD_TILED_LABELS for p in stored.values())
        with seg._batch() as b:  # half the blocks as a repository written before holds them
            for (z, y, x), p in sorted(stored.items()):
                if (z + y + x) % 2:
                    tk = block_tkey(seg.blocks.spec.key_class, 0, z, y, x)
                    b.put_stored(seg.iid, tk, VALUE_PREFIX + _old(bytes(p)))
            b.commit()
        kinds = {bytes(p[:1]) for p in seg.blocks.payloads(0, coords).values()}
        assert kinds == {bytes([ZSTD_TILED]), bytes([ZSTD_TILED_LABELS])}
        patch = _blocky(rng, (100, 90, 110), np.arange(40, 90, dtype=np.uint64), 8)
        seg.put_subvolume(patch, (14, 20, 9))
        vol[14:114, 20:110, 9:119] = patch
        np.testing.assert_array_equal(seg.get_subvolume(Box((0, 0, 0), shape)), vol)
        for label in np.unique(vol).tolist():
            idx = seg.index(label)
            assert idx is not None and int(idx.counts.sum()) == int((vol == label).sum()), label
        for gone in set(range(1, 60)) - set(np.unique(vol).tolist()):
            assert seg.index(gone) is None
        for label in (1, 45, 89):
            got = seg.sparsevol(label).voxels_zyx()
            np.testing.assert_array_equal(got, np.argwhere(vol == label))


def test_real_samples_section_is_small(testdata_dir: Path) -> None:
    for name in ("fib19-64x64x64-sample1", "fib19-64x64x64-sample2", "cx-64x64x64-sample1"):
        raw = gzip.decompress((testdata_dir / f"{name}.dat.gz").read_bytes())
        block = np.frombuffer(raw, "<u8").reshape(64, 64, 64)
        payload = ZstdCodec().encode_labelled(block)
        m = int.from_bytes(payload[1:5], "little")
        assert payload[0] == ZSTD_TILED_LABELS and (4 + m) < 0.03 * (len(payload) - 4 - m)


def test_labelblock_wire_sends_old_codec_blocks_as_stored() -> None:
    """A codec-5 block comes back byte for byte from the wire; a codec-4 one (written before,
    it would come back as 5) goes as it is stored, not asked for twice."""
    from dvidctl.datatypes.imageblk.blockkeys import block_tkey as tkey_of
    from dvidctl.datatypes.imageblk.wirelabels import LabelBlockWire
    from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK

    cfg = {"block_size": [64, 64, 64], "codec": ZstdCodec().to_dict()}
    enc = LabelBlockWire(cfg, CLASS_BLOCK)
    block = _blocky(np.random.default_rng(2), (64, 64, 64), np.arange(1, 30, dtype=np.uint64), 8)
    new = VALUE_PREFIX + ZstdCodec().encode_labelled(block)
    tk = tkey_of(CLASS_BLOCK, 0, 1, 2, 3)
    wire = enc.encode(tk, new)
    assert wire is not None and enc.decode(tk, wire) == new
    assert enc.encode(tk, VALUE_PREFIX + _old(new[len(VALUE_PREFIX) :])) is None


def test_which_writes_store_label_sets(tmp_path: Path) -> None:
    """Indexed scale-0 writes store codec 5 (sets from the counting pass); the pyramid and
    unindexed instances store codec 4; the same voxels by the same path, the same bytes."""
    rng = np.random.default_rng(5)
    vol = _blocky(rng, (128, 128, 128), np.arange(1, 50, dtype=np.uint64), 8)
    coords = np.array([[z, y, x] for z in (0, 1) for y in (0, 1) for x in (0, 1)])
    with Repository.init(tmp_path / "r") as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "MaxDownresLevel": "1"})
        repo.new_instance("labelmap", "flat", {"BlockSize": "64,64,64", "IndexedLabels": "false"})
        seg, flat = repo.head.instance("seg"), repo.head.instance("flat")
        seg.put_subvolume(vol, (0, 0, 0))
        flat.put_subvolume(vol, (0, 0, 0))
        stored = seg.blocks.payloads(0, coords)
        assert {p[0] for p in stored.values()} == {ZSTD_TILED_LABELS}
        assert {p[0] for p in flat.blocks.payloads(0, coords).values()} == {ZSTD_TILED}
        assert {p[0] for p in seg.blocks.payloads(1, coords[:1]).values()} == {ZSTD_TILED}
        for c, p in stored.items():  # the sets of the indexed write are each tile's labels
            z, y, x = (v * 64 for v in c)
            # the labelblock wire's receiver makes the same bytes from the voxels
            assert ZstdCodec().encode_labelled(vol[z : z + 64, y : y + 64, x : x + 64]) == p
            sets = block_tile_labels(p)
            assert sets is not None
            for i, (tz, ty) in enumerate([(0, 0), (0, 32), (32, 0), (32, 32)]):
                want = np.unique(vol[z + tz : z + tz + 32, y + ty : y + ty + 32, x : x + 64])
                np.testing.assert_array_equal(sets.tile_labels(i), want)
        seg.put_subvolume(vol, (0, 0, 0))  # rewritten as it was: byte for byte
        again = seg.blocks.payloads(0, coords)
        assert {c: bytes(p) for c, p in again.items()} == {c: bytes(p) for c, p in stored.items()}
        np.testing.assert_array_equal(seg.get_subvolume(Box((0, 0, 0), vol.shape)), vol)
        np.testing.assert_array_equal(flat.get_subvolume(Box((0, 0, 0), vol.shape)), vol)
        with seg._batch() as b:  # two blocks as a path without the counting pass left them
            for c in ((0, 0, 0), (1, 1, 1)):
                tk = block_tkey(seg.blocks.spec.key_class, 0, *c)
                b.put_stored(seg.iid, tk, VALUE_PREFIX + _old(bytes(stored[c])))
            b.commit()
        vol[64:, 64:, 64:] = np.where(vol[64:, 64:, 64:] == 7, 8, vol[64:, 64:, 64:])
        seg.put_subvolume(vol, (0, 0, 0))  # (0, 0, 0) as it was: kept; (1, 1, 1) changed
        kinds = {c: p[0] for c, p in seg.blocks.payloads(0, coords).items()}
        assert kinds.pop((0, 0, 0)) == ZSTD_TILED and set(kinds.values()) == {ZSTD_TILED_LABELS}
        assert seg.index(7) is not None and seg.index(8) is not None
        for label in (7, 8):
            assert int(seg.index(label).counts.sum()) == int((vol == label).sum())


def test_sets_of_rows_repeated_across_tiles() -> None:
    """Rows equal to the row before across a tile's edge (y and z) still count in their tile."""
    block = np.ones((64, 64, 64), np.uint64)
    block[:, :31] = 2  # rows 31..63 of every slice equal: tile (0, 1) and (1, 1) hold only 1
    block[:33, 31] = 3  # slices 32..63 of tile (1, 0) hold 2 and 1, slice 32 adds 3
    payload = ZstdCodec().encode_labelled(block)
    sets = block_tile_labels(payload)
    assert sets is not None
    for i, (z, y) in enumerate([(0, 0), (0, 32), (32, 0), (32, 32)]):
        want = np.unique(block[z : z + 32, y : y + 32])
        np.testing.assert_array_equal(sets.tile_labels(i), want)
