"""Repo-level endpoints: repos, repo info/log, instances, merge (DVID_API.md §2.2, §2.4).

Repo JSON has DVID's exact shape: DAG nodes keyed by UUID with integer
``VersionID``/``Parents``/``Children``, ``Branch`` ``""`` for master, and
``DataInstances`` with ``Base``/``Extended`` (plus ``Extents`` for voxel types),
reported at the leaf of master.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse, Response

from dvidctl.api import merge as merging
from dvidctl.api import refs
from dvidctl.api.repoinfo import append_repo_log, update_repo_record
from dvidctl.api.repository import Repository
from dvidctl.errors import BadRequestError, DvidError, MergeConflictError
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Route
from dvidctl.server.dispatcher import ServerCall as Call
from dvidctl.store.dag import NodeRecord


def node_json(rec: NodeRecord) -> dict[str, Any]:
    """DVID's ``nodeT`` JSON."""
    return {
        "Branch": rec.branch,
        "Note": rec.note,
        "Log": list(rec.log),
        "UUID": rec.uuid,
        "VersionID": rec.vid,
        "Locked": rec.locked,
        "Parents": list(rec.parents),
        "Children": list(rec.children),
        "Created": rec.created,
        "Updated": rec.updated,
    }


def instances_json(repo: Repository) -> dict[str, Any]:
    """``DataInstances``: each instance's info at the leaf of master."""
    leaf = repo.state.branches.get("", repo.dag.root.vid)
    node = repo.node_by_vid(leaf)
    out: dict[str, Any] = {}
    for rec in repo.instances():
        try:
            out[rec.name] = node.instance(rec.name).info()
        except DvidError:  # a type this build lacks: show what the record says
            out[rec.name] = {
                "Base": {
                    "TypeName": rec.typename,
                    "Name": rec.name,
                    "DataUUID": rec.data_uuid,
                    "RepoUUID": repo.root_uuid,
                    "Versioned": rec.versioned,
                },
                "Extended": {},
            }
    return out


def repo_json(repo: Repository) -> dict[str, Any]:
    """DVID's ``repoT`` JSON for one repository."""
    r = repo.state.repo
    nodes = {rec.uuid: node_json(rec) for _, rec in sorted(repo.dag.nodes.items())}
    return {
        "Root": r.root,
        "Alias": r.alias,
        "Description": r.description,
        "Log": list(r.log),
        "Properties": dict(r.properties),
        "DataInstances": instances_json(repo),
        "DAG": {"Root": r.root, "Nodes": nodes},
        "MutationID": 0,
        "SavedMutationID": 0,
        "Created": r.created,
        "Updated": r.updated,
    }


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise BadRequestError(f"{what} must be a JSON list of strings")
    return value


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise BadRequestError(f'"{key}" must be a string')
    return v


# ------------------------------------------------------------------ handlers
def repos_info(call: Call) -> Response:
    """``GET /api/repos/info``."""
    return json_response({r.root_uuid: repo_json(r) for r in call.server.repos})


def repos_create(call: Call) -> Response:
    """``POST /api/repos``: ``{"alias","description","root"}`` -> ``{"root": uuid}``."""
    body = call.json_object(default={})
    repo = call.server.repos.create(
        alias=_opt_str(body, "alias") or "",
        description=_opt_str(body, "description") or "",
        root=_opt_str(body, "root") or None,
    )
    return json_response({"root": repo.root_uuid})


def repo_head(call: Call) -> Response:
    """``HEAD|GET /api/repo/{uuid}``."""
    assert call.repo is not None
    return PlainTextResponse(f"Repo available with root UUID {call.repo.root_uuid}")


def repo_info(call: Call) -> Response:
    """``GET /api/repo/{uuid}/info``."""
    assert call.repo is not None
    return json_response(repo_json(call.repo))


def repo_info_post(call: Call) -> Response:
    """``POST /api/repo/{uuid}/info``: set alias and/or description."""
    assert call.repo is not None
    body = call.json_object()
    changes = {k: v for k in ("alias", "description") if (v := _opt_str(body, k)) is not None}
    if changes:
        update_repo_record(call.repo, **changes)
    return Response(b"")


def repo_log(call: Call) -> Response:
    """``GET /api/repo/{uuid}/log``."""
    assert call.repo is not None
    return json_response({"log": list(call.repo.state.repo.log)})


def repo_log_post(call: Call) -> Response:
    """``POST /api/repo/{uuid}/log``: append ``{"log": [...]}``."""
    assert call.repo is not None
    lines = _str_list(call.json_object().get("log"), '"log"')
    append_repo_log(call.repo, lines)
    return Response(b"")


def new_instance(call: Call) -> Response:
    """``POST /api/repo/{uuid}/instance``: ``{"typename","dataname", ...config}``."""
    assert call.repo is not None and call.node is not None
    body = call.json_object()
    typename, name = _opt_str(body, "typename"), _opt_str(body, "dataname")
    if not typename or not name:
        raise BadRequestError('instance creation needs "typename" and "dataname"')
    config = {k: v for k, v in body.items() if k.lower() not in ("typename", "dataname")}
    call.repo.new_instance(typename, name, config, ref=call.node.uuid)
    return json_response({"result": f"Added {name} [{typename}] to node {call.node.uuid}"})


