"""dvidctl's sync endpoints that read: the state document, listings, values, dumps, spans.

The shared request helpers of every ``/api/sync`` route are here too (errors as JSON,
the repository, ``?instance=``, ``?after=``, positive limits): :mod:`.routes_sync`
adds the routes that write. See there for the table of routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from starlette.responses import Response

from dvidctl.api import exchange
from dvidctl.api.repository import Repository
from dvidctl.errors import BadRequestError, DvidError, NotFoundError
from dvidctl.httpkit import frames
from dvidctl.httpkit.jsonio import json_response
from dvidctl.httpkit.routing import Route
from dvidctl.httpkit.streaming import buffer_response, iter_response
from dvidctl.server.dispatcher import ServerCall as Call

#: A batch asked for with at most this many stored bytes is made whole before it is sent
#: (twice a client's default batch; a larger bound streams, as memory per request is
#: then the client's to choose).
WHOLE_BODY_MAX = 32 << 20

#: Keys per listing chunk.
LISTING_CHUNK = 8192


def errors_as_json(handler: Callable[[Call], Response]) -> Callable[[Call], Response]:
    def wrapped(call: Call) -> Response:
        try:
            return handler(call)
        except DvidError as exc:
            return json_response(exc.to_dict(), status_code=exc.http_status)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def call_repo(call: Call, *, any_ref: bool = False) -> Repository:
    ref = str(call.params["repo"])
    repo = call.server.repos.repos.get(ref)
    if repo is None and any_ref:
        try:
            repo = call.server.repos.repo(ref)
        except DvidError:
            repo = None
    if repo is None:
        raise NotFoundError(f"this server has no repository {ref}")
    return repo


def call_instance(call: Call) -> str:
    d = call.query.get("instance", "")
    if not d:
        raise BadRequestError("?instance=DATAUUID is required")
    return d


def call_after(call: Call) -> bytes | None:
    after_hex = call.query.get("after")
    try:
        return bytes.fromhex(after_hex) if after_hex else None
    except ValueError:
        raise BadRequestError(f"after={after_hex!r} is not hex") from None


def call_limit(call: Call, name: str) -> int | None:
    """A positive integer query parameter (a batch limit), or None."""
    text = call.query.get(name)
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise BadRequestError(f"{name}={text!r} is not a positive integer")
    return n


def _chunks(it: Iterator[tuple[bytes, bytes]], writer: frames.FrameWriter) -> Iterator[bytes]:
    keys: list[bytes] = []
    digs: list[bytes] = []
    for tk, d in it:
        keys.append(tk)
        digs.append(d)
        if len(keys) >= LISTING_CHUNK:
            yield writer.listing(keys, digs)
            keys, digs = [], []
    if keys:
        yield writer.listing(keys, digs)


def framed_body(call: Call) -> list[frames.Record]:
    return frames.read_all([bytes(call.body)], "request body")


# ------------------------------------------------------------------ sending
@errors_as_json
def state(call: Call) -> Response:
    """The repository document sync plans from."""
    return json_response(exchange.repo_state(call_repo(call, any_ref=True)).to_json())


@errors_as_json
def keys(call: Call) -> Response:
    """One node's sorted ``(tkey, digest)`` listing for one instance, streamed."""
    repo = call_repo(call)
    listing = exchange.node_listing(
        repo, call.params["node"], call_instance(call), call_after(call)
    )
    bbox, scales = call.query.get("bbox"), call.query.get("scales")
    if bbox or scales:  # a partial clone's selection: only those blocks
        listing = exchange.held_listing(repo, call_instance(call), listing, bbox, scales)
    writer = frames.FrameWriter()
    body = frames.encode(frames.checkpointed(_chunks(listing, writer), writer), writer)
    return iter_response(body, frames.MEDIA_TYPE)


@errors_as_json
def values(call: Call) -> Response:
    """The stored values of the wanted keys, as the node stored them.

    ``?encoding=NAME`` (one of the state document's ``wire``): values the instance
    can send in that wire encoding come as ``W`` records, the others as stored.
    ``?bytes=N``: the answer ends after the value that brings the stored bytes to N
    (the client's batch is full; it asks for the other keys after applying it), and
    is sent whole as :func:`dump`'s batches are.
    """
    repo = call_repo(call)
    wanted = [r.tkey for r in framed_body(call) if r.kind == "K"]
    node, data_uuid = call.params["node"], call_instance(call)
    encoding = call.query.get("encoding", "stored")
    got = exchange.node_values_wire(
        repo, node, data_uuid, wanted, encoding, call_limit(call, "bytes")
    )
    writer = frames.FrameWriter()

    def records() -> Iterator[bytes]:
        for tk, d, payload, number in got:
            if d is None or payload is None:
                yield writer.missing(tk)
            elif number:
                yield writer.wired(tk, d, number, payload)
            else:
                yield writer.value(tk, d, payload)

    body = frames.encode(frames.checkpointed(records(), writer), writer)
    return _batch_response(body, call_limit(call, "bytes"))


