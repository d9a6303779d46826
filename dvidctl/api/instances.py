"""Data instance operations bound onto :class:`Repository`: create, list, look up, delete."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError
from dvidctl.ids import check_instance_name, new_uuid
from dvidctl.store import metadata
from dvidctl.store.dag import now_iso
from dvidctl.store.engine import WriteBatch
from dvidctl.store.metadata import InstanceRecord

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def new_instance(
    repo: Repository,
    typename: str,
    name: str,
    config: Mapping[str, Any] | None = None,
    *,
    ref: str | None = None,
    data_uuid: str | None = None,
) -> InstanceRecord:
    """Create data instance ``name`` of type ``typename`` at node ``ref`` (default HEAD).

    The node must be open, as in DVID. The config is validated by the type.
    """
    check_instance_name(name)
    spec = registry.get(typename)
    if name in repo.state.instances:
        raise ConflictError(f"data instance {name!r} already exists")
    node = repo.dag.node(repo.resolve(ref))
    if node.locked:
        raise BadRequestError(
            "New data instance cannot be created on locked node",
            hint="commit opens a new node; create the instance there",
        )
    raw = dict(config or {})
    for key, value in spec.alias_defaults.get(typename, {}).items():
        if key.lower() not in {k.lower() for k in raw}:
            raw[key] = value  # e.g. labelblk's 32^3 blocks
    cfg = spec.parse_config(raw)
    wb = WriteBatch()
    with repo.store.write_lock:
        iid = repo.state.counters.get("iid", 0) + 1
        rec = InstanceRecord(
            name=name,
            typename=spec.name,
            iid=iid,
            data_uuid=data_uuid or new_uuid(),
            config=cfg,
            versioned=bool(cfg.get("versioned", True)),
            root_uuid=node.uuid,
            tags=dict(cfg.get("tags", {})),
        )
        if typename != spec.name:
            rec.config["alias"] = typename
        metadata.put_counter(wb, "iid", iid)
        metadata.put_instance(wb, rec)
        repo.engine.write(wb)
        repo.state.counters["iid"] = iid
        repo.state.instances[name] = rec
    return rec


def update_instance(repo: Repository, rec: InstanceRecord) -> None:
    """Persist a changed instance record (config edits such as extents or tags)."""
    wb = WriteBatch()
    metadata.put_instance(wb, rec)
    with repo.store.write_lock:
        repo.engine.write(wb)
        repo.state.instances[rec.name] = rec


def delete_instance(repo: Repository, name: str) -> InstanceRecord:
    """Delete data instance ``name`` from the repository at once (every version); returns it.

    One atomic write removes the record, notes the instance in
    ``deleted-inst/<iid>`` (name, type, data UUID, time) so a later gc can
    reclaim its data keys, and appends DVID's line to the repository log.
    Instance ids are never reused, so a new instance of the same name starts
    empty. The data stays on disk until that gc.
    """
    rec = instance_record(repo, name)
    with repo.instance_lock(rec.iid), repo.store.write_lock:
        when = now_iso()
        line = f"Delete data instance '{rec.name}' of type '{rec.typename}'"
        old = repo.state.repo
        new = dataclasses.replace(old, log=[*old.log, f"{when}  {line}"], updated=when)
        wb = WriteBatch()
        metadata.delete_instance(wb, rec, when)
        metadata.put_repo(wb, new)
        repo.engine.write(wb)
        del repo.state.instances[name]
        repo.state.repo = new
    return rec


def instances(repo: Repository) -> list[InstanceRecord]:
    """Every data instance, sorted by name."""
    return [repo.state.instances[n] for n in sorted(repo.state.instances)]


def instance_record(repo: Repository, name: str) -> InstanceRecord:
    """The record of instance ``name``; NotFoundError lists the existing ones."""
    try:
        return repo.state.instances[name]
    except KeyError:
        known = ", ".join(sorted(repo.state.instances)) or "none yet"
        raise NotFoundError(
            f"no data instance named {name!r}", hint=f"instances: {known}"
        ) from None
