"""labelgraph commands: ``dvidctl graph put|get|subgraph|neighbors|components|merge|...``.

Each verb opens the node (local, or ``--remote``), calls one method of the
labelgraph interface and prints the result: DVID's graph JSON with ``--json``,
else one line per vertex and edge.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dvidctl.commands import _output
from dvidctl.commands._options import JsonOpt, NodeOpt, RemoteOpt, RepoOpt, open_node, wrong_type
from dvidctl.errors import BadRequestError

if TYPE_CHECKING:
    from dvidctl.api.protocol import NodeAPI
    from dvidctl.datatypes.labelgraph.protocol import LabelGraphAPI

NameArg = Annotated[str, typer.Argument(help="labelgraph instance.")]
VertexArg = Annotated[int, typer.Argument(help="Vertex id (1 .. 2^64-1).", min=1)]
WeightOpt = Annotated[float, typer.Option("--weight", "-w", help="Weight.")]
TargetArg = Annotated[str, typer.Argument(help="A vertex V, or an edge A,B.")]
PropArg = Annotated[str, typer.Argument(help="Property name.")]


def _graph(node: NodeAPI, name: str) -> LabelGraphAPI:
    from dvidctl.datatypes.labelgraph.protocol import LabelGraphAPI

    inst = node.instance(name)
    if not isinstance(inst, LabelGraphAPI):
        raise wrong_type(name, inst, "a labelgraph")
    return inst


def _read_json(file: str) -> Any:
    from dvidctl.httpkit.jsonio import loads_body

    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise BadRequestError(f"cannot read {file}: {exc.strerror}") from None
    return loads_body(data, file if file != "-" else "stdin")


def _target(text: str) -> tuple[int, int | None]:
    parts = text.split(",")
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise BadRequestError(f"{text!r} is not a vertex V or an edge A,B") from None
    if len(ids) == 1:
        return ids[0], None
    if len(ids) == 2:
        return ids[0], ids[1]
    raise BadRequestError(f"{text!r} is not a vertex V or an edge A,B")


def _print_graph(doc: dict[str, Any], json_: bool) -> None:
    if json_:
        _output.emit_json(doc)
        return
    from dvidctl.datatypes.labelgraph.graphjson import go_float

    for v in doc.get("Vertices") or []:
        _output.info(f"vertex {v['Id']}\tweight {go_float(float(v['Weight']))}")
    for e in doc.get("Edges") or []:
        _output.info(f"edge {e['Id1']}-{e['Id2']}\tweight {go_float(float(e['Weight']))}")


def put(
    name: NameArg,
    file: Annotated[str, typer.Argument(help="Graph JSON file, or - for stdin.")] = "-",
    weights: Annotated[
        bool, typer.Option("--add-weights", help="Add the weights given (DVID's POST weight).")
    ] = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Add the vertices and edges of a DVID graph JSON (POST subgraph) at HEAD or --node."""
    graph = _read_json(file)
    with open_node(repo, node, remote, write=True) as n, _output.working(f"writing {name}"):
        g = _graph(n, name)
        g.add_weights(graph) if weights else g.put_subgraph(graph)


def add_vertex(
    name: NameArg, vertex: VertexArg, weight: WeightOpt = 0.0,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None,
) -> None:  # fmt: skip
    """Add a vertex (or set its weight)."""
    with open_node(repo, node, remote, write=True) as n:
        _graph(n, name).put_subgraph({"Vertices": [{"Id": vertex, "Weight": weight}], "Edges": []})


def add_edge(
    name: NameArg,
    a: Annotated[int, typer.Argument(help="One vertex.", min=1)],
    b: Annotated[int, typer.Argument(help="The other vertex.", min=1)],
    weight: WeightOpt = 0.0,
    create: Annotated[
        bool, typer.Option("--create", help="Create missing vertices (weight 0).")
    ] = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
) -> None:
    """Add an edge (or set its weight); its vertices must exist unless --create."""
    if a == b:
        raise BadRequestError(f"an edge needs two different vertices, got {a}-{b}")
    edge = {"Id1": a, "Id2": b, "Weight": weight}
    with open_node(repo, node, remote, write=True) as n:
        g = _graph(n, name)
        if create:  # one write: weight increments of 0 create what is missing
            g.add_weights({"Vertices": [{"Id": a}, {"Id": b}], "Edges": []})
        g.put_subgraph({"Vertices": [], "Edges": [edge]})


def get(
    name: NameArg,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None, json_: JsonOpt = False,
) -> None:  # fmt: skip
    """Print the whole graph (DVID's GET subgraph)."""
    with open_node(repo, node, remote, write=False) as n:
        doc = _graph(n, name).get_subgraph()
    _print_graph(doc, json_)


def subgraph(
    name: NameArg,
    vertices: Annotated[list[int], typer.Argument(help="Vertices.", min=1)],
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None, json_: JsonOpt = False,
) -> None:  # fmt: skip
    """Print the listed vertices and every edge on them."""
    with open_node(repo, node, remote, write=False) as n:
        doc = _graph(n, name).get_subgraph(vertices)
    _print_graph(doc, json_)


