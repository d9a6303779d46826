"""Node digests (dvidctl/store/nodedigest.py): the chunked, numpy fold against the plain one."""

from __future__ import annotations

import random

import pytest

from dvidctl.errors import CorruptDataError
from dvidctl.store import nodedelta, nodedigest
from dvidctl.store.engine import CF_DELTA, KVEngine, WriteBatch
from dvidctl.store.keys import delta_key, digest


def _fill(engine: KVEngine, vid: int, per_iid: dict[int, list[bytes]]) -> None:
    wb = WriteBatch()
    for iid, tkeys in per_iid.items():
        for tk in tkeys:
            wb.put(CF_DELTA, delta_key(vid, iid, tk), digest(b"\x00" + tk))
    engine.write(wb)


def _plain(engine: KVEngine, vid: int, iids: list[int]) -> dict[int, str]:
    """Each instance's digest through the listing and DigestBuilder, entry by entry."""
    got = {i: nodedigest.entries_digest(nodedelta.listing(engine, vid, i)) for i in iids}
    return {i: d for i, d in got.items() if d is not None}


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 15])
@pytest.mark.parametrize("lengths", ["fixed", "varied"])
def test_chunked_fold_gives_the_plain_strings(
    engine: KVEngine, monkeypatch: pytest.MonkeyPatch, chunk: int, lengths: str
) -> None:
    monkeypatch.setattr(nodedigest, "_CHUNK", chunk)
    rnd = random.Random(chunk)

    def tkey() -> bytes:
        n = 13 if lengths == "fixed" else rnd.randrange(0, 40)
        return rnd.randbytes(n)

    # Instances of one key, of many, and an empty type key; the nodes around must not leak in.
    per = {1: [tkey() for _ in range(150)], 2: [tkey()], 7: [tkey() for _ in range(70)]}
    if lengths == "varied":
        per[9] = [b""]
    _fill(engine, 3, per)
    _fill(engine, 2, {1: [b"below"]})
    _fill(engine, 4, {1: [b"above"]})
    want = _plain(engine, 3, [1, 2, 7, 9])
    assert nodedigest.instance_digests(engine, 3) == want
    assert want[1].endswith(f":{len(set(per[1]))}")
    assert nodedigest.instance_digests(engine, 5) == {}


def test_odd_digests_are_folded_one_by_one(engine: KVEngine) -> None:
    _fill(engine, 1, {1: [b"a", b"b"], 2: [b"c"]})
    wb = WriteBatch()
    wb.put(CF_DELTA, delta_key(1, 1, b"ab"), b"short")  # not a 16-byte digest
    engine.write(wb)
    assert nodedigest.instance_digests(engine, 1) == _plain(engine, 1, [1, 2])


def test_a_key_too_short_for_an_instance_is_corrupt(engine: KVEngine) -> None:
    wb = WriteBatch()
    wb.put(CF_DELTA, b"\x00\x00\x00\x01\x00", digest(b"\x00x"))
    engine.write(wb)
    with pytest.raises(CorruptDataError, match="too short"):
        nodedigest.instance_digests(engine, 1)
