"""The import graph of ``s2s_guard`` points down: no import cycle, no import from a higher layer.

The graph is read from the source with :mod:`ast`, so it sees every ``import`` statement:
module-level, inside functions (the lazy ones that hide a cycle) and under ``TYPE_CHECKING``,
with relative imports resolved. :data:`LAYERS` is the one declaration of the layers
(ARCHITECTURE.md mirrors it); a new module must be placed in it before this test passes.

Two rules:

- **Layers**: a module imports only from its own layer or lower ones, type-only imports
  included (a reader follows those too).
- **Cycles**: the imports that run (everything but ``if TYPE_CHECKING:`` blocks) form no cycle,
  even through a function-level import. A ``TYPE_CHECKING`` import inside one layer may point
  back (an endpoint annotated with the issuer that calls it): it runs nothing.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import s2s_guard

PACKAGE = Path(s2s_guard.__file__).parent
BENCHMARKS = PACKAGE.parent / "benchmarks"

#: Bottom to top. Patterns are module names (``fnmatch``); the longest matching pattern places a module.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Pure values every layer shares: the exception tree, principals, grants, URL predicates,
    # and the telemetry protocol (sources and the guard report to it; its implementations sit above).
    ("foundation", ("s2s_guard._version", "s2s_guard.errors", "s2s_guard.principal", "s2s_guard.grants",
                    "s2s_guard.core.urls", "s2s_guard.telemetry.base")),
    # Frozen dataclasses and load_config: imports no profile and no source (they register themselves).
    ("config", ("s2s_guard.config", "s2s_guard.config.*")),
    # Sans-I/O: JOSE, keys, claims, profiles, introspection responses, and the route policies.
    ("core", ("s2s_guard.core", "s2s_guard.core.*", "s2s_guard.policy", "s2s_guard.delegation",
              "s2s_guard.inspect_token")),
    # The only network and cache I/O: key sources, discovery, introspection, caches; the outbound client.
    ("sources", ("s2s_guard.sources", "s2s_guard.sources.*", "s2s_guard.client", "s2s_guard.client.*")),
    # The audit log and OpenTelemetry, behind the protocol in telemetry.base.
    ("telemetry", ("s2s_guard.telemetry", "s2s_guard.telemetry.*")),
    # The guard, an orchestrator over the pipeline stages, and what it builds at start-up.
    # Diagnostics: the startup summary and the explanation of a refusal, for a person, from the guard's view.
    ("guard", ("s2s_guard.guard", "s2s_guard.pipeline*", "s2s_guard.binding", "s2s_guard.resource_metadata",
               "s2s_guard.summary", "s2s_guard.explain", "s2s_guard.diagnose", "s2s_guard.readiness")),
    # Framework adapters: translate a request for the guard and its answer back, nothing more.
    ("adapters", ("s2s_guard.asgi", "s2s_guard.wsgi", "s2s_guard.sender", "s2s_guard.contrib",
                  "s2s_guard.contrib.*")),
    # The public facade and the tools built on everything: CLI, demo, the testing kit.
    ("tools", ("s2s_guard", "s2s_guard.cli", "s2s_guard.cli_*", "s2s_guard.demo", "s2s_guard.demo_*",
               "s2s_guard.testing", "s2s_guard.testing.*")),
)

@dataclass(frozen=True)
class Import:
    """One import statement's edge: who imports what, where, and whether it runs."""

    source: str
    target: str
    line: int
    runtime: bool  # False: under ``if TYPE_CHECKING:``


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package at ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(node: ast.AST, runtime: bool = True) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import under ``node`` (functions and classes included), with whether it runs."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, runtime
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), runtime=False)
            for stmt in child.orelse:
                yield from _statements(ast.Module(body=[stmt], type_ignores=[]), runtime)
        else:
            yield from _statements(child, runtime)


