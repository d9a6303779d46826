"""Large keyvalue values stored as a manifest and pieces (keyvalue/chunks.py), on both engines.

The piece size is made small here (``CHUNK_BYTES`` = 1000) so that values of a
few KB take the large-value path; the CLI and server tests use real sizes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dvidctl import Repository
from dvidctl.datatypes.keyvalue import KeyValue, chunks
from dvidctl.datatypes.keyvalue import keys as kvkeys
from dvidctl.errors import ConflictError, CorruptDataError
from dvidctl.store.engine import CF_DATA
from dvidctl.store.keys import split_data_key
from tests.factories import commit_kv

N = 1000


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", N)


@pytest.fixture(params=["memory", "rocksdb"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    repo = Repository.memory() if request.param == "memory" else Repository.init(tmp_path)
    repo.new_instance("keyvalue", "kv")
    yield repo
    repo.close()


def _kv(repo: Repository, ref: str | None = None) -> KeyValue:
    inst = repo.node(ref).instance("kv")
    assert isinstance(inst, KeyValue)
    return inst


def _stored_pieces(repo: Repository) -> list[tuple[str, int, int]]:
    """``(key, piece index, version)`` of every stored piece version, live or tombstone."""
    out = []
    for k, _ in repo.engine.scan(CF_DATA, b""):
        _, tk, vid = split_data_key(k)
        if kvkeys.is_piece(tk):
            key, index, _ = kvkeys.split_piece(tk)
            out.append((key, index, vid))
    return out


def _visible_pieces(repo: Repository, ref: str | None = None) -> list[str]:
    kv = _kv(repo, ref)
    start = bytes([kvkeys.CLASS_PIECE])
    return [kvkeys.describe(tk) for tk, _ in kv._scan(start, bytes([kvkeys.CLASS_PIECE + 1]))]


SIZES = [0, 1, N - 1, N, N + 1, 2 * N, 2 * N + 1, 5 * N + 37]


@pytest.mark.parametrize("size", SIZES)
def test_every_path_round_trips_values_around_the_piece_size(repo: Repository, size: int) -> None:
    kv = _kv(repo)
    value = os.urandom(size)
    kv.put("put", value)
    kv.put_many({"many": value, "small": b"s"})
    kv.put_from("stream", io.BytesIO(value))
    for key in ("put", "many", "stream"):
        assert kv.get(key) == value
        assert kv.get_or_none(key) == value
        sink = io.BytesIO()
        assert kv.get_to(key, sink) == size and sink.getvalue() == value
        opened = kv.open_value(key)
        assert opened is not None and opened.size == size
        assert opened.read(3, size - 2) == value[3 : size - 2]
    assert dict(kv.items()) == {"many": value, "put": value, "small": b"s", "stream": value}
    assert kv.get_many(["put", "nope"]) == {"put": value, "nope": None}
    assert kv.keys() == ["many", "put", "small", "stream"]  # never a piece
    pieces = (size + N - 1) // N if size > N else 0
    assert len(_visible_pieces(repo)) == 3 * pieces


def test_put_from_a_real_file_and_a_pipe(repo: Repository, tmp_path: Path) -> None:
    kv = _kv(repo)
    value = os.urandom(7 * N + 5)
    path = tmp_path / "v.bin"
    path.write_bytes(value)
    with open(path, "rb") as f:
        f.read(5)  # from the file's position on
        assert kv.put_from("file", f) == len(value) - 5
    r, w = os.pipe()
    os.write(w, value)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        assert kv.put_from("pipe", pipe) == len(value)
    assert kv.get("file") == value[5:] and kv.get("pipe") == value
    assert kv.open_value("pipe").manifest.digest == chunks.digest(value)  # type: ignore[union-attr]


def test_a_small_value_that_looks_like_a_manifest_is_stored_in_pieces(repo: Repository) -> None:
    kv = _kv(repo)
    tricky = chunks.MAGIC + b"\x01" + bytes(40)
    kv.put("m", tricky)
    kv.put_from("n", io.BytesIO(tricky))
    assert kv.get("m") == tricky and kv.get("n") == tricky
    assert dict(kv.items()) == {"m": tricky, "n": tricky}
    assert _visible_pieces(repo) == ["m (piece 0)", "n (piece 0)"]


def test_overwrites_and_deletes_remove_the_old_pieces(repo: Repository) -> None:
    kv = _kv(repo)
    kv.put("k", os.urandom(4 * N))
    kv.put("k", b"small now")
    assert _visible_pieces(repo) == [] and _stored_pieces(repo) == []  # same open node: gone
    kv.put("k", os.urandom(3 * N))
    repo.commit("large")
    kv = _kv(repo)
    kv.put("k", os.urandom(2 * N))  # at the child: the parent's pieces get tombstones
    assert _visible_pieces(repo) == ["k (piece 0)", "k (piece 1)"]
    assert len(_visible_pieces(repo, "HEAD~1")) == 3
    assert kv.delete("k") is True
    assert _visible_pieces(repo) == [] and kv.get_or_none("k") is None
    assert len(_kv(repo, "HEAD~1").get("k")) == 3 * N  # the committed version is intact
    assert kv.delete("k") is False


def test_appending_writes_only_the_pieces_that_changed(repo: Repository) -> None:
    kv = _kv(repo)
    base = os.urandom(3 * N + 10)
    kv.put("log", base)
    repo.commit("base")
    kv = _kv(repo)
    grown = base + os.urandom(2 * N)
    sink = io.BytesIO(grown)
    kv.put_from("log", sink)
    written = sorted(
        kvkeys.describe(tk) for iid, tk, _ in repo.store.changes(repo.head_vid) if iid == kv.iid
    )
    # pieces 0-2 are the same bytes at the same place: kept; piece 3 changed (the old
    # one deleted, the new one written: two type keys), 4-5 are new
    assert written == ["log", "log (piece 3)", "log (piece 3)", "log (piece 4)", "log (piece 5)"]
    assert kv.get("log") == grown and _kv(repo, "HEAD~1").get("log") == base


def test_each_version_reads_its_own_value(repo: Repository) -> None:
    values = [os.urandom(3 * N + i) for i in range(3)]
    for i, v in enumerate(values):
        commit_kv(repo, {"k": v}, f"v{i}")
    for back, v in enumerate(reversed(values), start=1):
        assert _kv(repo, f"HEAD~{back}").get("k") == v


def test_a_damaged_or_missing_piece_is_corrupt_data(repo: Repository) -> None:
    kv = _kv(repo)
    kv.put("k", os.urandom(3 * N))
    ptk = next(tk for tk, _ in kv._scan(bytes([kvkeys.CLASS_PIECE]), None))
    b = kv._batch()
    b.put(kv.iid, ptk, b"x" * N)  # same key, other bytes
    b.commit()
    with pytest.raises(CorruptDataError, match="piece 0 of its value is damaged"):
        kv.get("k")
    b = kv._batch()
    b.delete(kv.iid, ptk)
    b.commit()
    with pytest.raises(CorruptDataError, match="piece 0 of its value is missing"):
        kv.get_to("k", io.BytesIO())


def test_a_read_sees_one_version_while_the_key_is_rewritten(repo: Repository) -> None:
    kv = _kv(repo)
    old, new = os.urandom(4 * N), os.urandom(4 * N)
    kv.put("k", old)
    opened = kv.open_value("k")
    assert opened is not None
    kv.put("k", new)  # deletes the old pieces at this open node
    assert b"".join(opened.chunks()) == old
    assert kv.get("k") == new


def test_diff_names_the_key_not_its_pieces(repo: Repository) -> None:
    commit_kv(repo, {"k": os.urandom(3 * N), "s": b"1"}, "a")
    commit_kv(repo, {"k": os.urandom(3 * N), "t": os.urandom(2 * N)}, "b")
    got = repo.diff("HEAD~2", "HEAD~1")["kv"]
    assert got == {"added": ["t"], "changed": ["k"], "deleted": []}


# ------------------------------------------------------------------- merges
def _fork(repo: Repository, base: dict[str, bytes | None]) -> None:
    commit_kv(repo, base, "base")
    repo.branch("dev")


def _diverge(repo: Repository, ours: dict[str, bytes | None], theirs: dict[str, bytes | None]):
    commit_kv(repo, ours, "ours")
    repo.checkout("dev")
    commit_kv(repo, theirs, "theirs")
    repo.checkout("master")


def test_a_conflicting_large_value_is_one_conflict_named_by_its_key(repo: Repository) -> None:
    shared = os.urandom(2 * N)  # same first pieces on both sides: not conflicts either
    _fork(repo, {"k": os.urandom(3 * N)})
    _diverge(repo, {"k": shared + os.urandom(N)}, {"k": shared + os.urandom(2 * N)})
    with pytest.raises(ConflictError) as info:
        repo.merge(["dev"], "m")
    assert [(d["instance"], d["key"]) for d in info.value.details] == [("kv", "k")]


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
def test_strategies_take_one_whole_value(repo: Repository, strategy: str) -> None:
    shared = os.urandom(2 * N)
    ours, theirs = shared + os.urandom(N + 3), shared + os.urandom(3 * N)
    _fork(repo, {"k": os.urandom(3 * N)})
    _diverge(repo, {"k": ours}, {"k": theirs})
    repo.merge(["dev"], "m", strategy=strategy)
    kv = _kv(repo)
    want = ours if strategy == "ours" else theirs
    assert kv.get("k") == want
    assert len(_visible_pieces(repo)) == (len(want) + N - 1) // N


@pytest.mark.parametrize("strategy", ["ours", "theirs"])
def test_a_value_kept_on_one_side_and_deleted_on_the_other(repo: Repository, strategy: str) -> None:
    base = os.urandom(4 * N)
    edited = base[: 2 * N] + os.urandom(2 * N)  # keeps pieces 0-1 that the delete removes
    _fork(repo, {"k": base})
    _diverge(repo, {"k": edited}, {"k": None})
    repo.merge(["dev"], "m", strategy=strategy)
    kv = _kv(repo)
    if strategy == "ours":
        assert kv.get("k") == edited and len(_visible_pieces(repo)) == 4
    else:
        assert kv.get_or_none("k") is None and _visible_pieces(repo) == []


def test_a_large_value_changed_on_one_side_merges_cleanly(repo: Repository) -> None:
    base = os.urandom(4 * N)
    _fork(repo, {"k": base, "a": b"1"})
    grown = base + os.urandom(N)
    _diverge(repo, {"a": b"2"}, {"k": grown})
    repo.merge(["dev"], "m")
    assert _kv(repo).get("k") == grown and _kv(repo).get("a") == b"2"


def test_fsck_checks_every_version_of_every_large_value(tmp_path: Path) -> None:
    from dvidctl.api.repository import fsck

    with Repository.init(tmp_path) as repo:
        repo.new_instance("keyvalue", "kv")
        commit_kv(repo, {"k": os.urandom(3 * N), "s": b"small"}, "v1")
        commit_kv(repo, {"k": os.urandom(4 * N)}, "v2")
    report = fsck(tmp_path)
    assert report.ok, report.to_dict()
    with Repository.open(tmp_path) as repo:
        kv = _kv(repo, "HEAD~2")
        ptk = next(tk for tk, _ in kv._scan(bytes([kvkeys.CLASS_PIECE]), None))
        # Other bytes under the piece's key, with a delta entry that agrees with them:
        # only the manifest's digests can tell.
        b = repo.store.batch(kv.vid, allow_locked=True)
        b.put(kv.iid, ptk, b"y" * N)
        b.commit()
    report = fsck(tmp_path)
    assert not report.ok
    found = [(p.kind, p.where, p.message) for p in report.problems]
    assert found == [
        (
            "bad-value",
            f"instance kv: keyvalue key 'k' at version {kv.vid}",
            "piece 0 does not match its digest",
        )
    ]


def test_pieces_written_past_the_instance_are_still_found(repo: Repository) -> None:
    """Small writes skip looking for pieces while the instance is known to have none;
    a write that did not go through it (sync receiving stored keys) ends that."""
    kv = _kv(repo)
    kv.put("k", b"small")  # the instance is now known to hold no pieces
    other = Repository.memory()
    other.new_instance("keyvalue", "kv")
    big = os.urandom(3 * N)
    _kv(other).put("k", big)
    b = repo.store.batch(kv.vid)
    for tk, payload in _kv(other)._scan():
        b.put(kv.iid, tk, payload)  # as sync writes stored values, past KeyValue
    for tk, payload in _kv(other)._scan(bytes([kvkeys.CLASS_PIECE]), None):
        b.put(kv.iid, tk, payload)
    b.commit()
    other.close()
    assert kv.get("k") == big and len(_visible_pieces(repo)) == 3
    kv.put("k", b"small again")
    assert _visible_pieces(repo) == [] and kv.get("k") == b"small again"
