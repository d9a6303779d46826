"""A read that finds damaged database files gets a plain-text error; the server keeps serving."""

from __future__ import annotations

from pathlib import Path

from dvidctl import Repository
from dvidctl.store.rocks import RocksEngine
from tests.server.conftest import make_client


def test_corrupt_block_is_an_error_response_and_serving_goes_on(tmp_path: Path) -> None:
    with Repository.init(tmp_path) as r:
        r.new_instance("keyvalue", "kv")
        kv = r.head.instance("kv")
        kv.put("k1", b"1" * 5000)  # one table block each
        kv.put("k2", b"2" * 5000)
        uuid = r.root_uuid
    db = tmp_path / ".dvid" / "db"
    with RocksEngine(db) as e:
        e._cfs["data"].flush()
    sst = next(p for p in db.glob("*.sst") if b"1" * 5000 in p.read_bytes())
    raw = bytearray(sst.read_bytes())
    start = raw.index(b"1" * 5000)
    raw[:start] = b"\xff" * start  # k1's entry header: RocksDB cannot parse the block
    sst.write_bytes(bytes(raw))
    repo = Repository.open(tmp_path)
    try:
        client = make_client([repo])
        bad = client.get(f"/api/node/{uuid}/kv/key/k1")
        assert 400 <= bad.status_code < 600
        assert bad.headers["content-type"].startswith("text/plain")
        assert "reading the database" in bad.text and "Corruption" in bad.text
        assert client.get(f"/api/node/{uuid}/kv/key/k2").content == b"2" * 5000
        assert client.get("/api/server/info").status_code == 200
    finally:
        repo.close()
