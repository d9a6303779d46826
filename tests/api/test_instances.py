"""Data instances: create, list, look up, refuse (dvidctl/api/instances.py)."""

from __future__ import annotations

import pytest

from dvidctl import Repository
from dvidctl.datatypes.keyvalue import KeyValue
from dvidctl.errors import BadRequestError, ConflictError, LockedNodeError, NotFoundError
from dvidctl.ids import RESERVED_INSTANCE_NAMES
from tests.factories import repo_snapshot


def test_new_instance_record(mem_repo: Repository) -> None:
    rec = mem_repo.new_instance("keyvalue", "kv", {"Versioned": "true", "Tags": "a=1,b=2"})
    assert rec.name == "kv" and rec.typename == "keyvalue" and rec.iid == 1
    assert (
        rec.versioned and rec.tags == {"a": "1", "b": "2"} and rec.root_uuid == mem_repo.root_uuid
    )
    assert len(rec.data_uuid) == 32
    rec2 = mem_repo.new_instance("keyvalue", "kv2")
    assert rec2.iid == 2 and mem_repo.state.counters["iid"] == 2
    assert [r.name for r in mem_repo.instances()] == ["kv", "kv2"]
    assert mem_repo.instance_record("kv2") is rec2
    inst = mem_repo.head.instance("kv")
    assert isinstance(inst, KeyValue) and inst.iid == 1 and inst.vid == mem_repo.head.vid


def test_info(mem_repo: Repository) -> None:
    mem_repo.new_instance("keyvalue", "kv")
    info = mem_repo.head.instance("kv").info()
    base = info["Base"]
    assert base["TypeName"] == "keyvalue" and base["Name"] == "kv"
    assert base["RepoUUID"] == mem_repo.root_uuid and base["Versioned"] is True
    assert base["TypeURL"].endswith("datatype/keyvalue") and info["Extended"] == {}


def test_duplicate_name(mem_repo: Repository) -> None:
    mem_repo.new_instance("keyvalue", "kv")
    before = repo_snapshot(mem_repo)
    with pytest.raises(ConflictError):
        mem_repo.new_instance("keyvalue", "kv")
    assert repo_snapshot(mem_repo) == before


@pytest.mark.parametrize("name", sorted(RESERVED_INSTANCE_NAMES) + ["a/b", "", "-x", "x y"])
def test_reserved_and_bad_names(mem_repo: Repository, name: str) -> None:
    with pytest.raises(BadRequestError):
        mem_repo.new_instance("keyvalue", name)
    assert mem_repo.instances() == []


def test_unknown_type(mem_repo: Repository) -> None:
    with pytest.raises(NotFoundError) as info:
        mem_repo.new_instance("nosuchtype", "x")
    assert info.value.hint and "keyvalue" in info.value.hint
    assert mem_repo.instances() == []


def test_bad_config(mem_repo: Repository) -> None:
    with pytest.raises(BadRequestError):
        mem_repo.new_instance("keyvalue", "kv", {"blocksize": "32"})
    with pytest.raises(BadRequestError):
        mem_repo.new_instance("keyvalue", "kv", {"Compression": "rar"})
    assert mem_repo.instances() == []


def test_creation_on_locked_node_refused(mem_repo: Repository) -> None:
    mem_repo.commit("c0")
    before = repo_snapshot(mem_repo)
    with pytest.raises((BadRequestError, LockedNodeError), match="locked"):
        mem_repo.new_instance("keyvalue", "kv", ref="HEAD~1")
    assert repo_snapshot(mem_repo) == before
    rec = mem_repo.new_instance("keyvalue", "kv")  # HEAD is the open child
    assert rec.root_uuid == mem_repo.head.uuid


def test_unknown_instance_lists_known(mem_repo: Repository) -> None:
    mem_repo.new_instance("keyvalue", "kv")
    with pytest.raises(NotFoundError) as info:
        mem_repo.head.instance("nope")
    assert info.value.hint and "kv" in info.value.hint


def test_instance_visible_at_every_node(mem_repo: Repository) -> None:
    mem_repo.commit("c0")
    mem_repo.new_instance("keyvalue", "kv")
    # instances are repo-wide, as in DVID; older nodes simply hold no data
    assert mem_repo.node("HEAD~1").instance("kv").keys() == []  # type: ignore[attr-defined]
