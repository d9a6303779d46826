"""dvidctl's sync endpoints, ``/api/sync/...``: listings, values and batches between servers.

Not part of DVID's API (a client falls back to DVID's endpoints where these answer
404). ``{repo}`` is the repository's root UUID (the state route also takes any
node's UUID or unique prefix, and names the root in its answer); ``{node}`` a full
node UUID; ``?instance=`` a data UUID. Bodies use :mod:`dvidctl.httpkit.frames`.

==================================================  ======================================
``GET  /api/sync/{repo}/state``                     :class:`RepoInfo` JSON (digests included)
``GET  /api/sync/{repo}/node/{node}/keys``          the node's sorted listing (``after=HEX``;
                                                    ``bbox=``, ``scales=``: only those blocks)
``POST /api/sync/{repo}/node/{node}/values``        wanted keys in, values out (``encoding=``,
                                                    ``bytes=``: up to one batch)
``GET  /api/sync/{repo}/node/{node}/dump``          the node's values in key order (``after=``;
                                                    ``limit=``, ``bytes=``: one batch)
``POST /api/sync/{repo}/span``                      several nodes' values in one key-ordered
                                                    stream (JSON ``nodes``; as ``dump``)
``POST /api/sync/repos``                            create a repository with a given root
``POST /api/sync/{repo}/instances``                 create / update instances (JSON list)
``POST /api/sync/{repo}/nodes``                     add an incoming node (JSON NodeInfo)
``POST /api/sync/{repo}/node/{node}/reopen``        a complete node becomes incoming again
``POST /api/sync/{repo}/node/{node}/batch``         values and removals, applied atomically
``POST /api/sync/{repo}/span/batch``                a span's values, applied atomically
``POST /api/sync/{repo}/node/{node}/complete``      digest check, then committed
``POST /api/sync/{repo}/node/{node}/snapshot``      the sender's write stamp of a snapshot
``POST /api/sync/{repo}/branch/{name}``             move a branch: compare-and-set
==================================================  ======================================

Every POST but ``values`` and ``span`` writes and so needs the server's token (the dispatcher
refuses a wrong one before the body is read). A batch is answered only once its
write is durable. Errors on these routes are JSON (``{"error", "message", "hint"}``)
with dvidctl's status codes, so the client can tell "no such repository" (404)
from a conflict (409) or damaged data (400).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dvidctl.api import exchange, receive, receivespan
from dvidctl.api.syncstate import InstanceInfo, NodeInfo
from dvidctl.errors import BadRequestError
from dvidctl.httpkit import frames
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Route
from dvidctl.server import routes_syncsend
from dvidctl.server.dispatcher import ServerCall as Call
from dvidctl.server.routes_syncsend import (
    NODE_PATH,
    REPO_PATH,
    call_instance,
    call_repo,
    errors_as_json,
    framed_body,
)


# ---------------------------------------------------------------- receiving
@errors_as_json
def create_repo(call: Call) -> Response:
    """Create a repository whose root node (given UUID) sync is about to receive."""
    body = call.json_object()
    root = body.get("root")
    if not isinstance(root, str):
        raise BadRequestError('"root" must be the root UUID')
    if root in call.server.repos.repos:  # a retried request whose answer was lost
        return json_response({"root": root})
    repo = call.server.repos.create(
        alias=str(body.get("alias") or ""),
        description=str(body.get("description") or ""),
        root=root,
        incoming_root=True,
    )
    return json_response({"root": repo.root_uuid})


@errors_as_json
def instances(call: Call) -> Response:
    """Create the instances the server lacks; answers the data UUIDs both sides share."""
    body = call.json()
    if not isinstance(body, list):
        raise BadRequestError("the body must be a JSON list of instances")
    shared = receive.put_instances(call_repo(call), [InstanceInfo.from_json(i) for i in body])
    return json_response({"shared": shared})


@errors_as_json
def nodes(call: Call) -> Response:
    """Add an incoming node (idempotent)."""
    node = receive.create_node(call_repo(call), NodeInfo.from_json(call.json_object()))
    return json_response({"uuid": node.uuid, "incoming": node.incoming})


@errors_as_json
def reopen(call: Call) -> Response:
    """Make a complete node incoming again (its sender changed it after commit)."""
    receive.reopen_node(call_repo(call), call.params["node"])
    return json_response({"uuid": call.params["node"], "incoming": True})


@errors_as_json
def batch(call: Call) -> Response:
    """Verify every digest of the body, then apply it in one durable atomic write.

    A batch written through a table file is read back into the page cache (the SST
    writer drops what it wrote): what a push brings is what the next fetch reads.

    ``W`` records (values in a wire encoding) are stored as this side stores them;
    ``again`` lists the keys whose stored value did not match the sender's digest
    (not written: the sender sends them again as stored).
    """
    repo = call_repo(call)
    records = framed_body(call)
    deletes = [r.tkey for r in records if r.kind == "D"]
    node, data_uuid = call.params["node"], call_instance(call)
    if not any(r.kind == "W" for r in records):
        puts = [(r.tkey, r.digest, r.value) for r in records if r.kind == "V"]
        done = receive.apply_batch(repo, node, data_uuid, puts, deletes, warm=True)
        again: list[bytes] = []
    else:
        items = [(r.tkey, r.digest, r.value, r.encoding) for r in records if r.kind in "VW"]
        done, again = receive.apply_wire_batch(repo, node, data_uuid, items, deletes, warm=True)
    return json_response(
        {
            "puts": done.puts,
            "deletes": done.deletes,
            "bytes": done.nbytes,
            "again": [tk.hex() for tk in again],
        }
    )


@errors_as_json
def span_batch(call: Call) -> Response:
    """Apply one batch of a span: ``K`` records name the span's nodes (their UUIDs, in
    order: a value's position; ``UUID DIGEST`` with the sender's digest of each for the
    instance, which makes the batch record the span's mark), then ``V``/``W`` values
    keyed ``tkey | u32 position``.
    Answered as :func:`batch` (``again``: wire keys to send again as stored)."""
    records = framed_body(call)
    named = [r.tkey.decode("ascii", "replace").split(" ") for r in records if r.kind == "K"]
    if not named:
        raise BadRequestError("a span batch names its nodes first (K records)")
    nodes = [n[0] for n in named]
    # "UUID DIGEST": the sender's digests, for the span's mark (a resumable push)
    digests = [n[1] for n in named] if all(len(n) == 2 for n in named) else None
    items = [(r.tkey, r.digest, r.value, r.encoding) for r in records if r.kind in "VW"]
    repo, data_uuid = call_repo(call), call_instance(call)
    done, again = receivespan.apply_span(repo, data_uuid, nodes, items, digests)
    return json_response(
        {"puts": done.puts, "deletes": 0, "bytes": done.nbytes, "again": [k.hex() for k in again]}
    )


@errors_as_json
def complete(call: Call) -> Response:
    """Compare digests with the sender's, then mark the node complete and committed."""
    body = call.json_object()
    info = NodeInfo.from_json(body.get("node"))
    if info.uuid != call.params["node"]:
        raise BadRequestError("the body names another node")
    compare = body.get("compare", [])
    if not isinstance(compare, list) or not all(isinstance(c, str) for c in compare):
        raise BadRequestError('"compare" must list data UUIDs')
    changed = receive.complete_node(call_repo(call), info, compare)
    return json_response({"uuid": info.uuid, "changed": changed})