def delete_instance(call: Call) -> Response:
    """``DELETE /api/repo/{uuid}/{dataname}?imsure=true`` (DVID: 400 without ``imsure=true``).

    An unknown instance is 400 too, as in DVID. The instance leaves the
    repository's metadata at once (any node of the repo selects it, committed or
    not); its data awaits gc (``deleted-inst/<iid>``).
    """
    assert call.repo is not None
    if call.query.get("imsure") != "true":
        raise BadRequestError(
            "Cannot delete instance unless query string 'imsure=true' is present!"
        )
    rec = call.repo.delete_instance(call.params["dataname"])
    root = call.repo.root_uuid
    text = f'Started deletion of data instance "{rec.name}" from repo with root {root}'
    return json_response({"result": text})


def branch_versions(call: Call) -> Response:
    """``GET /api/repo/{uuid}/branch-versions/{branch}``: leaf back to root, [] if unknown.

    DVID's walk (:func:`dvidctl.api.refs.branch_versions`).
    """
    assert call.repo is not None
    return json_response(refs.branch_versions(call.repo, call.params["branch"]))


def _parents(call: Call, body: dict[str, Any]) -> list[int]:
    repo = call.repo
    assert repo is not None
    parents = body.get("parents")
    if (
        not isinstance(parents, list)
        or len(parents) < 2
        or not all(isinstance(p, str) for p in parents)
    ):
        raise BadRequestError('"parents" must list at least two version UUIDs')
    vids = []
    for p in parents:
        prepo, vid = call.server.repos.resolve(p)
        if prepo is not repo:
            raise BadRequestError(f"merge parent {p} is not in repo {repo.root_uuid}")
        vids.append(vid)
    return vids


def merge(call: Call) -> Response:
    """``POST /api/repo/{uuid}/merge``: a child of every parent (conflicts refused, 409)."""
    assert call.repo is not None
    body = call.json_object()
    mtype = body.get("mergeType", "conflict-free")
    if mtype != "conflict-free":
        raise BadRequestError(f"merge type {mtype!r} is not supported; use conflict-free")
    vids = _parents(call, body)
    strategy = _opt_str(body, "strategy") or "fail"
    result = merging.merge_nodes(call.repo, vids, _opt_str(body, "note") or "", strategy)
    assert result.node is not None
    return json_response({"child": result.node.uuid})


def resolve(call: Call) -> Response:
    """``POST /api/repo/{uuid}/resolve``: merge, conflicts in ``data`` won by earlier parents.

    Conflicts in instances not listed in ``data`` still refuse the merge (409).
    With more than two parents the first parent's value wins a conflict even when
    a later, higher-listed side is the one DVID would pick among the others.
    """
    assert call.repo is not None
    body = call.json_object()
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise BadRequestError('"data" must list the instances whose conflicts to resolve')
    for name in data:
        call.repo.instance_record(name)
    vids = _parents(call, body)
    note = _opt_str(body, "note") or ""
    try:
        result = merging.merge_nodes(call.repo, vids, note, "fail")
    except MergeConflictError as exc:
        others = sorted({d["instance"] for d in exc.details or []} - set(data))
        if others:
            raise MergeConflictError(
                f"conflicts in instances not listed in data: {', '.join(others)}",
                details=exc.details,
            ) from None
        result = merging.merge_nodes(call.repo, vids, note, "ours")
    assert result.node is not None
    return json_response({"child": result.node.uuid})


_R = "/api/repo/{uuid}"
ROUTES = [
    Route("/api/repos/info", ("GET",), repos_info, "Every repository's JSON, by root UUID"),
    Route("/api/repos", ("POST",), repos_create, "Create a repository", body="application/json"),
    Route(
        _R,
        ("GET", "HEAD"),
        repo_head,
        "Whether the repo exists",
        locked_ok=True,
        produces="text/plain",
    ),
    Route(_R + "/info", ("GET", "HEAD"), repo_info, "Repo JSON (DAG, instances)"),
    Route(
        _R + "/info",
        ("POST",),
        repo_info_post,
        "Set alias/description",
        locked_ok=True,
        body="application/json",
    ),
    Route(_R + "/log", ("GET",), repo_log, "Repo log"),
    Route(
        _R + "/log",
        ("POST",),
        repo_log_post,
        "Append to the repo log",
        locked_ok=True,
        body="application/json",
    ),
    Route(
        _R + "/instance",
        ("POST",),
        new_instance,
        "Create a data instance at an open node",
        locked_ok=True,
        body="application/json",
    ),
    Route(
        _R + "/{dataname}",
        ("DELETE",),
        delete_instance,
        "Delete a data instance (needs ?imsure=true)",
        locked_ok=True,
    ),
    Route(
        _R + "/branch-versions/{branch}",
        ("GET",),
        branch_versions,
        "UUIDs of a branch, leaf back to root",
    ),
    Route(
        _R + "/resolve",
        ("POST",),
        resolve,
        "Merge, resolving conflicts in the listed instances by parent order",
        locked_ok=True,
        body="application/json",
    ),
    Route(
        _R + "/merge",
        ("POST",),
        merge,
        "Merge committed nodes into a new open node",
        locked_ok=True,
        body="application/json",
    ),
]