def neighbors(
    name: NameArg, vertex: VertexArg,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None, json_: JsonOpt = False,
) -> None:  # fmt: skip
    """Print a vertex, its neighbours and its edges."""
    with open_node(repo, node, remote, write=False) as n:
        doc = _graph(n, name).neighbors(vertex)
    _print_graph(doc, json_)


def components(
    name: NameArg,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None, json_: JsonOpt = False,
) -> None:  # fmt: skip
    """Print the connected components (one line of vertices each)."""
    with open_node(repo, node, remote, write=False) as n:
        comps = _graph(n, name).connected_components()
    if json_:
        _output.emit_json(comps)
        return
    for c in comps:
        _output.info(" ".join(map(str, c)))


def merge(
    name: NameArg,
    vertices: Annotated[
        list[int], typer.Argument(help="Vertices to merge; the LAST one is kept.", min=1)
    ],
    weight: Annotated[
        float, typer.Option("--weight", "-w", help="The kept vertex's weight (0: the sum).")
    ] = 0.0,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Merge vertices into the last one (DVID's POST merge): weights are summed."""
    listed: list[dict[str, float]] = [{"Id": v} for v in vertices]
    listed[-1]["Weight"] = weight
    body = {"Vertices": listed, "Edges": []}
    with open_node(repo, node, remote, write=True) as n:
        kept = _graph(n, name).merge(body)
    if json_:
        _output.emit_json({"kept": kept, "merged": vertices[:-1]})
    else:
        _output.info(f"merged {len(vertices) - 1} vertices into {kept}")


def delete(
    name: NameArg,
    vertex: Annotated[
        list[int] | None, typer.Option("--vertex", "-v", help="A vertex (repeatable).", min=1)
    ] = None,
    edge: Annotated[
        list[str] | None, typer.Option("--edge", "-e", help="An edge A,B (repeatable).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete the whole graph.")] = False,
    node: NodeOpt = None,
    repo: RepoOpt = None,
    remote: RemoteOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Delete vertices (with their edges and properties) and edges, or --all."""
    vertices, edges = vertex or [], []
    for text in edge or []:
        a, b = _target(text)
        if b is None:
            raise BadRequestError(f"--edge {text!r} is not A,B")
        edges.append({"Id1": a, "Id2": b})
    if bool(vertices or edges) == all_:
        raise BadRequestError("name vertices or edges to delete, or --all (not both)")
    body = {"Vertices": [{"Id": v} for v in dict.fromkeys(vertices)], "Edges": edges}
    with open_node(repo, node, remote, write=True) as n:
        counts = _graph(n, name).delete_subgraph(None if all_ else body)
    if json_:
        _output.emit_json(counts)
    else:
        _output.info(f"deleted {counts['vertices']} vertices and {counts['edges']} edges")


def get_property(
    name: NameArg, target: TargetArg, key: PropArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None,
) -> None:  # fmt: skip
    """Print a vertex (V) or edge (A,B) property's raw bytes."""
    a, b = _target(target)
    with open_node(repo, node, remote, write=False) as n:
        value = _graph(n, name).get_property(a, key, b)
    if output is None:
        _output.emit_bytes(value)
    else:
        _output.write_file(output, value)


def set_property(
    name: NameArg, target: TargetArg, key: PropArg,
    file: Annotated[str, typer.Argument(help="File with the value, or - for stdin.")] = "-",
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None,
) -> None:  # fmt: skip
    """Set a vertex (V) or edge (A,B) property from a file or stdin."""
    a, b = _target(target)
    if file == "-":
        value = sys.stdin.buffer.read()
    else:
        try:
            value = Path(file).read_bytes()
        except OSError as exc:
            raise BadRequestError(f"cannot read {file}: {exc.strerror}") from None
    with open_node(repo, node, remote, write=True) as n:
        _graph(n, name).put_property(a, key, value, b)


def delete_property(
    name: NameArg, target: TargetArg, key: PropArg,
    node: NodeOpt = None, repo: RepoOpt = None, remote: RemoteOpt = None,
) -> None:  # fmt: skip
    """Delete a vertex (V) or edge (A,B) property (an error if it is not set)."""
    from dvidctl.errors import NotFoundError

    a, b = _target(target)
    with open_node(repo, node, remote, write=True) as n:
        if not _graph(n, name).delete_property(a, key, b):
            raise NotFoundError(f"property {key!r} of {target} is not set")


def register(app: typer.Typer) -> None:
    """Add the ``graph`` command group."""
    graph_app = typer.Typer(
        help="labelgraph data: vertices, edges, weights, properties.", no_args_is_help=True
    )
    for verb, fn in (
        ("put", put), ("add-vertex", add_vertex), ("add-edge", add_edge), ("get", get),
        ("subgraph", subgraph), ("neighbors", neighbors), ("components", components),
        ("merge", merge), ("delete", delete), ("get-property", get_property),
        ("set-property", set_property), ("delete-property", delete_property),
    ):  # fmt: skip
        graph_app.command(verb)(fn)
    app.add_typer(graph_app, name="graph")


__all__ = ["register"]
