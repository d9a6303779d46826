"""Partial clones: chosen instances, the history up to one node, a region of the voxels.

``clone --instance NAME ...`` makes a copy holding only those instances; ``clone --node
REF`` one holding only REF and its ancestors; ``--bbox``, ``--roi``, ``--scales`` only
those blocks of the voxel instances (:mod:`dvidctl.sync.region`; the blocks held are
recorded in the repository's metadata, where reads check them). The choice is kept in
``.dvid/config``::

    [partial]
    instances = kv,seg
    node = 3f8c...
    bbox = 0,0,0:256,256,128
    roi = cells
    scales = 0,1

and every later ``fetch``/``pull`` from that remote honours it. Nothing outside the
choice exists here, so a read of it is a clear error (an unknown instance or ref),
never zeros. Digests are per instance, so a partial copy still compares nodes
exactly over what it holds, and what it pushes is checked the same way.
"""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dvidctl.api.syncstate import RepoInfo
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.geometry import Box
from dvidctl.store.held import parse_bbox, parse_scales

CONFIG = "config"
SECTION = "partial"


@dataclass(frozen=True)
class Partial:
    """What a partial clone holds: some instances (by name), the history up to one node."""

    instances: tuple[str, ...] = ()
    node: str | None = None
    #: ``X0,Y0,Z0:X1,Y1,Z1`` of the voxels (scale 0), an roi instance's name, the scales.
    bbox: str | None = None
    roi: str | None = None
    scales: str | None = None

    @property
    def whole(self) -> bool:
        """Nothing left out."""
        return not self.instances and self.node is None and not self.region

    @property
    def region(self) -> bool:
        """Whether only part of the voxel instances' blocks is taken."""
        return bool(self.bbox or self.roi or self.scales)

    def describe(self) -> str:
        """One line for ``status``."""
        parts = []
        if self.instances:
            parts.append("instances " + ", ".join(self.instances))
        if self.node:
            parts.append(f"history up to node {self.node[:10]}")
        if self.bbox:
            parts.append(f"bbox {self.bbox}")
        if self.roi:
            parts.append(f"roi {self.roi}")
        if self.scales:
            parts.append(f"scales {self.scales}")
        return "partial clone: " + "; ".join(parts) if parts else "whole repository"

    def to_dict(self) -> dict[str, object]:
        """The ``status --json`` form."""
        out: dict[str, object] = {"instances": list(self.instances), "node": self.node}
        if self.region:
            out.update(bbox=self.bbox, roi=self.roi, scales=self.scales)
        return out


def narrow(their: RepoInfo, partial: Partial) -> RepoInfo:
    """The sender's document as a partial copy sees it: only the chosen instances and nodes.

    Branches and tags whose node is left out are left out too. Unknown instance names
    are an error naming the sender's instances.
    """
    if partial.whole:
        return their
    insts = list(their.instances)
    if partial.instances:
        known = {i.name for i in insts}
        missing = [n for n in partial.instances if n not in known]
        if missing:
            raise NotFoundError(
                f"the remote has no instance {', '.join(map(repr, missing))}",
                hint="instances there: " + (", ".join(sorted(known)) or "none"),
            )
        insts = [i for i in insts if i.name in partial.instances]
    nodes = list(their.nodes)
    if partial.node is not None:
        if their.node(partial.node) is None:
            raise NotFoundError(f"the remote has no node {partial.node}")
        keep = their.ancestors(partial.node)
        nodes = [n for n in nodes if n.uuid in keep]
    uuids = {n.uuid for n in nodes}
    return replace(
        their,
        instances=insts,
        nodes=nodes,
        branches={b: u for b, u in their.branches.items() if u in uuids},
        tags={t: u for t, u in their.tags.items() if u in uuids},
    )


def resolve_node(their: RepoInfo, ref: str) -> str:
    """The sender's node a ``--node`` names: a UUID prefix or a branch name (its head)."""
    hits = [n.uuid for n in their.nodes if n.uuid.startswith(ref)]
    branch = their.branches.get("" if ref == "master" else ref)
    if branch is not None and branch not in hits:
        hits.append(branch)
    if len(hits) != 1:
        what = "matches no node or branch" if not hits else "matches several nodes"
        raise BadRequestError(f"--node {ref!r} {what} on the remote")
    return hits[0]


def _read(dvid_dir: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    path = dvid_dir / CONFIG
    if path.exists():
        cp.read_string(path.read_text())
    return cp


def load(dvid_dir: Path | None) -> Partial:
    """The partial clone recorded here (a whole one if none is)."""
    if dvid_dir is None:
        return Partial()
    cp = _read(dvid_dir)
    if not cp.has_section(SECTION):
        return Partial()
    names = [n for n in cp.get(SECTION, "instances", fallback="").split(",") if n]

    def opt(key: str) -> str | None:
        return cp.get(SECTION, key, fallback=None) or None

    return Partial(tuple(names), opt("node"), opt("bbox"), opt("roi"), opt("scales"))


def save(dvid_dir: Path, partial: Partial) -> None:
    """Record ``partial`` (or remove the record for a whole clone)."""
    cp = _read(dvid_dir)
    cp.remove_section(SECTION)
    if not partial.whole:
        cp.add_section(SECTION)
        if partial.instances:
            cp.set(SECTION, "instances", ",".join(partial.instances))
        for key in ("node", "bbox", "roi", "scales"):
            value = getattr(partial, key)
            if value:
                cp.set(SECTION, key, value)
    tmp = dvid_dir / (CONFIG + ".tmp")
    with open(tmp, "w") as f:
        cp.write(f)
    tmp.replace(dvid_dir / CONFIG)


def checked(
    instances: Sequence[str] | None,
    node: str | None,
    bbox: str | None = None,
    roi: str | None = None,
    scales: str | None = None,
) -> Partial:
    """A :class:`Partial` from command-line choices (``bbox``, ``scales`` checked)."""
    names = tuple(dict.fromkeys(instances or ()))
    box = _bbox_text(parse_bbox(bbox)) if bbox else None
    sc = ",".join(map(str, parse_scales(scales))) if scales else None
    return Partial(names, node or None, box, roi or None, sc)


def _bbox_text(box: Box) -> str:
    (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
    return f"{x0},{y0},{z0}:{x1},{y1},{z1}"


def region_args(p: Partial) -> tuple[Box | None, str | None, tuple[int, ...] | None]:
    """The box, ROI name and scales of a partial clone's region."""
    return (
        parse_bbox(p.bbox) if p.bbox else None,
        p.roi,
        parse_scales(p.scales) if p.scales else None,
    )
