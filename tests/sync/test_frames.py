"""The sync body framing (dvidctl/httpkit/frames.py): round trips, and no partial body accepted."""

from __future__ import annotations

import pytest

from dvidctl.errors import CorruptDataError
from dvidctl.httpkit import frames
from dvidctl.httpkit.frames import FrameReader, FrameWriter, ListingChunk, Record, encode, read_all


def _body() -> bytes:
    w = FrameWriter()
    recs = [
        w.listing([b"ab", b"c\x00", b"d"], [b"1" * 16, b"2" * 16, b"3" * 16]),
        w.key(b"k1"),
        w.value(b"k1", b"d" * 16, b"\x00" + bytes(range(256)) * 10),
        w.missing(b"k2"),
        w.delete(b"k3"),
    ]
    return b"".join(encode(recs, w))


def test_round_trip_in_any_chunking() -> None:
    body = _body()
    for size in (1, 3, 7, 64, len(body)):
        recs = list(FrameReader([body[i : i + size] for i in range(0, len(body), size)]))
        chunk = recs[0]
        assert isinstance(chunk, ListingChunk) and len(chunk) == 3
        assert chunk.keys() == [b"ab", b"c\x00", b"d"]
        assert list(chunk.entries())[1] == (b"c\x00", b"2" * 16)
        assert recs[1:] == [
            Record("K", b"k1"),
            Record("V", b"k1", b"d" * 16, b"\x00" + bytes(range(256)) * 10),
            Record("X", b"k2"),
            Record("D", b"k3"),
        ]


def test_a_body_cut_off_anywhere_is_refused_whole() -> None:
    body = _body()
    for n in range(len(body)):
        with pytest.raises(CorruptDataError):
            read_all([body[:n]])


def test_a_damaged_byte_anywhere_is_refused() -> None:
    body = _body()
    for i in range(0, len(body), 5):
        bad = bytearray(body)
        bad[i] ^= 0x40
        with pytest.raises(CorruptDataError):
            read_all([bytes(bad)])


def test_bytes_after_the_end_are_refused() -> None:
    with pytest.raises(CorruptDataError, match="follow its end"):
        read_all([_body(), b"x"])


def test_an_empty_body_is_just_magic_and_end() -> None:
    w = FrameWriter()
    assert read_all(encode([], w)) == []


def test_a_run_of_small_values_round_trips_between_larger_ones() -> None:
    w = frames.FrameWriter()
    small = [(f"k{i:04d}".encode(), bytes([i % 256]) * 16, b"\x00" + bytes(i)) for i in range(600)]
    big = (b"k9999", bytes(16), b"\x00" + bytes(frames.RUN_VALUE))
    items = [(tk, d, v, 0) for tk, d, v in small[:300]] + [(*big, 0)]
    items += [(tk, d, v, 0) for tk, d, v in small[300:]] + [(b"kw", bytes(16), b"wired", 1)]
    # Runs given in pieces are cut as one stream: the cuts do not follow the pieces.
    recs = list(frames.value_records([items[:100], items[100:450], [], items[450:]], w))
    assert recs == list(frames.value_records([items], frames.FrameWriter()))
    kinds = [(r if isinstance(r, bytes) else r[0])[:1] for r in recs]
    assert kinds == [b"B", b"B", b"V", b"B", b"B", b"W"]  # runs of <= 256
    assert isinstance(recs[2], tuple) and recs[2][1] is big[2]  # a large value is not copied
    body = b"".join(frames.encode(recs, w))
    got = frames.read_all([body[i : i + 1000] for i in range(0, len(body), 1000)])
    assert [(r.tkey, r.digest, r.value) for r in got] == [(t, d, v) for t, d, v, _ in items]
    assert [r.kind for r in got][-1] == "W" and got[-1].encoding == 1
    bad = bytearray(body)
    bad[len(body) // 2] ^= 1
    with pytest.raises(CorruptDataError):
        frames.read_all([bytes(bad)])
