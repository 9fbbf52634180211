"""No import cycles between perpwatch modules, counting every import the source names.

Each module under ``perpwatch/`` is parsed with :mod:`ast`; every ``import`` and
``from ... import`` anywhere in it counts as an edge: at module level, under
``if TYPE_CHECKING:``, inside functions. ``import a.b.c`` and ``from a.b import c`` are
edges to the module they name (``c`` when ``a.b.c`` is a module, else ``a.b``). A cycle
means two layers depend on each other; a Protocol in the lower module breaks it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "perpwatch"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The perpwatch modules ``module`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def add(name: str) -> None:
        # the longest prefix of ``name`` that is a module of the package
        parts = name.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in modules:
                found.add(candidate)
                return
            parts.pop()

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                source = _resolve_relative(module, is_package, node.level, node.module)
            else:
                source = node.module or ""
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in modules else source)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = module_names(root)
    names = set(modules)
    return {name: imports_of(name, path, names) for name, path in modules.items()}


def components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan): the groups
    of modules that import each other, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle through each component, so a failure names imports to change."""
    return [_one_cycle(graph, set(c)) for c in components(graph)]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(component)  # unreachable for a strongly connected component


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "perpwatch.errors" in graph["perpwatch.settings"]  # from perpwatch.errors import X
    assert "perpwatch.market.exchanges.binance" in graph["perpwatch.market.exchanges"]
    # a function-local import (ccxt loads slowly, so the factory imports it when needed)
    assert "perpwatch.market.ccxt.market" in graph["perpwatch.market.factory"]
    # imports under ``if TYPE_CHECKING:``
    assert "perpwatch.scheduler.hama_scheduler" in graph["perpwatch.jobs"]


def test_no_import_cycles_between_perpwatch_modules() -> None:
    graph = import_graph()
    found = [
        f"{' -> '.join(_one_cycle(graph, set(c)))}  (modules in this cycle group: {', '.join(c)})"
        for c in components(graph)
    ]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_checker_finds_a_type_checking_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from perpwatch.sub import high\n"
    )
    (pkg / "sub" / "high.py").write_text("def f():\n    from .. import low\n")
    (pkg / "other.py").write_text("import perpwatch.low\n")
    found = cycles(import_graph(pkg))
    assert found == [["perpwatch.low", "perpwatch.sub.high", "perpwatch.low"]]
