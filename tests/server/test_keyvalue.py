"""keyvalue endpoints: key, keys, keyrange, keyrangevalues, keyvalues (protobuf, json, tar)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from dvidctl.datatypes.keyvalue import proto as kvproto


@pytest.fixture
def filled(client, kv):
    for k, v in {"a": b'{"x":1}', "b": b"", "c": b"0123456789", "d/e": None}.items():
        if v is not None:
            assert client.post(f"/api/node/{kv}/kv/key/{k}", content=v).status_code == 200
    return kv


def test_key_get_head_post_delete(client, filled):
    u = filled
    r = client.get(f"/api/node/{u}/kv/key/c")
    assert r.content == b"0123456789" and r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "application/octet-stream"
    assert client.head(f"/api/node/{u}/kv/key/c").status_code == 200
    assert client.head(f"/api/node/{u}/kv/key/zz").status_code == 404
    r = client.get(f"/api/node/{u}/kv/key/zz")
    assert r.status_code == 404 and 'Key "zz" not found' in r.text
    assert client.get(f"/api/node/{u}/kv/key/b").content == b""
    assert client.delete(f"/api/node/{u}/kv/key/c").status_code == 200
    assert client.get(f"/api/node/{u}/kv/key/c").status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "body", "crange"),
    [
        ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-12", 416, b"Range start 10 is outside value with 10 bytes\n", "bytes */10"),
        ("bytes=-0", 416, b'Range "bytes=-0" is not satisfiable\n', "bytes */10"),
        ("bytes=1-2,4-5", 200, b"0123456789", None),
        ("bytes=5-2", 200, b"0123456789", None),
        ("items=1-2", 200, b"0123456789", None),
    ],
)
def test_key_range_reads(client, filled, header, status, body, crange):
    r = client.get(f"/api/node/{filled}/kv/key/c", headers={"Range": header})
    assert r.status_code == status and r.content == body
    assert r.headers.get("content-range") == crange


def test_key_range_header_on_an_empty_value_is_416(client, filled):
    r = client.get(f"/api/node/{filled}/kv/key/b", headers={"Range": "bytes=-3"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */0"
    assert "not satisfiable for an empty value" in r.text


def test_key_byte_start_end(client, filled):
    r = client.get(f"/api/node/{filled}/kv/key/c?byte_start=3&byte_end=5")
    assert r.status_code == 200 and r.content == b"345"
    assert client.get(f"/api/node/{filled}/kv/key/c?byte_start=3").status_code == 400
    assert client.get(f"/api/node/{filled}/kv/key/c?byte_start=x&byte_end=2").status_code == 400
    assert client.get(f"/api/node/{filled}/kv/key/c?byte_start=5&byte_end=2").status_code == 400


def test_key_byte_ranges_are_strict_as_dvid(client, filled):
    """keyvalue.go 784/787: past the end is a 400; 1067: Range with byte_start is a 400."""
    c = f"/api/node/{filled}/kv/key/c"
    r = client.get(c + "?byte_start=5&byte_end=10")
    assert r.status_code == 400
    assert 'byte_end 10 is outside value for key "c" with 10 bytes' in r.text
    r = client.get(c + "?byte_start=10&byte_end=12")
    assert r.status_code == 400 and "byte_start 10 is outside value" in r.text
    assert client.get(c + "?byte_start=9&byte_end=9").content == b"9"
    r = client.get(c + "?byte_start=1&byte_end=2", headers={"Range": "bytes=1-2"})
    assert r.status_code == 400 and "cannot combine Range header" in r.text
    assert client.get(f"/api/node/{filled}/kv/key/zz?byte_start=0&byte_end=1").status_code == 404


def test_keyvalues_byte_ranges_are_strict_as_dvid(client, filled):
    """keyvalue.go 864-889: every ranged value must lie inside its value; with json=true
    a ranged value must still be JSON (keyvalue.go 884)."""
    u = filled

    def get(query, body):
        return client.request("GET", f"/api/node/{u}/kv/keyvalues{query}", content=body)

    ranged = json.dumps(["a", {"key": "c", "byte_start": 2, "byte_end": 4}])
    assert get("?json=true", ranged).json() == {"a": {"x": 1}, "c": 234}
    r = get("?json=true", json.dumps([{"key": "c", "byte_start": 0, "byte_end": 1}]))
    assert r.status_code == 400 and 'bad JSON for key "c" after byte range' in r.text
    r = get("?json=true", json.dumps([{"key": "a", "byte_start": 0, "byte_end": 3}]))
    assert r.status_code == 400  # '{"x' is no JSON
    past = [{"key": "c", "byte_start": 8, "byte_end": 10}]
    for query in ("?json=true", "?tar=true"):
        r = get(query, json.dumps(past))
        assert r.status_code == 400 and "byte_end 10 is outside value" in r.text
    r = get("", kvproto.encode_keys([], [kvproto.KeyRange("c", 8, 10)]))
    assert r.status_code == 400 and "byte_end 10 is outside value" in r.text
    r = get("", kvproto.encode_keys([], [kvproto.KeyRange("c", 4, 2)]))
    assert r.status_code == 400 and "byte_start 4 must be <= byte_end 2" in r.text
    r = get("?json=true", json.dumps([{"key": "c", "byte_start": 4, "byte_end": 2}]))
    assert r.status_code == 400 and "byte_start 4 must be <= byte_end 2" in r.text
    r = get("?json=true", json.dumps([{"key": "c", "byte_start": 4}]))
    assert r.status_code == 400 and "requires both byte_start and byte_end" in r.text
    # a missing key with a range is missing, not an error
    assert get(
        "?json=true", json.dumps([{"key": "zz", "byte_start": 0, "byte_end": 1}])
    ).json() == {"zz": {}}


def test_keys_and_keyrange(client, filled):
    assert client.get(f"/api/node/{filled}/kv/keys").json() == ["a", "b", "c"]
    assert client.get(f"/api/node/{filled}/kv/keyrange/b/c").json() == ["b", "c"]
    assert client.get(f"/api/node/{filled}/kv/keyrange/a/a").json() == ["a"]
    assert client.get(f"/api/node/{filled}/kv/keyrange/x/z").json() == []


def test_keyrangevalues_three_forms(client, filled):
    u = filled
    r = client.get(f"/api/node/{u}/kv/keyrangevalues/a/c")
    assert r.headers["content-type"] == "application/octet-stream"
    assert kvproto.decode_key_values(r.content) == [
        ("a", b'{"x":1}'),
        ("b", b""),
        ("c", b"0123456789"),
    ]
    r = client.get(f"/api/node/{u}/kv/keyrangevalues/a/b?json=true")
    assert r.json() == {"a": {"x": 1}, "b": {}}
    r = client.get(f"/api/node/{u}/kv/keyrangevalues/a/c?json=true&check=true")
    assert r.status_code == 400 and "bad JSON for key 'c'" in r.text
    r = client.get(f"/api/node/{u}/kv/keyrangevalues/a/c?tar=true")
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == ["a", "b", "c"] and members[0].mode == 0o755
        assert tf.extractfile("c").read() == b"0123456789"  # type: ignore[union-attr]
    assert client.get(f"/api/node/{u}/kv/keyrangevalues/a/c?tar=true&json=true").status_code == 400


def test_keyvalues_get_forms(client, filled):
    u = filled
    body = kvproto.encode_keys(["c", "zz"], [kvproto.KeyRange("c", 2, 4)])
    r = client.request("GET", f"/api/node/{u}/kv/keyvalues", content=body)
    assert kvproto.decode_key_values(r.content) == [
        ("c", b"0123456789"),
        ("zz", b""),
        ("c", b"234"),
    ]
    r = client.request(
        "GET",
        f"/api/node/{u}/kv/keyvalues?json=true",
        content=json.dumps(["a", {"key": "c", "byte_start": 2, "byte_end": 3}]),
    )
    assert r.status_code == 200 and r.json() == {"a": {"x": 1}, "c": 23}
    r = client.request(
        "GET", f"/api/node/{u}/kv/keyvalues?jsontar=true", content=json.dumps(["c", "zz"])
    )
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        assert [(m.name, m.size) for m in tf.getmembers()] == [("c", 10), ("zz", 0)]
    assert (
        client.request("GET", f"/api/node/{u}/kv/keyvalues?json=true", content=b"{").status_code
        == 400
    )
    assert (
        client.request(
            "GET", f"/api/node/{u}/kv/keyvalues?json=true", content=b'{"a":1}'
        ).status_code
        == 400
    )
    assert (
        client.request("GET", f"/api/node/{u}/kv/keyvalues", content=b"\xff\xff\xff").status_code
        == 400
    )


def test_keyvalues_post_is_atomic_and_not_mutation_on_get(client, kv):
    body = kvproto.encode_key_values([("k1", b"v1"), ("k2", b""), ("k3", b"x" * 3000)])
    assert client.post(f"/api/node/{kv}/kv/keyvalues", content=body).status_code == 200
    assert client.get(f"/api/node/{kv}/kv/keys").json() == ["k1", "k2", "k3"]
    assert len(client.get(f"/api/node/{kv}/kv/key/k3").content) == 3000
    # A malformed body writes nothing.
    bad = kvproto.encode_key_values([("k9", b"v")]) + b"\x0a\xff"
    assert client.post(f"/api/node/{kv}/kv/keyvalues", content=bad).status_code == 400
    assert "k9" not in client.get(f"/api/node/{kv}/kv/keys").json()
    # GET keyvalues with a body works on a locked node (it is not a mutation).
    client.post(f"/api/node/{kv}/commit", json={})
    r = client.request("GET", f"/api/node/{kv}/kv/keyvalues?json=true", content=b'["k1"]')
    assert r.status_code == 200 and r.content == b'{"k1":v1}'


def test_locked_node_refuses_kv_writes_with_dvid_message(client, filled):
    client.post(f"/api/node/{filled}/commit", json={})
    for method in ("POST", "DELETE"):
        r = client.request(method, f"/api/node/{filled}/kv/key/a", content=b"z")
        assert r.status_code == 400
        assert f'Cannot do {method} on endpoint "key" of locked node {filled}' in r.text
    assert client.get(f"/api/node/{filled}/kv/key/a").content == b'{"x":1}'


def test_large_value_streams_back_intact(client, kv):
    big = bytes(range(256)) * (3 * 4096 + 7)  # > 3 MiB, streamed in 1 MiB pieces
    client.post(f"/api/node/{kv}/kv/key/big", content=big)
    assert client.get(f"/api/node/{kv}/kv/key/big").content == big


def test_kvproto_round_trip_and_unknown_fields():
    items = [("a", b"1"), ("", b""), ("ü", bytes(300))]
    assert kvproto.decode_key_values(kvproto.encode_key_values(items)) == [(k, v) for k, v in items]
    keys, ranges = kvproto.decode_keys(
        kvproto.encode_keys(["x"], [kvproto.KeyRange("y", 1, 2**40)])
    )
    assert keys == ["x"] and ranges == [kvproto.KeyRange("y", 1, 2**40)]
    # field 7 varint + field 8 fixed64 are skipped
    extra = b"\x38\x05" + b"\x41" + bytes(8)
    assert kvproto.decode_keys(extra + kvproto.encode_keys(["q"]))[0] == ["q"]


# ------------------------------------------------------------ large values
@pytest.fixture
def small_pieces(monkeypatch):
    """Values above 1000 bytes take the large-value path (manifest and pieces)."""
    from dvidctl.datatypes.keyvalue import chunks

    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1000)


def test_large_values_answer_every_form_whole(client, kv, small_pieces):
    big = bytes(range(256)) * 20  # 5120 bytes: 6 pieces
    js = json.dumps({"k": "v" * 3000}).encode()
    assert client.post(f"/api/node/{kv}/kv/key/big", content=big).status_code == 200
    assert client.post(f"/api/node/{kv}/kv/key/js", content=js).status_code == 200
    r = client.get(f"/api/node/{kv}/kv/key/big")
    assert r.content == big and r.headers["content-length"] == str(len(big))
    assert client.head(f"/api/node/{kv}/kv/key/big").status_code == 200
    r = client.get(f"/api/node/{kv}/kv/key/big", headers={"Range": "bytes=990-2010"})
    assert r.status_code == 206 and r.content == big[990:2011]
    assert r.headers["content-range"] == f"bytes 990-2010/{len(big)}"
    r = client.get(f"/api/node/{kv}/kv/key/big?byte_start=1999&byte_end=5119")
    assert r.content == big[1999:]
    r = client.get(f"/api/node/{kv}/kv/key/big?byte_start=10&byte_end=5120")
    assert r.status_code == 400 and "outside value" in r.text
    assert client.get(f"/api/node/{kv}/kv/keys").json() == ["big", "js"]
    assert client.get(f"/api/node/{kv}/kv/keyrange/a/z").json() == ["big", "js"]
    got = kvproto.decode_key_values(client.get(f"/api/node/{kv}/kv/keyrangevalues/a/z").content)
    assert got == [("big", big), ("js", js)]
    body = kvproto.encode_keys(["big", "js"])
    got = kvproto.decode_key_values(
        client.request("GET", f"/api/node/{kv}/kv/keyvalues", content=body).content
    )
    assert got == [("big", big), ("js", js)]
    r = client.request("GET", f"/api/node/{kv}/kv/keyvalues?json=true", content=b'["js"]')
    assert r.json() == {"js": json.loads(js)}
    r = client.request("GET", f"/api/node/{kv}/kv/keyvalues?tar=true", content=b'["big"]')
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tf:
        member = tf.extractfile("big")
        assert member is not None and member.read() == big
    assert client.delete(f"/api/node/{kv}/kv/key/big").status_code == 200
    assert client.get(f"/api/node/{kv}/kv/key/big").status_code == 404


def test_a_streamed_body_past_the_limit_writes_nothing(repo, kv, client_factory, small_pieces):
    from dvidctl.server.state import ServerSettings

    c = client_factory([repo], ServerSettings(max_body=5000))

    def chunked():  # no Content-Length: the limit is found while the body is read
        for _ in range(6):
            yield b"x" * 1000

    r = c.post(f"/api/node/{kv}/kv/key/a", content=chunked())
    assert r.status_code == 413 and "exceeds the limit" in r.text
    assert c.get(f"/api/node/{kv}/kv/keys").json() == []
    assert not list(repo.engine.scan("data", b""))  # nothing of it was written
    r = c.post(f"/api/node/{kv}/kv/key/a", content=iter([b"y" * 3000, b"z" * 2000]))
    assert r.status_code == 200
    assert c.get(f"/api/node/{kv}/kv/key/a").content == b"y" * 3000 + b"z" * 2000
