"""Label indexes decoded and encoded in bulk equal the one-at-a-time codec, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl.datatypes.labelmap.counting import unique
from dvidctl.datatypes.labelmap.labelindex import LabelIndex, decode_many, encode_many
from dvidctl.errors import CorruptDataError


def _indexes(seed: int) -> list[LabelIndex]:
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate([0, 1, 5, 128, 129, 700, 3]):  # raw and zstd (more than 128 rows)
        idx = LabelIndex(
            100 + i,
            np.sort(rng.integers(0, 2**62, n)).astype(np.uint64),
            rng.integers(1, 2**63, n).astype(np.uint64),
            rng.integers(1, 2**32, n).astype(np.uint64),
            last_mutid=7 * i,
            last_mod_time="2026-12-02T12:00:00Z" if i % 2 else "",
            last_mod_user="ü" * i,
            last_mod_app="neu3",
        )
        out.append(idx)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_bulk_decode_and_encode_match_the_index_codec(seed: int) -> None:
    idxs = _indexes(seed)
    payloads: list[bytes | None] = [None, *(i.encode() for i in idxs), None]
    cols = decode_many(payloads)
    assert cols.lens.tolist() == [0, *(len(i) for i in idxs), 0]
    at = 0
    for i, idx in zip(range(1, len(idxs) + 1), idxs, strict=True):
        n = len(idx)
        assert cols.blocks[at : at + n].tolist() == idx.blocks.tolist()
        assert cols.svs[at : at + n].tolist() == idx.svs.tolist()
        assert cols.counts[at : at + n].tolist() == idx.counts.tolist()
        at += n
        assert cols.head(i) is not None
    assert cols.head(0) is None and cols.head(len(payloads) - 1) is None
    labels = np.array([5, *(i.label for i in idxs), 9], np.uint64)
    heads = [cols.head(i) for i in range(len(payloads))]
    got = encode_many(labels, cols.lens, cols.blocks, cols.svs, cols.counts, heads)
    assert got[1:-1] == payloads[1:-1]
    assert got[0] == LabelIndex(5).encode() and got[-1] == LabelIndex(9).encode()
    back = LabelIndex.decode(got[3])
    assert back.last_mod_user == idxs[2].last_mod_user and back.last_mutid == idxs[2].last_mutid


def test_bulk_decode_refuses_corrupt_indexes() -> None:
    good = _indexes(0)[2].encode()
    for bad in (b"XX" + good[2:], good[:-3], good[:10]):
        with pytest.raises(CorruptDataError):
            decode_many([good, bad])


def test_unique_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for a in (np.zeros(0, np.uint64), np.array([7], np.uint64), rng.integers(0, 50, 1000)):
        assert unique(a).tolist() == np.unique(a).tolist()
