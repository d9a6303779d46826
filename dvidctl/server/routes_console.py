"""The web console: its files, and the few helpers it needs beyond DVID's API.

``GET /`` is the console (:mod:`dvidctl.server.console`). The console is a
client of the public API; what DVID's API has no answer for is here, under
``/api/console/`` and in ``/api/openapi.json`` like every route:

* ``GET /api/console/server``: whether writes need a token (the console offers
  its write actions only then, once the user gave it), read-only, fullwrite;
* ``POST /api/console/token``: 200 when the request's token allows writes, else
  403 (writes nothing; the console checks a token before it offers writes);
* ``GET /api/console/repo/{uuid}/refs``: branch leaves and tags by name;
* ``GET /api/console/diff/{uuid}/{to}``: per instance, what changed between two
  versions (counts and the first ``limit`` keys of each kind; for a labelmap also the
  bodies merged, split, created and deleted, from :func:`dvidctl.api.labeldiff`);
* ``GET|POST /api/console/node/{uuid}/{data}/meshes``: the stored body meshes of a
  labelmap and which are stale; POST builds them (:func:`dvidctl.api.meshes.update_meshes`);
* ``GET /api/console/node/{uuid}/{data}/mesh/{label}``: one body's mesh computed now
  and not stored (``.ngmesh`` bytes), for bodies without an up-to-date stored mesh.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

import dvidctl
from dvidctl.api import meshes
from dvidctl.api.labeldiff import label_diff_versions
from dvidctl.api.versions import diff_versions
from dvidctl.datatypes.labelmap.ngmesh import encode_ngmesh
from dvidctl.errors import BadRequestError
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Route
from dvidctl.httpkit.streaming import OCTET
from dvidctl.server import console
from dvidctl.server.dispatcher import ServerCall as Call
from dvidctl.store.dag import branch_label

DIFF_LIMIT = 100


def server(call: Call) -> Response:
    """``GET /api/console/server``."""
    s = call.server.settings
    return json_response(
        {
            "version": dvidctl.__version__,
            "token_required": bool(s.token) and not s.read_only,
            "read_only": s.read_only,
            "fullwrite": s.fullwrite,
        }
    )


def token(call: Call) -> Response:
    """``POST /api/console/token``: the dispatcher has checked the token; nothing to write."""
    return json_response({"writes": True})


def refs(call: Call) -> Response:
    """``GET /api/console/repo/{uuid}/refs``: ``{root, branches: {name: uuid}, tags: {...}}``."""
    repo = call.repo
    assert repo is not None
    uuid_of = {vid: rec.uuid for vid, rec in repo.dag.nodes.items()}
    return json_response(
        {
            "root": repo.root_uuid,
            "branches": {
                branch_label(k): uuid_of[v] for k, v in sorted(repo.state.branches.items())
            },
            "tags": {k: uuid_of[v] for k, v in sorted(repo.state.tags.items())},
        }
    )


def diff(call: Call) -> Response:
    """``GET /api/console/diff/{uuid}/{to}?limit=N``: what changed from ``uuid`` to ``to``."""
    repo, node = call.repo, call.node
    assert repo is not None and node is not None
    other_repo, to_vid = call.server.repos.resolve(call.params["to"])
    if other_repo is not repo:
        raise BadRequestError("the two versions of a diff must be in one repository")
    limit = call.qint("limit", DIFF_LIMIT, 0, 100_000)
    out: dict[str, Any] = {}
    for name, d in diff_versions(repo, node.vid, to_vid).items():
        entry: dict[str, Any] = {"type": repo.instance_record(name).typename}
        for kind in ("added", "changed", "deleted"):
            entry[kind] = len(d[kind])
            entry[kind + "_keys"] = d[kind][:limit]
        if entry["type"] == "labelmap":
            entry["bodies"] = _bodies(label_diff_versions(repo, node.vid, to_vid, name).to_dict())
        out[name] = entry
    return json_response(
        {"from": node.uuid, "to": repo.dag.node(to_vid).uuid, "instances": out, "limit": limit}
    )


#: How many bodies of each kind a console diff lists (the counts are always whole).
BODY_LIMIT = 50


def _bodies(d: dict[str, Any]) -> dict[str, Any]:
    """The console's part of a label-aware diff: counts, and the first bodies of each kind."""
    out: dict[str, Any] = {k: d[k] for k in ("voxels_changed", "exact", "blocks_compared")}
    for kind in ("merged", "split", "created", "deleted"):
        out[kind] = len(d[kind])
        out[kind + "_bodies"] = d[kind][:BODY_LIMIT]
    return out


