"""Body meshes of a labelmap, stored as DVID's neuroglancer mesh keys and kept up to date.

``update_meshes(node, "segmentation", [17, 23])`` meshes bodies 17 and 23
(:mod:`dvidctl.datatypes.labelmap.surface`, zmesh) and stores each as
``17.ngmesh`` in the keyvalue instance ``segmentation_meshes`` (created at the
node when missing), where neuroglancer's DVID source looks for it. The CLI
(``dvidctl mesh``) and the server (the console's mesh helpers) both call it.

Which meshes are out of date is found without reading the volume. The meshes
instance keeps a manifest, ``dvidctl-meshes.json``: the node it was written at,
the digests of that node's writes to the labelmap then (one per block that a
meshed body lies in, one for the rest), and per body its scale-0 blocks. A later
run takes the labelmap blocks that changed since from
the delta index (``diff`` between the manifest's node and this one, plus that
node's own later writes), so its cost grows with the change, not the volume.
A body is stale when one of its blocks changed or a changed block now holds it;
its new block set is its old one minus the changed blocks plus the changed
blocks that hold it. A stale body left for later keeps ``"stale": true``; a body
that is gone has its key deleted. The manifest is versioned with the meshes, so
each branch knows its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes.imageblk.blockkeys import TKEY_LEN, Coord, decode_block_tkey
from dvidctl.datatypes.keyvalue.ops import KeyValue
from dvidctl.datatypes.labelmap import surface
from dvidctl.datatypes.labelmap.ngmesh import Mesh, encode_ngmesh
from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.errors import BadRequestError, CorruptDataError, LockedNodeError, NotFoundError
from dvidctl.store.diff import diff_nodes

if TYPE_CHECKING:
    from dvidctl.api.node import Node

SUFFIX = "_meshes"
MANIFEST_KEY = "dvidctl-meshes.json"
MESH_KEY = "{label}.ngmesh"


def meshes_name(name: str) -> str:
    """The keyvalue instance holding the meshes of labelmap ``name`` (DVID's convention)."""
    return name + SUFFIX


def mesh_key(label: int) -> str:
    """The key of a body's mesh, as neuroglancer's DVID source asks for it."""
    return MESH_KEY.format(label=int(label))


@dataclass
class MeshReport:
    """What :func:`update_meshes` did."""

    instance: str
    meshes: str
    node: str
    #: label -> {"scale", "vertices", "faces", "bytes"} of each mesh written
    built: dict[int, dict[str, int]] = field(default_factory=dict)
    #: bodies no longer in the volume: their keys were deleted
    removed: list[int] = field(default_factory=list)
    #: asked for, but up to date
    unchanged: list[int] = field(default_factory=list)
    #: stale bodies not rebuilt this time (a run naming other labels)
    stale: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (labels as strings, as JSON keys must be)."""
        return {
            "instance": self.instance,
            "meshes": self.meshes,
            "node": self.node,
            "built": {str(k): v for k, v in sorted(self.built.items())},
            "removed": sorted(self.removed),
            "unchanged": sorted(self.unchanged),
            "stale": sorted(self.stale),
        }


# ------------------------------------------------------------------ lookups
def labelmap_at(node: Node, name: str) -> LabelMap:
    """The labelmap instance ``name`` at ``node`` (BadRequestError for another type)."""
    inst = node.instance(name)
    if not isinstance(inst, LabelMap):
        raise BadRequestError(
            f"data instance {name!r} is a {inst.spec.name}, not a labelmap: only label bodies "
            "are meshed"
        )
    return inst


def _meshes_at(node: Node, name: str) -> KeyValue | None:
    kv_name = meshes_name(name)
    if kv_name not in node.repo.state.instances:
        return None
    kv = node.instance(kv_name)
    if not isinstance(kv, KeyValue):
        raise BadRequestError(
            f"data instance {kv_name!r} is a {kv.spec.name}; meshes of {name!r} need it to be "
            "a keyvalue instance"
        )
    return kv


def read_manifest(kv: KeyValue | None) -> dict[str, Any]:
    """The manifest of a meshes instance (an empty one when there is none)."""
    raw = None if kv is None else kv.get_or_none(MANIFEST_KEY)
    if raw is None:
        return {"labels": {}}
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("labels"), dict):
            raise ValueError("not an object with labels")
    except ValueError as exc:
        raise CorruptDataError(
            f"{kv.name if kv else ''}/{MANIFEST_KEY} is not a mesh manifest: {exc}",
            hint="delete the key; 'dvidctl mesh' then rebuilds the manifest of named labels",
        ) from None
    return doc


def _node_writes(node: Node, seg: LabelMap, vid: int) -> dict[Coord, str]:
    """The scale-0 blocks of ``seg`` that node ``vid`` has written, with their delta digests."""
    out: dict[Coord, str] = {}
    for _, tkey, digest in node.store.changes(vid, seg.iid):
        c = _scale0_block(seg, tkey)
        if c is not None:
            out[c] = digest.hex()[:16]
    return out


def _rest_digest(writes: dict[Coord, str], skip: dict[str, str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for c, d in sorted(writes.items()):
        if _key(c) not in skip:
            h.update(f"{_key(c)}={d};".encode())
    return h.hexdigest()


def _key(c: Coord) -> str:
    z, y, x = c
    return f"{x}_{y}_{z}"


def _node_record(node: Node, seg: LabelMap, meshed: set[Coord]) -> dict[str, Any]:
    """What the manifest keeps of its own node's writes to ``seg``.

    The digests of the written blocks that meshed bodies lie in, one by one, and one
    digest of the node's other written blocks: a later write at the same (open) node
    shows as a changed digest, as exactly as the blocks that matter need.
    """
    writes = _node_writes(node, seg, node.vid)
    mine = {_key(c): d for c, d in writes.items() if c in meshed}
    return {"node_blocks": mine, "node_rest": _rest_digest(writes, mine)}


def _scale0_block(seg: LabelMap, tkey: bytes) -> Coord | None:
    if len(tkey) != TKEY_LEN or tkey[0] != seg.key_class:
        return None
    scale, coord = decode_block_tkey(tkey)
    return coord if scale == 0 else None


def changed_blocks(node: Node, seg: LabelMap, manifest: dict[str, Any]) -> set[Coord] | None:
    """Scale-0 blocks of ``seg`` changed since the manifest was written (None: unknown)."""
    built_vid = node.repo.dag.by_uuid.get(str(manifest.get("node", "")))
    if built_vid is None:
        return None
    tkeys: set[bytes] = set()
    for d in diff_nodes(node.store, built_vid, node.vid, {seg.iid}).values():
        tkeys.update(d.added, d.changed, d.deleted)
    out = {c for tk in tkeys if (c := _scale0_block(seg, tk)) is not None}
    # the manifest's node may have written more since (an open node)
    recorded: dict[str, str] = manifest.get("node_blocks", {})
    writes = _node_writes(node, seg, built_vid)
    now = {_key(c): (c, d) for c, d in writes.items()}
    out.update(c for k, (c, d) in now.items() if k in recorded and recorded[k] != d)
    out.update(_coord([int(v) for v in k.split("_")]) for k in recorded if k not in now)
    if _rest_digest(writes, recorded) != manifest.get("node_rest"):
        out.update(c for k, (c, _) in now.items() if k not in recorded)
    return out


@dataclass
class _State:
    """Per body: its scale-0 blocks now, and whether its stored mesh is out of date."""

    blocks: dict[int, set[Coord]]
    stale: set[int]
    entries: dict[int, dict[str, Any]]


def _coord(xyz: list[int]) -> Coord:
    x, y, z = (int(v) for v in xyz)
    return (z, y, x)


def _current_state(node: Node, seg: LabelMap, manifest: dict[str, Any]) -> _State:
    entries = {int(k): dict(v) for k, v in manifest["labels"].items()}
    blocks = {lab: {_coord(c) for c in e.get("blocks", [])} for lab, e in entries.items()}
    stale = {lab for lab, e in entries.items() if e.get("stale")}
    if not entries:
        return _State({}, set(), {})
    changed = changed_blocks(node, seg, manifest)
    if changed is None:  # the manifest's node is unknown here: find every body again
        found = surface.body_blocks(seg, entries)
        return _State(found, set(entries), entries)
    if changed:
        holding = surface.labels_in_blocks(seg, changed, set(entries))
        for lab, old in blocks.items():
            now = {c for c, labs in holding.items() if lab in labs}
            if old & changed or now:
                stale.add(lab)
                blocks[lab] = (old - changed) | now
    return _State(blocks, stale, entries)


# ------------------------------------------------------------------- status
def mesh_status(node: Node, name: str) -> dict[str, Any]:
    """Which bodies of labelmap ``name`` have stored meshes at ``node``, and which are stale."""
    seg = labelmap_at(node, name)
    kv = _meshes_at(node, name)
    manifest = read_manifest(kv)
    state = _current_state(node, seg, manifest)
    labels = {
        str(lab): {
            "stale": lab in state.stale,
            "blocks": len(state.blocks.get(lab, ())),
            **{k: e[k] for k in ("scale", "vertices", "faces") if k in e},
        }
        for lab, e in sorted(state.entries.items())
    }
    stored = [] if kv is None else [k for k in kv.keys() if k.endswith(".ngmesh")]
    known = {mesh_key(lab) for lab in state.entries}
    return {
        "instance": name,
        "meshes": meshes_name(name),
        "exists": kv is not None,
        "manifest_node": manifest.get("node"),
        "labels": labels,
        "other_keys": sorted(k for k in stored if k not in known),
    }


# ------------------------------------------------------------------ meshing
def compute_mesh(
    node: Node,
    name: str,
    label: int,
    *,
    scale: int | None = None,
    max_voxels: int = surface.DEFAULT_MAX_VOXELS,
    simplify: int = 0,
) -> tuple[Mesh, int]:
    """Mesh one body without storing it; returns ``(mesh, scale)`` (NotFoundError if absent)."""
    seg = labelmap_at(node, name)
    label = surface.check_label(label)
    blocks = surface.body_blocks(seg, [label])[label]
    if not blocks:
        raise NotFoundError(f"label {label} is not in {name!r} at node {node.uuid[:10]}")
    return surface.mesh_body(
        seg, label, blocks, scale=scale, max_voxels=max_voxels, simplify=simplify
    )


def update_meshes(
    node: Node,
    name: str,
    labels: Iterable[int] | None = None,
    *,
    all_labels: bool = False,
    force: bool = False,
    scale: int | None = None,
    max_voxels: int = surface.DEFAULT_MAX_VOXELS,
    simplify: int = 0,
) -> MeshReport:
    """Mesh bodies of labelmap ``name`` at ``node`` into ``{name}_meshes`` (see module doc).

    Args:
        node: An open node (or a view allowed to write a committed one).
        name: The labelmap instance.
        labels: Bodies to mesh: built when new or stale (or ``force``), else left
            as they are. None: rebuild every stale body of the manifest.
        all_labels: Mesh every body in the volume (reads every block once).
        force: Rebuild the named bodies even when up to date.
        scale, max_voxels, simplify: as :func:`~dvidctl.datatypes.labelmap.surface.mesh_body`.
    """
    seg = labelmap_at(node, name)
    if node.locked and not node.allow_locked_writes:
        raise LockedNodeError(
            f"node {node.uuid[:10]} is committed: meshes are written at an open node",
            hint="mesh at the branch's open head (e.g. --node BRANCH)",
        )
    wanted = None if labels is None else sorted({surface.check_label(v) for v in labels})
    kv_name = meshes_name(name)
    with seg.lock:
        kv = _meshes_at(node, name)
        if kv is None:
            node.repo.new_instance("keyvalue", kv_name, ref=node.uuid)
            kv = _meshes_at(node, name)
            assert kv is not None
        with kv.lock:
            return _update(node, seg, kv, wanted, all_labels, force, scale, max_voxels, simplify)


def _update(
    node: Node,
    seg: LabelMap,
    kv: KeyValue,
    wanted: list[int] | None,
    all_labels: bool,
    force: bool,
    scale: int | None,
    max_voxels: int,
    simplify: int,
) -> MeshReport:
    report = MeshReport(seg.name, kv.name, node.uuid)
    state = _current_state(node, seg, read_manifest(kv))
    if all_labels:
        everyone: dict[int, set[Coord]] = {}
        for coord, labs in surface.labels_in_blocks(seg).items():
            for lab in labs:
                everyone.setdefault(lab, set()).add(coord)
        gone = {lab for lab in state.entries if lab not in everyone}
        state.blocks.update(everyone)
        state.blocks.update({lab: set() for lab in gone})
        todo = {lab for lab in everyone if force or lab in state.stale or lab not in state.entries}
        todo |= gone
    elif wanted is None:
        todo = set(state.stale)
    else:
        new = [lab for lab in wanted if lab not in state.entries]
        if new:
            state.blocks.update(surface.body_blocks(seg, new))
        todo = {lab for lab in wanted if force or lab in state.stale or lab not in state.entries}
        report.unchanged = [lab for lab in wanted if lab not in todo]
    puts: dict[str, bytes] = {}
    removed_keys: list[str] = []
    entries = dict(state.entries)
    for lab in sorted(todo):
        blocks = state.blocks.get(lab, set())
        if not blocks:
            if lab in entries:
                removed_keys.append(mesh_key(lab))
                entries.pop(lab)
                report.removed.append(lab)
            elif wanted is not None and lab in wanted:
                raise NotFoundError(f"label {lab} is not in {seg.name!r} at node {node.uuid[:10]}")
            continue
        mesh, s = surface.mesh_body(
            seg, lab, blocks, scale=scale, max_voxels=max_voxels, simplify=simplify
        )
        body = encode_ngmesh(mesh)
        puts[mesh_key(lab)] = body
        stats = {
            "scale": s,
            "vertices": len(mesh.vertices),
            "faces": len(mesh.faces),
            "bytes": len(body),
        }
        report.built[lab] = stats
        entries[lab] = {**stats, "blocks": sorted(blocks)}
    for lab, e in entries.items():
        if lab in report.built:
            continue
        e["blocks"] = sorted(state.blocks[lab])
        if lab in state.stale:
            e["stale"] = True
            report.stale.append(lab)
        else:
            e.pop("stale", None)
    if removed_keys:
        kv.delete_many(removed_keys)
    manifest = {
        "source": seg.name,
        "node": node.uuid,
        **_node_record(node, seg, set().union(*(set(e["blocks"]) for e in entries.values()))),
        "block_size": list(seg.block_shape[::-1]),
        "labels": {str(lab): _jsonable(e) for lab, e in sorted(entries.items())},
    }
    puts[MANIFEST_KEY] = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    kv.put_many(puts)
    return report


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    out["blocks"] = [list(c)[::-1] for c in entry.get("blocks", [])]  # XYZ, as DVID's JSON
    return out


__all__ = [
    "MANIFEST_KEY",
    "MeshReport",
    "changed_blocks",
    "compute_mesh",
    "labelmap_at",
    "mesh_key",
    "mesh_status",
    "meshes_name",
    "read_manifest",
    "update_meshes",
]
