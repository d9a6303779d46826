"""The keyvalue datatype (dvidctl/datatypes/keyvalue/), on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.keyvalue import KeyValue
from dvidctl.datatypes.keyvalue import keys as kvkeys
from dvidctl.errors import BadRequestError, NotFoundError


@pytest.fixture(params=["memory", "rocksdb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValue]:
    repo = Repository.memory() if request.param == "memory" else Repository.init(tmp_path)
    repo.new_instance("keyvalue", "kv")
    inst = repo.head.instance("kv")
    assert isinstance(inst, KeyValue)
    yield inst
    repo.close()


def test_put_get_delete(kv: KeyValue) -> None:
    kv.put("a", b"1")
    assert kv.get("a") == b"1" and kv.get_or_none("a") == b"1" and kv.exists("a")
    kv.put("a", b"2")
    assert kv.get("a") == b"2"
    assert kv.delete("a") is True
    assert kv.delete("a") is False
    assert kv.get_or_none("a") is None and not kv.exists("a")
    with pytest.raises(NotFoundError, match='Key "a" not found'):
        kv.get("a")


def test_values_are_opaque_bytes(kv: KeyValue) -> None:
    values = {"empty": b"", "nul": b"\x00", "bin": bytes(range(256)) * 40, "big": b"x" * (1 << 20)}
    kv.put_many(values)
    for k, v in values.items():
        assert kv.get(k) == v
    assert kv.exists("empty")  # an empty value is still a value
    assert kv.keys() == ["big", "bin", "empty", "nul"]


def test_keys_in_byte_order_with_unicode(kv: KeyValue) -> None:
    names = ["b", "a", "ab", "a b", "Z", "é", "日本", "a.b", "~", "\x7f", "a\x01"]
    kv.put_many({n: n.encode() for n in names})
    assert kv.keys() == sorted(names, key=lambda s: s.encode())
    assert dict(kv.items()) == {n: n.encode() for n in names}
    assert kv.get_many(["é", "missing"]) == {"é": "é".encode(), "missing": None}


def test_keyrange_is_inclusive(kv: KeyValue) -> None:
    kv.put_many({k: b"." for k in ["a", "ab", "abc", "b", "ba", "c"]})
    assert kv.keys("ab", "b") == ["ab", "abc", "b"]
    assert kv.keys("a", "a") == ["a"]
    assert kv.keys("aa", "ab") == ["ab"]
    assert kv.keys("b", None) == ["b", "ba", "c"]
    assert kv.keys(None, "ab") == ["a", "ab"]
    assert kv.keys("c", "a") == []
    assert [k for k, _ in kv.items("abc", "ba")] == ["abc", "b", "ba"]


@pytest.mark.parametrize("bad", ["", "a/b", "/", "a\x00b"])
def test_bad_keys(kv: KeyValue, bad: str) -> None:
    with pytest.raises(BadRequestError):
        kv.put(bad, b"x")
    with pytest.raises(BadRequestError):
        kv.get(bad)
    with pytest.raises(BadRequestError):
        kv.keys(bad, "z")
    assert kv.keys() == []


def test_put_many_and_delete_many_are_atomic_writes(kv: KeyValue) -> None:
    kv.put_many({"a": b"1", "b": b"2", "c": b"3"})
    kv.delete_many(["a", "c", "never"])
    assert dict(kv.items()) == {"b": b"2"}
    with pytest.raises(BadRequestError):
        kv.put_many({"ok": b"1", "bad/key": b"2"})
    assert kv.keys() == ["b"]


def test_versions_isolated(kv: KeyValue) -> None:
    repo = kv.node.repo
    kv.put_many({"a": b"1", "b": b"1"})
    repo.commit("c0")
    head = repo.head.instance("kv")
    assert isinstance(head, KeyValue)
    head.put("a", b"2")
    head.delete("b")
    old = repo.node("HEAD~1").instance("kv")
    assert isinstance(old, KeyValue)
    assert dict(old.items()) == {"a": b"1", "b": b"1"}
    assert dict(head.items()) == {"a": b"2"}


def test_spec_and_help() -> None:
    spec = registry.get("keyvalue")
    assert spec.instance_class is KeyValue and spec.version and "keyrange" in spec.help
    assert spec.describe_key(kvkeys.tkey("héllo")) == "héllo"
    assert spec.describe_key(b"\x01\x02") == "0102"
    assert spec.parse_config({"Versioned": "false"})["versioned"] is False


def test_type_keys() -> None:
    assert kvkeys.tkey("ab") == b"\xb1ab\x00" and kvkeys.key_of(b"\xb1ab\x00") == "ab"
    start, stop = kvkeys.range_bounds("a", "b")
    assert start == b"\xb1a\x00" and stop == b"\xb1b\x01"
    assert kvkeys.range_bounds(None, None) == (b"\xb1", b"\xb2")


KEY = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(KEY, st.binary(max_size=8), max_size=12),
    st.lists(KEY, max_size=4),
    st.one_of(st.none(), KEY),
    st.one_of(st.none(), KEY),
)
def test_keys_match_a_dict_model(
    items: dict[str, bytes], deletes: list[str], first: str | None, last: str | None
) -> None:
    repo = Repository.memory()
    repo.new_instance("keyvalue", "kv")
    kv = repo.head.instance("kv")
    assert isinstance(kv, KeyValue)
    kv.put_many(items)
    repo.commit("c0")
    kv = repo.head.instance("kv")
    assert isinstance(kv, KeyValue)
    kv.delete_many(deletes)
    model = {k: v for k, v in items.items() if k not in deletes}

    def enc(s: str) -> bytes:
        return s.encode()

    want = sorted(
        (
            k
            for k in model
            if (first is None or enc(k) >= enc(first)) and (last is None or enc(k) <= enc(last))
        ),
        key=enc,
    )
    assert kv.keys(first, last) == want
    assert dict(kv.items(first, last)) == {k: model[k] for k in want}
    for k in list(items) + deletes:
        assert kv.get_or_none(k) == model.get(k)
