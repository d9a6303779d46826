"""Opening a missing or damaged database: refused as corrupt-data, and nothing on disk changes.

Before, RocksDB was opened with ``create_if_missing``: a write command on a
repository whose ``db/CURRENT`` was lost replaced the database with an empty one
(every table file deleted). These tests damage a copy of a real database in each
way and check that every open (read-only and read-write) refuses it and leaves
every file byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import rocksdict

from dvidctl import Repository
from dvidctl.errors import CorruptDataError
from dvidctl.store import rocksfiles
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, COLUMN_FAMILIES, batch_from
from dvidctl.store.rocks import RocksEngine, _options

N_KEYS = 60


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (names and contents)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with several table files per column family and a many-record manifest."""
    path = tmp_path_factory.mktemp("base") / "db"
    with RocksEngine(path, create=True) as e:
        for round_ in range(3):
            e.write(
                batch_from(
                    (cf, b"k%02d-%03d" % (round_, i), os.urandom(500))
                    for cf in COLUMN_FAMILIES
                    for i in range(N_KEYS // 3)
                )
            )
            for cf in COLUMN_FAMILIES:
                e._cfs[cf].flush()
    return path


def _ssts(db: Path) -> list[Path]:
    return sorted(db.glob("*.sst"))


def _manifest(db: Path) -> Path:
    return db / rocksfiles.manifests(db)[-1]


def _cut_manifest(db: Path) -> None:
    m = _manifest(db)
    data = m.read_bytes()
    n = len(data) // 2
    while rocksfiles.walk_log(data[:n]) is None:  # not on a record boundary
        n += 1
    os.truncate(m, n)


def _drop_column_family(db: Path) -> None:
    """Re-create the database with only two of its three column families."""
    shutil.rmtree(db)
    opts = _options(create=True)
    cfs = {cf: _options(create=True) for cf in (CF_META, CF_DATA)}
    d = rocksdict.Rdict(str(db), opts, column_families=cfs)
    d.get_column_family(CF_DATA)[b"k"] = b"v"
    d.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "missing CURRENT": lambda db: (db / "CURRENT").unlink(),
    "CURRENT garbage": lambda db: (db / "CURRENT").write_bytes(b"\x00garbage"),
    "missing MANIFEST": lambda db: _manifest(db).unlink(),
    "MANIFEST cut in half": _cut_manifest,
    "empty MANIFEST": lambda db: os.truncate(_manifest(db), 0),
    "emptied directory": lambda db: [p.unlink() for p in db.iterdir()],
    "missing table file": lambda db: _ssts(db)[1].unlink(),
    "table file cut in half": lambda db: os.truncate(
        _ssts(db)[1], _ssts(db)[1].stat().st_size // 2
    ),
    "table file short by one byte": lambda db: os.truncate(
        _ssts(db)[1], _ssts(db)[1].stat().st_size - 1
    ),
    "missing column family": _drop_column_family,
    "missing table file and rocksdict's config": lambda db: [
        _ssts(db)[1].unlink(),
        (db / "rocksdict-config.json").unlink(),
    ],
}


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_database_is_refused_and_untouched(
    base_db: Path, tmp_path: Path, damage: str, read_only: bool
) -> None:
    db = tmp_path / "db"
    shutil.copytree(base_db, db)
    DAMAGE[damage](db)
    before = snapshot(tmp_path)
    with pytest.raises(CorruptDataError) as info:
        RocksEngine(db, read_only=read_only)
    err = info.value
    assert err.kind == "corrupt-data" and err.exit_code == 2
    assert str(db) in err.message and "damaged" in err.message
    assert err.hint and "copy" in err.hint
    assert snapshot(tmp_path) == before, "a refused open must not change any file"


def test_missing_current_names_the_manifest_and_restoring_it_recovers_everything(
    base_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    shutil.copytree(base_db, db)
    current = (db / "CURRENT").read_bytes()
    (db / "CURRENT").unlink()
    for _ in range(2):  # the second write used to find an empty database
        with pytest.raises(CorruptDataError, match="CURRENT file is missing") as info:
            RocksEngine(db)
    name = current.decode().strip()
    assert info.value.hint and name in info.value.hint
    (db / "CURRENT").write_bytes(current)
    with RocksEngine(db, read_only=True) as e:
        for cf in COLUMN_FAMILIES:
            assert len(list(e.scan(cf, b""))) == N_KEYS


def test_cut_manifest_is_refused_where_rocksdb_would_open_a_third_of_the_data(
    base_db: Path, tmp_path: Path
) -> None:
    """RocksDB reads a manifest cut inside a record without error, dropping later edits."""
    db = tmp_path / "db"
    shutil.copytree(base_db, db)
    _cut_manifest(db)
    opts = _options()
    cfs = {cf: _options() for cf in COLUMN_FAMILIES}
    raw = rocksdict.Rdict(
        str(db), opts, column_families=cfs, access_type=rocksdict.AccessType.read_only()
    )
    try:
        seen = sum(1 for _ in raw.get_column_family(CF_DATA).keys())
    finally:
        raw.close()
    assert seen < N_KEYS  # what an unchecked open would have shown (and then deleted)
    with pytest.raises(CorruptDataError, match="cut inside a record"):
        RocksEngine(db)


def test_only_create_makes_a_database(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with pytest.raises(CorruptDataError, match="missing"):
        RocksEngine(db)
    db.mkdir()
    with pytest.raises(CorruptDataError, match="holds no database"):
        RocksEngine(db)
    assert list(db.iterdir()) == []
    with RocksEngine(db, create=True) as e:
        e.write(batch_from([(CF_DELTA, b"k", b"v")]))
    with RocksEngine(db) as e:
        assert e.get(CF_DELTA, b"k") == b"v"


def test_database_without_repository_record_is_corrupt_data(tmp_path: Path) -> None:
    (tmp_path / ".dvid").mkdir()
    RocksEngine(tmp_path / ".dvid" / "db", create=True).close()
    with pytest.raises(CorruptDataError, match="without a repository record") as info:
        Repository.open(tmp_path)
    assert info.value.hint and "init" in info.value.hint


def test_metadata_that_does_not_decode_is_corrupt_data(tmp_path: Path) -> None:
    Repository.init(tmp_path).close()
    with RocksEngine(tmp_path / ".dvid" / "db") as e:
        e.write(batch_from([(CF_META, b"node/\x00\x00\x00\x01", b"{not json")]))
    with pytest.raises(CorruptDataError, match="node/"):
        Repository.open(tmp_path)


def test_info_logs_are_bounded(tmp_path: Path) -> None:
    """Each read-write open used to leave a ~70 KB LOG.old file behind, forever."""
    db = tmp_path / "db"
    RocksEngine(db, create=True).close()
    for _ in range(8):
        RocksEngine(db).close()
    logs = [p for p in db.iterdir() if p.name.startswith("LOG")]
    assert len(logs) <= 4, sorted(p.name for p in logs)
