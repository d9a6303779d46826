"""Which keys move (dvidctl/sync/diff.py): checked against plain dicts, in any chunking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvidctl.errors import CorruptDataError
from dvidctl.httpkit.frames import FrameReader, FrameWriter, ListingChunk, encode
from dvidctl.sync.diff import DiffChunk, Keys, chunked, diff

#: Prefix-free type keys as datatypes make them: fixed-length block keys (often ending in
#: NUL bytes, which fixed-width numpy strings pad with) and NUL-terminated keyvalue keys.
BLOCK = st.binary(min_size=4, max_size=4).map(lambda b: b"\xba" + b)
KV = st.binary(max_size=6).map(lambda b: b"\x10" + b.replace(b"\x00", b"\x01") + b"\x00")
KEYS = st.one_of(BLOCK, KV, st.sampled_from([b"\xba\x00\x00\x00\x00", b"\x10\x00"]))
DIGEST = st.sampled_from([b"\x00" * 16, b"\x01" * 16, b"\x00" * 15 + b"\x01"])
LISTING = st.dictionaries(KEYS, DIGEST, max_size=60)


def _runs(d: dict[bytes, bytes], size: int) -> Iterator[Keys]:
    return chunked(sorted(d.items()), size)


def _run_all(chunks: Iterator[DiffChunk]) -> tuple[list[bytes], list[bytes], int]:
    send: list[bytes] = []
    delete: list[bytes] = []
    same = 0
    for c in chunks:
        send += c.send
        delete += c.delete
        same += c.same
    return send, delete, same


@given(LISTING, LISTING, st.integers(1, 9), st.integers(1, 9))
def test_diff_matches_the_dict_answer(
    a: dict[bytes, bytes], b: dict[bytes, bytes], ca: int, cb: int
) -> None:
    send, delete, same = _run_all(diff(_runs(a, ca), _runs(b, cb)))
    assert send == sorted(k for k in a if b.get(k) != a[k])
    assert delete == sorted(k for k in b if k not in a)
    assert same == sum(1 for k in a if b.get(k) == a[k])


@given(LISTING, st.integers(1, 9))
def test_listing_chunks_from_the_wire_give_the_same_keys(d: dict[bytes, bytes], size: int) -> None:
    items = sorted(d.items())
    w = FrameWriter()
    recs = [
        w.listing([k for k, _ in items[i : i + size]], [v for _, v in items[i : i + size]])
        for i in range(0, len(items), size)
    ]
    chunks = [
        Keys.from_chunk(c) for c in FrameReader(encode(recs, w)) if isinstance(c, ListingChunk)
    ]
    send, delete, same = _run_all(diff(iter(chunks), iter([])))
    assert send == [k for k, _ in items] and delete == [] and same == 0


def test_unsorted_or_repeated_listings_are_refused() -> None:
    bad = [Keys.from_pairs([(b"b", b"\x00" * 16), (b"a", b"\x00" * 16)])]
    with pytest.raises(CorruptDataError):
        list(diff(iter(bad), iter([])))
    runs = [Keys.from_pairs([(b"a", b"\x00" * 16)]), Keys.from_pairs([(b"a", b"\x00" * 16)])]
    with pytest.raises(CorruptDataError):
        list(diff(iter(runs), iter([])))


def test_memory_is_bounded_by_two_chunks() -> None:
    """300k keys each side in 8192-key runs: every step holds at most two runs."""
    n, size = 300_000, 8192

    def side(offset: int) -> Iterator[Keys]:
        for start in range(0, n, size):
            keys = [(i * 2 + offset).to_bytes(5, "big") for i in range(start, min(n, start + size))]
            yield Keys.from_pairs([(k, b"\x07" * 16) for k in keys])

    biggest = 0
    totals = [0, 0, 0]
    for c in diff(side(0), side(1)):
        biggest = max(biggest, len(c.send) + len(c.delete))
        totals[0] += len(c.send)
        totals[1] += len(c.delete)
        totals[2] += c.same
    assert totals == [n, n, 0]
    assert biggest <= 2 * size
