"""The KeyValueAPI contract, run on the local instance and on the remote one (STYLE.md rule 20)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dvidctl.datatypes.keyvalue.chunks import CHUNK_BYTES
from dvidctl.datatypes.keyvalue.protocol import KeyValueAPI
from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError
from tests.contracts.conftest import Backend, LocalSide, RemoteSide

#: Keys that travel badly in URLs or sort in surprising ways.
ODD_KEYS = ["a b", "50%", "é", "B", "a", "a.b", "?x=1", "#frag", "~tilde", "+plus", "ключ"]
BAD_KEYS = ["", "a/b", "nul\x00"]


class KeyValueContract:
    """What every :class:`KeyValueAPI` must do. Subclasses provide ``backend``."""

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def kv(self, backend: Backend) -> KeyValueAPI:
        inst = backend.new("keyvalue")
        assert isinstance(inst, KeyValueAPI)
        return inst

    # -------------------------------------------------------------- reads
    def test_identity(self, kv: KeyValueAPI) -> None:
        assert kv.typename == "keyvalue"
        assert kv.name.startswith("keyvalue_")
        assert kv.info()["Base"]["Name"] == kv.name

    def test_round_trip_of_any_bytes(self, kv: KeyValueAPI) -> None:
        every_byte = bytes(range(256)) * 3
        kv.put("bin", every_byte)
        kv.put("empty", b"")
        assert kv.get("bin") == every_byte
        assert kv.get("empty") == b"" and kv.exists("empty")
        assert kv.get_or_none("empty") == b""
        kv.put("bin", b"replaced")
        assert kv.get("bin") == b"replaced"

    def test_values_to_and_from_binary_files(self, kv: KeyValueAPI, tmp_path: Path) -> None:
        value = bytes(range(256)) * 5000  # 1.28 MB
        src = tmp_path / "in.bin"
        src.write_bytes(b"skipped" + value)
        with open(src, "rb") as f:
            f.seek(7)  # from the file's position on
            assert kv.put_from("file", f) == len(value)
        assert kv.put_from("stream", io.BytesIO(value[:1000])) == 1000
        assert kv.put_from("empty", io.BytesIO()) == 0
        out = io.BytesIO()
        assert kv.get_to("file", out) == len(value) and out.getvalue() == value
        assert kv.get("stream") == value[:1000] and kv.get("empty") == b""
        with open(tmp_path / "out.bin", "wb") as f:
            assert kv.get_to("empty", f) == 0
        assert (tmp_path / "out.bin").read_bytes() == b""
        out = io.BytesIO()
        with pytest.raises(NotFoundError):
            kv.get_to("nope", out)
        assert out.getvalue() == b""  # nothing written for a missing key
        with pytest.raises(BadRequestError):
            kv.put_from("a/b", io.BytesIO(b"x"))
        assert kv.keys() == ["empty", "file", "stream"]

    def test_values_longer_than_a_piece(self, kv: KeyValueAPI, tmp_path: Path) -> None:
        """Stored as a manifest and pieces (keyvalue/chunks.py): whole values all the same."""
        size = 2 * CHUNK_BYTES + 1001  # three pieces at the real piece size
        value = os.urandom(size)
        src = tmp_path / "in.bin"
        src.write_bytes(value)
        with open(src, "rb") as f:
            assert kv.put_from("file", f) == size
        assert kv.put_from("stream", io.BytesIO(value)) == size
        kv.put_many({"many": value, "small": b"s"})
        out = io.BytesIO()
        assert kv.get_to("file", out) == size and out.getvalue() == value
        assert kv.get("stream") == value and kv.get_or_none("many") == value
        assert kv.get_many(["file", "small"]) == {"file": value, "small": b"s"}
        assert dict(kv.items()) == {"file": value, "many": value, "small": b"s", "stream": value}
        assert kv.keys() == ["file", "many", "small", "stream"]
        kv.put("file", b"small now")
        assert kv.get("file") == b"small now"
        assert kv.delete("stream") is True and not kv.exists("stream")

    def test_missing_key(self, kv: KeyValueAPI) -> None:
        with pytest.raises(NotFoundError):
            kv.get("nope")
        assert kv.get_or_none("nope") is None
        assert not kv.exists("nope")
        assert kv.delete("nope") is False

    def test_odd_keys_round_trip_and_sort_by_bytes(self, kv: KeyValueAPI) -> None:
        kv.put_many({k: k.encode() for k in ODD_KEYS})
        for k in ODD_KEYS:
            assert kv.get(k) == k.encode()
        assert kv.keys() == sorted(ODD_KEYS, key=str.encode)

    def test_get_many(self, kv: KeyValueAPI) -> None:
        kv.put_many({"a": b"1", "b": b"", "c": b"3"})
        assert kv.get_many(["c", "missing", "b", "a"]) == {
            "c": b"3",
            "missing": None,
            "b": b"",
            "a": b"1",
        }
        assert kv.get_many([]) == {}

    def test_key_ranges_are_inclusive(self, kv: KeyValueAPI) -> None:
        kv.put_many({k: k.encode() for k in ["a", "ab", "b", "ba", "c"]})
        assert kv.keys("ab", "ba") == ["ab", "b", "ba"]
        assert kv.keys("ab") == ["ab", "b", "ba", "c"]
        assert kv.keys(last="b") == ["a", "ab", "b"]
        assert kv.keys("aa", "az") == ["ab"]
        assert kv.keys("c", "a") == []
        assert kv.keys("x", "z") == []

    def test_items(self, kv: KeyValueAPI) -> None:
        kv.put_many({"k1": b"v1", "k2": b"", "k3": b"v3"})
        assert list(kv.items()) == [("k1", b"v1"), ("k2", b""), ("k3", b"v3")]
        assert list(kv.items("k2", "k3")) == [("k2", b""), ("k3", b"v3")]
        assert list(kv.items(last="k1")) == [("k1", b"v1")]
        assert list(kv.items("k4")) == []

    # ------------------------------------------------------------- writes
    def test_delete_and_delete_many(self, kv: KeyValueAPI) -> None:
        kv.put_many({k: b"x" for k in "abcd"})
        assert kv.delete("a") is True
        assert not kv.exists("a")
        kv.delete_many(["b", "c", "never"])
        assert kv.keys() == ["d"]
        kv.put("a", b"again")
        assert kv.get("a") == b"again"

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_bad_keys_are_bad_requests(self, kv: KeyValueAPI, key: str) -> None:
        for call in (
            lambda: kv.get(key),
            lambda: kv.exists(key),
            lambda: kv.put(key, b"v"),
            lambda: kv.delete(key),
            lambda: kv.keys(key, "z"),
            lambda: kv.get_many(["ok", key]),
        ):
            with pytest.raises(BadRequestError):
                call()

    def test_bad_batch_writes_nothing(self, kv: KeyValueAPI) -> None:
        kv.put("keep", b"1")
        with pytest.raises(BadRequestError):
            kv.put_many({"ok": b"1", "a/b": b"2"})
        with pytest.raises(BadRequestError):
            kv.put_many({"ok": b"1", "text": "not bytes"})  # type: ignore[dict-item]
        with pytest.raises(BadRequestError):
            kv.put("text", "not bytes")  # type: ignore[arg-type]
        with pytest.raises(BadRequestError):
            kv.delete_many(["keep", ""])
        assert kv.keys() == ["keep"]

    def test_writes_to_a_committed_node_are_refused(self, backend: Backend) -> None:
        kv = backend.new("keyvalue")
        assert isinstance(kv, KeyValueAPI)
        kv.put("k", b"v")
        old = backend.commit(kv)
        assert isinstance(old, KeyValueAPI)
        for call in (
            lambda: old.put("k", b"w"),
            lambda: old.put_many({"x": b"1"}),
            lambda: old.put_from("k", io.BytesIO(b"w")),
            lambda: old.delete("k"),
            lambda: old.delete_many(["k"]),
        ):
            with pytest.raises(LockedNodeError):
                call()
        assert old.get("k") == b"v" and old.keys() == ["k"]


class TestLocalKeyValue(LocalSide, KeyValueContract):
    """KeyValue (datatypes/keyvalue/ops.py) on a RocksDB repository."""


class TestRemoteKeyValue(RemoteSide, KeyValueContract):
    """RemoteKeyValue (api/remote/keyvalue.py) against a real dvidctl serve."""