def mesh_status(call: Call) -> Response:
    """``GET /api/console/node/{uuid}/{data}/meshes``."""
    return json_response(meshes.mesh_status(call.node, call.params["data"]))


def _labels(value: Any) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequestError('"labels" must be a list of labels (numbers or decimal strings)')
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise BadRequestError(f"label {v!r} is not a number or a decimal string")
        try:
            out.append(int(v))
        except ValueError:
            raise BadRequestError(f"label {v!r} is not a decimal number") from None
    return out


def _opt_int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    v = body.get(key, default)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise BadRequestError(f'"{key}" must be a non-negative integer')
    return v


def mesh_build(call: Call) -> Response:
    """``POST .../meshes`` ``{"labels": [...], "all", "force", "scale", "simplify"}``."""
    body = call.json_object(default={})
    simplify = _opt_int(body, "simplify", 0)
    report = meshes.update_meshes(
        call.node,
        call.params["data"],
        _labels(body.get("labels")),
        all_labels=bool(body.get("all", False)),
        force=bool(body.get("force", False)),
        scale=_opt_int(body, "scale", None),
        simplify=simplify or 0,
    )
    return json_response(report.to_dict())


def mesh_now(call: Call) -> Response:
    """``GET .../mesh/{label}?scale=&simplify=``: an ``.ngmesh`` computed now, not stored."""
    scale = call.query.get("scale")
    mesh, used = meshes.compute_mesh(
        call.node,
        call.params["data"],
        call.params["label"],
        scale=None if scale in (None, "") else call.qint("scale", 0, 0, 255),
        simplify=call.qint("simplify", 0, 0, 1000),
    )
    return Response(
        encode_ngmesh(mesh), media_type=OCTET, headers={"X-Dvidctl-Mesh-Scale": str(used)}
    )


_C = "/api/console"
_M = _C + "/node/{uuid}/{data}"
ROUTES = [
    Route("/", ("GET",), console.index, "The web console", produces="text/html"),
    Route(
        "/console/{name}",
        ("GET",),
        console.static_file,
        "The web console's modules, styles and images",
        produces="text/javascript",
    ),
    Route(_C + "/server", ("GET",), server, "Console: token required, read-only, version"),
    Route(
        _C + "/token",
        ("POST",),
        token,
        "Console: 200 when the request's token allows writes (writes nothing)",
    ),
    Route(_C + "/repo/{uuid}/refs", ("GET",), refs, "Console: branch leaves and tags by name"),
    Route(
        _C + "/diff/{uuid}/{to}",
        ("GET",),
        diff,
        "Console: per instance, keys added/changed/deleted between two versions (?limit=N)",
    ),
    Route(_M + "/meshes", ("GET",), mesh_status, "Console: stored body meshes and stale ones"),
    Route(
        _M + "/meshes",
        ("POST",),
        mesh_build,
        "Console: mesh bodies into DATA_meshes ({label}.ngmesh)",
        body="application/json",
    ),
    Route(
        _M + "/mesh/{label:int}",
        ("GET",),
        mesh_now,
        "Console: one body's mesh computed now, not stored (neuroglancer legacy ngmesh)",
        produces=OCTET,
    ),
]