def _closest(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module ``name`` designates: itself, or the nearest enclosing module (an attribute's)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(stmt: ast.Import | ast.ImportFrom, source: str, is_package: bool,
             modules: Mapping[str, Path]) -> Iterator[str]:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            found = _closest(alias.name, modules)
            if found:
                yield found
        return
    if stmt.level:  # relative: from the package (an __init__'s own name, else the parent)
        base = source.split(".") if is_package else source.split(".")[:-1]
        base = base[:len(base) - stmt.level + 1]
        origin = ".".join(base + ([stmt.module] if stmt.module else []))
    else:
        origin = stmt.module or ""
    for alias in stmt.names:
        found = _closest(f"{origin}.{alias.name}", modules) if f"{origin}.{alias.name}" in modules else \
            _closest(origin, modules)
        if found:
            yield found


def import_graph(root: Path) -> list[Import]:
    """Every edge between modules of the package at ``root`` (a module importing itself is not one)."""
    modules = module_names(root)
    edges = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for stmt, runtime in _statements(tree):
            for target in _targets(stmt, source, path.name == "__init__.py", modules):
                if target != source:
                    edges.append(Import(source, target, stmt.lineno, runtime))
    return edges


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module``'s layer (``None``: not declared)."""
    best: tuple[int, int] | None = None
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if fnmatch.fnmatchcase(module, pattern) and (best is None or len(pattern) > best[0]):
                best = (len(pattern), index)
    return None if best is None else best[1]


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle or several."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _where(edge: Import) -> str:
    return f"{edge.source} -> {edge.target} (line {edge.line}{'' if edge.runtime else ', TYPE_CHECKING'})"


def _cycle_report(component: list[str], edges: Iterable[Import]) -> str:
    inside = sorted({_where(e) for e in edges if e.source in component and e.target in component})
    return "cycle among " + ", ".join(component) + ":\n    " + "\n    ".join(inside)


GRAPH = import_graph(PACKAGE)


def test_every_module_has_a_layer() -> None:
    undeclared = sorted(m for m in module_names(PACKAGE) if layer_of(m) is None)
    assert not undeclared, f"place these modules in LAYERS (and ARCHITECTURE.md): {undeclared}"


def test_no_import_cycles() -> None:
    runtime = [e for e in GRAPH if e.runtime]
    found = cycles(runtime)
    assert not found, "\n".join(_cycle_report(c, runtime) for c in found)


def test_imports_point_down() -> None:
    upward = {_where(e) + f": {LAYERS[layer_of(e.source) or 0][0]} imports {LAYERS[layer_of(e.target) or 0][0]}"
              for e in GRAPH
              if (layer_of(e.target) or 0) > (layer_of(e.source) or 0)}
    assert not upward, "imports from a higher layer:\n  " + "\n  ".join(sorted(upward))


def test_core_imports_no_source_guard_adapter_or_telemetry() -> None:
    # The rule, stated directly: core/ is sans-I/O and knows nothing above it, not even
    # the telemetry protocol that the layer table lets lower modules use.
    banned = ("s2s_guard.sources", "s2s_guard.telemetry", "s2s_guard.guard", "s2s_guard.pipeline",
              "s2s_guard.asgi", "s2s_guard.wsgi", "s2s_guard.sender", "s2s_guard.contrib")
    bad = {_where(e) for e in GRAPH if e.source.startswith("s2s_guard.core") and e.target.startswith(banned)}
    assert not bad, sorted(bad)


def test_config_imports_no_profile_and_no_source() -> None:
    bad = {_where(e) for e in GRAPH if e.source.startswith("s2s_guard.config")
           and not e.target.startswith(("s2s_guard.config", "s2s_guard.errors", "s2s_guard.grants",
                                        "s2s_guard.core.urls", "s2s_guard.principal"))}
    assert not bad, sorted(bad)


def test_the_graph_sees_lazy_relative_and_type_only_imports(tmp_path: Path) -> None:
    # The checker itself: a cycle through a function-level relative import is found, and a
    # TYPE_CHECKING import is an edge for the layers but not for the cycles.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .low import x\n")
    (package / "sub" / "low.py").write_text("def f():\n    from ..high import y\nx = 1\n")
    (package / "high.py").write_text("from typing import TYPE_CHECKING\nfrom .sub import low\n"
                                     "if TYPE_CHECKING:\n    from . import typed\ny = 2\n")
    (package / "typed.py").write_text("from .high import y\n")
    edges = import_graph(package)
    assert {(e.source, e.target, e.runtime) for e in edges} == {
        ("pkg.sub", "pkg.sub.low", True), ("pkg.sub.low", "pkg.high", True),
        ("pkg.high", "pkg.sub.low", True), ("pkg.high", "pkg.typed", False), ("pkg.typed", "pkg.high", True)}
    assert cycles([e for e in edges if e.runtime]) == [["pkg.high", "pkg.sub.low"]]


def test_benchmarks_have_no_import_cycle() -> None:
    # Not a package: scripts that import each other by file name (``from common import ...``).
    scripts = {path.stem: path for path in BENCHMARKS.glob("*.py")}
    edges = []
    for name, path in scripts.items():
        for stmt, runtime in _statements(ast.parse(path.read_text(encoding="utf-8"))):
            targets = ([a.name for a in stmt.names] if isinstance(stmt, ast.Import) else
                       [stmt.module or ""] if not stmt.level else [])
            edges += [Import(name, t, stmt.lineno, runtime) for t in targets if t in scripts and t != name]
    found = cycles([e for e in edges if e.runtime])
    assert not found, "\n".join(_cycle_report(c, edges) for c in found)


#: Modules allowed above :data:`MAX_LINES`, each with its reason (its docstring should say it too).
LONG_MODULES = {
    "errors.py": "the one exception tree its docstring draws, one short class per leaf",
}
MAX_LINES = 350


def test_modules_are_at_most_350_lines() -> None:
    long = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
            for path in module_names(PACKAGE).values()}
    over = {name: lines for name, lines in long.items() if lines > MAX_LINES and name not in LONG_MODULES}
    assert not over, f"split these (or justify them in LONG_MODULES and their docstring): {over}"
