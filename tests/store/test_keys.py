"""Byte layout of data and delta keys (dvidctl/store/keys.py)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvidctl.datatypes.keyvalue.keys import tkey
from dvidctl.store.keys import (
    TOMBSTONE,
    TOMBSTONE_DIGEST,
    data_key,
    data_prefix,
    delta_key,
    describe,
    digest,
    read_u32,
    split_data_key,
    split_delta_key,
    u32,
)

U32 = st.integers(0, 2**32 - 1)


@given(U32)
def test_u32_round_trip_and_order(n: int) -> None:
    assert len(u32(n)) == 4 and read_u32(u32(n)) == n
    assert read_u32(b"xx" + u32(n), 2) == n


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_u32_out_of_range(bad: int) -> None:
    with pytest.raises(struct.error):
        u32(bad)


@given(U32, st.binary(min_size=1, max_size=40), U32)
def test_data_key_round_trip(iid: int, tk: bytes, vid: int) -> None:
    key = data_key(iid, tk, vid)
    assert split_data_key(key) == (iid, tk, vid)
    assert key.startswith(data_prefix(iid, tk)) and key.startswith(data_prefix(iid))
    assert describe(key) == f"instance={iid} tkey={tk.hex()} version={vid}"


@given(U32, st.binary(max_size=40), U32)
def test_delta_key_round_trip(vid: int, tk: bytes, iid: int) -> None:
    assert split_delta_key(delta_key(vid, iid, tk)) == (vid, iid, tk)


@given(U32, st.binary(min_size=1, max_size=8), st.lists(U32, min_size=2, max_size=6, unique=True))
def test_versions_of_one_key_are_adjacent_and_in_vid_order(
    iid: int, tk: bytes, vids: list[int]
) -> None:
    keys = sorted(data_key(iid, tk, v) for v in vids)
    assert [split_data_key(k)[2] for k in keys] == sorted(vids)


@given(
    U32,
    st.lists(
        st.text(min_size=1, max_size=6).filter(lambda s: "/" not in s and "\x00" not in s),
        min_size=2,
        max_size=8,
        unique=True,
    ),
    U32,
)
def test_keyvalue_type_keys_are_prefix_free(iid: int, names: list[str], vid: int) -> None:
    """No key's version range contains another key's versions, and order follows the key."""
    for a in names:
        pa = data_prefix(iid, tkey(a))
        for b in names:
            if a != b:
                assert not data_key(iid, tkey(b), vid).startswith(pa)
    by_key = sorted(names, key=lambda s: s.encode())
    assert sorted(names, key=lambda s: data_key(iid, tkey(s), vid)) == by_key


def test_instances_do_not_interleave() -> None:
    assert data_key(1, b"\xff\xff", 2**32 - 1) < data_prefix(2)
    assert data_key(1, tkey("z"), 7) > data_prefix(1, tkey("a"))


def test_delta_keys_group_by_version_then_instance() -> None:
    keys = [
        delta_key(2, 1, b"b"),
        delta_key(1, 2, b"a"),
        delta_key(1, 1, b"z"),
        delta_key(2, 1, b"a"),
    ]
    assert [split_delta_key(k) for k in sorted(keys)] == [
        (1, 1, b"z"),
        (1, 2, b"a"),
        (2, 1, b"a"),
        (2, 1, b"b"),
    ]


def test_digest() -> None:
    assert len(digest(b"\x00abc")) == 16
    assert digest(b"\x00abc") == digest(memoryview(b"\x00abc"))
    assert digest(b"\x00abc") != digest(b"\x00abd")
    assert TOMBSTONE_DIGEST == digest(TOMBSTONE) != digest(b"\x00")
