"""The import rule of ARCHITECTURE.md and docs/architecture.md, read from every module's AST.

Layers, lowest first (a module may import its own layer and any layer below)::

    0 foundation   errors ids geometry imageio png64 upkeep httpkit
    1 store
    2 datatypes
    3 api
    4 server, sync      (peers: neither imports the other)
    5 commands          (the CLI: may start a server or a sync)

Every import counts: top-level, inside functions, under ``TYPE_CHECKING``, and
module names handed to ``importlib`` as strings, since those are how cycles
hide. Besides the layer rule, the graph between packages (each directory, e.g.
``dvidctl.datatypes.imageblk``) must have no cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

from dvidctl.datatypes.registry import BUILTIN

ROOT = Path(__file__).resolve().parents[2] / "dvidctl"
FOUNDATION = {"errors", "ids", "geometry", "imageio", "png64", "upkeep", "httpkit"}
RANK = {
    **dict.fromkeys(FOUNDATION, 0),
    "store": 1,
    "datatypes": 2,
    "api": 3,
    "server": 4,
    "sync": 4,
    "commands": 5,
}
PEERS = {frozenset({"server", "sync"})}
#: Plugin loading: the registry imports a built-in type's package when the type is
#: first named (``registry.BUILTIN``); each type package imports the registry to
#: register itself. The only cycle allowed, and only through these strings.
PLUGIN_LOADER = "dvidctl.datatypes.registry"
_MODULE_STRING = re.compile(r"^dvidctl(\.[a-z_][a-z0-9_]*)+$")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str, path: Path | None = None) -> str:
    """The node of ``module`` in the package graph: the directory package it lives in.

    A package's ``__init__`` is its own package; the modules right under
    ``dvidctl/`` (errors, geometry, ...) are foundation layers each on their own.
    """
    if path is not None and path.name == "__init__.py":
        return module
    if (ROOT.parent / Path(*module.split("."))).is_dir():
        return module
    parent = module.rsplit(".", 1)[0]
    return module if parent == "dvidctl" else parent


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every ``dvidctl`` module ``path`` names in an import (or an importlib string)."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if path.name == "__init__.py" else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # ``from dvidctl.x import y`` may name a module y
            found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_STRING.match(node.value):
                found.append((node.value, node.lineno))
    return [(t, n) for t, n in found if t == "dvidctl" or t.startswith("dvidctl.")]


def _existing_module(name: str) -> str | None:
    """The longest prefix of ``name`` that is a dvidctl module or package."""
    parts = name.split(".")
    while parts:
        rel = Path(*parts[1:]) if len(parts) > 1 else Path()
        if (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _edges() -> list[tuple[str, str, str, int]]:
    """``(importer module, imported module, file, line)`` for every import in dvidctl."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        src = _module_name(path)
        for target, line in imports_of(path):
            mod = _existing_module(target)
            if mod is not None and mod != src:
                out.append((src, mod, str(path.relative_to(ROOT.parent)), line))
    return out


EDGES = _edges()


def test_every_layer_is_ranked() -> None:
    layers = {_layer(_module_name(p)) for p in ROOT.rglob("*.py")} - {None, "__main__"}
    assert layers <= set(RANK), f"add these to the layer table: {layers - set(RANK)}"


def test_imports_go_down_only() -> None:
    bad = []
    for src, dst, where, line in EDGES:
        a, b = _layer(src), _layer(dst)
        if a in (None, "__main__") or b is None or a == b:
            continue
        if frozenset({a, b}) in PEERS or RANK[b] > RANK[a]:
            bad.append(f"{where}:{line}: {src} ({a}) imports {dst} ({b})")
    assert not bad, "imports that go up or sideways:\n" + "\n".join(bad)


def test_no_cycle_between_packages() -> None:
    graph = nx.DiGraph()
    for src, dst, where, line in EDGES:
        if src == PLUGIN_LOADER and dst in BUILTIN.values():
            continue
        a, b = _package_of(src, ROOT.parent / where), _package_of(dst)
        if a != b:
            graph.add_edge(a, b, where=f"{where}:{line}")
    cycles = list(nx.simple_cycles(graph))
    described = [
        " -> ".join(c + [c[0]])
        + "  ("
        + ", ".join(graph.edges[c[i], c[(i + 1) % len(c)]]["where"] for i in range(len(c)))
        + ")"
        for c in cycles
    ]
    assert not cycles, "package cycles:\n" + "\n".join(described)


@pytest.mark.parametrize(
    ("source", "expect"),
    [
        ("import dvidctl.server.app\n", "dvidctl.server.app"),
        ("def f():\n    from dvidctl.api import node\n", "dvidctl.api.node"),
        ("x = 'dvidctl.server.tables'\n", "dvidctl.server.tables"),
    ],
)
def test_the_reader_sees_every_kind_of_import(tmp_path: Path, source: str, expect: str) -> None:
    path = ROOT / "datatypes" / "_layering_probe.py"
    try:
        path.write_text(source)
        assert expect in [t for t, _ in imports_of(path)]
    finally:
        path.unlink()
