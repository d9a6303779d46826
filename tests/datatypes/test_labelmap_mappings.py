"""DVID's ``POST mappings`` (``MappingOps``) and ``LabelMap.put_mappings``: pairs stored as
given, the label indexes they touch regrouped exactly as a full reindex would make them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelmap.mappingops import decode_mapping_ops, encode_mapping_ops
from dvidctl.errors import BadRequestError
from dvidctl.httpkit.protowire import len_prefix, tag, varint


def test_mapping_ops_round_trip_packed_and_unpacked() -> None:
    svs = np.array([5, 7, 9, 11], np.uint64)
    bodies = np.array([100, 100, 0, 2**63 + 1], np.uint64)
    s, b = decode_mapping_ops(encode_mapping_ops(svs, bodies))
    assert sorted(zip(s.tolist(), b.tolist(), strict=True)) == sorted(
        zip(svs.tolist(), bodies.tolist(), strict=True)
    )
    # proto2-style unpacked ``original`` fields decode the same, mutid ignored
    op = tag(1, 0) + varint(3) + tag(2, 0) + varint(42)
    op += tag(3, 0) + varint(8) + tag(3, 0) + varint(6)
    s, b = decode_mapping_ops(len_prefix(1, len(op)) + op)
    assert s.tolist() == [8, 6] and b.tolist() == [42, 42]
    with pytest.raises(BadRequestError):
        decode_mapping_ops(b"\x0a\x05\x10")  # a length past the end


def test_put_mappings_regroups_indexes_as_a_reindex(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vol = np.kron(rng.integers(1, 30, (2, 2, 4), dtype=np.uint64), np.ones((16, 16, 16), np.uint64))
    with Repository.init(tmp_path / "r") as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol.astype(np.uint64), (0, 0, 0))
        svs = np.unique(vol)
        seg.merge(int(svs[0]), [int(svs[1])])
        # Map two more onto svs[0], move svs[1] back to itself, retire svs[4].
        n = seg.put_mappings([svs[2], svs[3], svs[1], svs[4]], [svs[0], svs[0], svs[1], 0])
        assert n > 0
        assert seg.mapping([svs[1], svs[2], svs[3]]).tolist() == [svs[1], svs[0], svs[0]]
        mine = {b: seg.index(b) for b in svs.tolist()}
        seg.reindex()
        for body, idx in mine.items():
            again = seg.index(body)
            if idx is None or again is None:
                assert idx is again or not len(idx or again), body
                continue
            assert np.array_equal(idx.blocks, again.blocks) and np.array_equal(
                idx.counts, again.counts
            ), body
        assert seg.size(int(svs[0])) == int(np.isin(vol, svs[[0, 2, 3]]).sum())
        with pytest.raises(BadRequestError, match="label 0"):
            seg.put_mappings([0], [5])
