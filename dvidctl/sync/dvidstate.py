"""A server without the sync API, as sync sees it: :class:`RepoInfo` from DVID's repo JSON.

``GET /api/repo/{uuid}/info`` gives the DAG (nodes keyed by UUID with integer
``VersionID``/``Parents``, ``Branch`` ``""`` for master, ``Locked``, ``Note``,
``Log``) and the data instances (``Base`` with ``TypeName``, ``DataUUID``,
``Versioned``, ``Compression``, ``Tags``; ``Extended`` with the type's
properties). Nodes get no digests (DVID has none); a branch's head is the node of
that branch without a child on it (DVID keeps no branch pointers in its JSON; a
merge child of master is master's head, as DVID's ``branch-versions`` walks).
Each instance's config is rebuilt as the creation config DVID would take, then
parsed by the local type, so the receiver creates it as ``POST instance`` would --
but a JPEG-stored grayscale instance, which is made lossless here (the default
codec): its voxels arrive as DVID decodes them and must read back exactly.
"""

from __future__ import annotations

import re
from typing import Any

from dvidctl.api.syncstate import InstanceInfo, NodeInfo, RepoInfo
from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError, DvidError, RemoteError

#: ``RepoInfo.protocol`` of a state read through DVID's endpoints (no sync API).
DVID_ENDPOINTS = 0

_COMPRESSION = {
    "no compression": "none",
    "go snappy compression": "snappy",
    "gzip compression": "gzip",
    "lz4 compression": "lz4",
    "jpeg compression": "jpeg",
    "zstd compression": "zstd",
}
_LABEL = re.compile(r"^(?P<name>[^,]+?)(?:,\s*level\s*(?P<level>-?\d+))?$")


def compression_of(label: Any) -> str | None:
    """DVID's ``"zstd compression, level 3"`` as a config value (``"zstd:3"``); None if unknown."""
    m = _LABEL.match(str(label or "").strip().lower())
    if not m or m.group("name") not in _COMPRESSION:
        return None
    name, level = _COMPRESSION[m.group("name")], m.group("level")
    return f"{name}:{level}" if level and int(level) > 0 and name in ("zstd", "jpeg") else name


def _triple(v: Any) -> str | None:
    if isinstance(v, list) and len(v) == 3:
        return ",".join(str(x) for x in v)
    return None


def creation_config(typename: str, base: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    """The ``POST instance`` config that makes an instance like the one described."""
    raw: dict[str, Any] = {"versioned": bool(base.get("Versioned", True))}
    comp = compression_of(base.get("Compression"))
    if comp is not None:
        raw["Compression"] = comp
    tags = base.get("Tags") or {}
    if isinstance(tags, dict) and tags:
        raw["Tags"] = ",".join(f"{k}={v}" for k, v in tags.items())
    if typename in ("uint8blk", "labelmap", "roi") and _triple(ext.get("BlockSize")):
        raw["BlockSize"] = _triple(ext.get("BlockSize"))
    if typename in ("uint8blk", "labelmap"):
        for key in ("VoxelSize", "VoxelUnits"):
            if _triple(ext.get(key)):
                raw[key] = _triple(ext.get(key))
        for key in ("MaxDownresLevel", "Background"):
            if isinstance(ext.get(key), int):
                raw[key] = ext[key]
    return raw


def _instance(name: str, doc: dict[str, Any]) -> InstanceInfo:
    base, ext = doc.get("Base") or {}, doc.get("Extended") or {}
    spec = registry.get(str(base.get("TypeName", "")))  # NotFoundError for an unknown type
    raw = creation_config(spec.name, base, ext)
    if str(raw.get("Compression", "")).startswith("jpeg"):
        # Voxels come as DVID decodes them; stored again as JPEG they would not read the
        # same (nor compare equal on the next fetch): kept losslessly here instead.
        del raw["Compression"]
    for key, value in spec.alias_defaults.get(str(base.get("TypeName")), {}).items():
        raw.setdefault(key, value)
    try:
        config = spec.parse_config(raw)
    except BadRequestError as exc:
        raise RemoteError(f"instance {name!r}: its config cannot be used here: {exc}") from None
    return InstanceInfo(
        name=name,
        typename=spec.name,
        data_uuid=str(base.get("DataUUID", "")),
        config=config,
        versioned=bool(base.get("Versioned", True)),
        tags={str(k): str(v) for k, v in (base.get("Tags") or {}).items()},
    )


def repo_info(doc: dict[str, Any]) -> RepoInfo:
    """:class:`RepoInfo` from DVID's repo JSON (``GET /api/repo/{uuid}/info``)."""
    try:
        dag = doc["DAG"]["Nodes"]
        by_vid = {int(n["VersionID"]): n for n in dag.values()}
        nodes = []
        for vid in sorted(by_vid):
            n = by_vid[vid]
            nodes.append(
                NodeInfo(
                    uuid=str(n["UUID"]),
                    parents=[str(by_vid[int(p)]["UUID"]) for p in n.get("Parents") or []],
                    branch=str(n.get("Branch", "")),
                    locked=bool(n.get("Locked")),
                    note=str(n.get("Note", "")),
                    log=[str(x) for x in n.get("Log") or []],
                    created=str(n.get("Created", "")),
                    updated=str(n.get("Updated", "")),
                    stamp=None,
                )
            )
        instances = [_instance(name, d) for name, d in sorted(doc["DataInstances"].items())]
        root = str(doc["Root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteError(f"the server's repository JSON is not DVID's ({exc!r})") from None
    except DvidError:
        raise
    return RepoInfo(
        root=root,
        alias=str(doc.get("Alias", "")),
        description=str(doc.get("Description", "")),
        instances=[i for i in instances if i.data_uuid],
        nodes=nodes,
        branches=branch_heads(nodes),
        protocol=DVID_ENDPOINTS,
    )


def branch_heads(nodes: list[NodeInfo]) -> dict[str, str]:
    """Per branch name, the newest node of the branch without a child on that branch."""
    on_child = {(p, n.branch) for n in nodes for p in n.parents}
    heads: dict[str, str] = {}
    for n in nodes:  # parents first: a later head of the same branch wins
        if (n.uuid, n.branch) not in on_child:
            heads[n.branch] = n.uuid
    return heads