def _batch_response(body: Iterator[bytes], limit: int | None) -> Response:
    """A client's batch (at most ``limit`` stored bytes, up to :data:`WHOLE_BODY_MAX`)
    made whole and sent with its length (see :func:`dump`); an unbounded body streams."""
    if limit is not None and limit <= WHOLE_BODY_MAX:
        return buffer_response(b"".join(body), frames.MEDIA_TYPE)
    return iter_response(body, frames.MEDIA_TYPE)


@errors_as_json
def dump(call: Call) -> Response:
    """Every value the node stored for the instance, in key order (``after=HEX``, ``encoding=``).

    ``?limit=N&bytes=M``: one batch of the client's, ending after the value that brings
    the count to N or the stored bytes to M (it asks for the next one with ``after=``
    once this one is durable, so at most one batch is on the way per stream).
    Such a batch (up to :data:`WHOLE_BODY_MAX` bytes) is made whole on the worker
    thread and sent with its length: the client reads it whole before using any of
    it, and a streamed body cost a thread hop per 1 MiB and a second copy of every
    chunk (the server's chunked encoding). Reading every batch of bench_sync's clone
    (151 MB, nothing written) took 0.26 s streamed, 0.22 s whole.
    An unbounded dump streams as before.
    """
    repo = call_repo(call)
    got = exchange.node_dump(
        repo,
        call.params["node"],
        call_instance(call),
        call_after(call),
        call.query.get("encoding", "stored"),
        call_limit(call, "limit"),
        call_limit(call, "bytes"),
    )
    return _runs_response(got, call)


@errors_as_json
def span(call: Call) -> Response:
    """Every value several nodes stored for the instance, in one key-ordered stream.

    The body is ``{"nodes": [UUID, ...]}`` (the receiver's order); records are keyed
    ``tkey | u32 position`` (:mod:`dvidctl.store.nodespan`); ``after=HEX`` is such a
    key; ``encoding=``, ``limit=``, ``bytes=`` as for :func:`dump`.
    """
    body = call.json_object()
    nodes = body.get("nodes")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(u, str) for u in nodes):
        raise BadRequestError('the body must be {"nodes": [UUID, ...]}, at least one')
    got = exchange.span_dump(
        call_repo(call),
        call_instance(call),
        nodes,
        call_after(call),
        call.query.get("encoding", "stored"),
        call_limit(call, "limit"),
        call_limit(call, "bytes"),
    )
    return _runs_response(got, call)


def _runs_response(got: Iterator[list[exchange.Wired]], call: Call) -> Response:
    """Runs of values framed (``B`` runs, ``V``/``W`` records), one batch (``bytes=``)
    sent whole, else streamed."""
    writer = frames.FrameWriter()
    records = frames.value_records(got, writer)
    body = frames.encode(frames.checkpointed(records, writer), writer)
    return _batch_response(body, call_limit(call, "bytes"))


#: The paths of a repository's and of a node's sync routes.
REPO_PATH = "/api/sync/{repo}"
NODE_PATH = REPO_PATH + "/node/{node}"
_S, _NODE, _J, _F = REPO_PATH, NODE_PATH, "application/json", frames.MEDIA_TYPE
ROUTES = [
    Route(_S + "/state", ("GET",), state, "Sync: the repository document (DAG, digests)"),
    Route(_NODE + "/keys", ("GET",), keys, "Sync: one node's sorted key listing", produces=_F),
    Route(
        _NODE + "/values",
        ("POST",),
        values,
        "Sync: stored values of the wanted keys (?instance=DATAUUID&encoding=stored|labelblock"
        "&bytes=N)",
        mutates=False,
        body=_F,
        produces=_F,
    ),
    Route(
        _NODE + "/dump",
        ("GET",),
        dump,
        "Sync: every value of a node, in key order (?instance=&after=HEX&encoding=&limit=&bytes=)",
        produces=_F,
    ),
    Route(
        _S + "/span",
        ("POST",),
        span,
        'Sync: every value of several nodes in one key-ordered stream (body {"nodes": [...]};'
        " ?instance=&after=HEX&encoding=&limit=&bytes=)",
        mutates=False,
        body=_J,
        produces=_F,
    ),
]