@errors_as_json
def snapshot(call: Call) -> Response:
    """Record the sender's write stamp a snapshot of an open node was taken at."""
    stamp = call.json_object().get("stamp")
    if not isinstance(stamp, str):
        raise BadRequestError('the body must be {"stamp": "..."}')
    receive.mark_snapshot(call_repo(call), call.params["node"], stamp)
    return json_response({"uuid": call.params["node"], "snapshot": stamp})


@errors_as_json
def branch(call: Call) -> Response:
    """Move a branch to a committed node if it still points where the client saw it."""
    body: dict[str, Any] = call.json_object()
    old, new = body.get("old"), body.get("new")
    if not isinstance(new, str) or not (old is None or isinstance(old, str)):
        raise BadRequestError('the body must be {"old": UUID or null, "new": UUID}')
    dropped = receive.move_branch(call_repo(call), call.params["name"], old, new)
    return json_response({"branch": call.params["name"], "head": new, "dropped": dropped})


@errors_as_json
def lease(call: Call) -> Response:
    """Reserve labels of a labelmap for a clone's lease: ``{"start", "end"}`` (no version)."""
    body: dict[str, Any] = call.json_object()
    name, count = body.get("instance"), body.get("count")
    if not isinstance(name, str) or isinstance(count, bool) or not isinstance(count, int):
        raise BadRequestError('the body must be {"instance": NAME, "count": N}')
    start, end = exchange.lease_labels(call_repo(call), name, count)
    return json_response({"start": start, "end": end})


_S, _NODE, _J, _F = REPO_PATH, NODE_PATH, "application/json", frames.MEDIA_TYPE
ROUTES = routes_syncsend.ROUTES + [
    Route("/api/sync/repos", ("POST",), create_repo, "Sync: create a repository", body=_J),
    Route(_S + "/instances", ("POST",), instances, "Sync: create or update instances", body=_J),
    Route(_S + "/nodes", ("POST",), nodes, "Sync: add an incoming node", body=_J),
    Route(_NODE + "/reopen", ("POST",), reopen, "Sync: receive a committed node again"),
    Route(
        _NODE + "/batch",
        ("POST",),
        batch,
        "Sync: apply a verified batch (V or W records; answers keys to send again as stored)",
        body=_F,
    ),
    Route(
        _S + "/span/batch",
        ("POST",),
        span_batch,
        "Sync: apply a verified batch of a span (K records: its nodes; V or W values keyed"
        " tkey|u32 position; answers keys to send again as stored)",
        body=_F,
    ),
    Route(_NODE + "/complete", ("POST",), complete, "Sync: check digests, commit", body=_J),
    Route(_NODE + "/snapshot", ("POST",), snapshot, "Sync: a snapshot's write stamp", body=_J),
    Route(
        _S + "/branch/{name}", ("POST",), branch, "Sync: move a branch (compare-and-set)", body=_J
    ),
    Route(_S + "/lease", ("POST",), lease, "Sync: reserve labels for a clone's lease", body=_J),
]
