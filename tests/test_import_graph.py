"""No module of aad_guard imports, directly or through others, a module that imports it.

The graph is read from the source (AST), not from `sys.modules`, so a cycle that happens to
import fine today still fails. An edge is any `import` or `from ... import`, absolute or
relative, at module level or inside a function (an import deferred into a function is a
dependency all the same, and deferring is how cycles get hidden). `from . import name`
counts as importing the submodule `name` when there is one, else the package.

Two graphs are checked. The run-time graph leaves out imports under `if TYPE_CHECKING:`,
which Python never runs. The typing graph keeps them: a module that names another's types
only for annotations still depends on it, and a cycle there is the same tangle of
responsibilities (the local issuer's modules once knew each other both ways this way).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aad_guard

PACKAGE_ROOT = Path(aad_guard.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name; a package is its `__init__.py`."""
    modules = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, typing: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of a module anywhere in it; under TYPE_CHECKING if `typing`."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child) and not typing:
            yield from (node for stmt in child.orelse for node in _imports_in(stmt, typing))
            continue
        yield from _imports_in(child, typing)


def _imports_in(node: ast.AST, typing: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node, typing=typing)


def _targets(name: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The package's modules that one import statement of module `name` imports."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    package = name.split(".")
    if modules[name].name != "__init__.py":
        package.pop()  # a module's relative imports are relative to its package
    if node.level:
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        found.add(submodule if submodule in modules else base)
    return found & modules.keys()


def import_graph(*, typing: bool) -> dict[str, set[str]]:
    """Each module of aad_guard and the modules of aad_guard it imports."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _imports(tree, typing=typing):
            targets |= _targets(name, node, modules)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_modules_import_each_other_at_run_time() -> None:
    assert cycles(import_graph(typing=False)) == []


def test_no_modules_import_each_other_even_for_annotations() -> None:
    assert cycles(import_graph(typing=True)) == []


def test_the_graph_sees_relative_absolute_and_function_level_imports() -> None:
    graph = import_graph(typing=False)
    assert "aad_guard._fetch" in graph["aad_guard.testing._issuer"]  # from .._fetch import
    assert "aad_guard.testing.__main__" in graph["aad_guard.cli"]  # inside a function
    assert "aad_guard.testing" in graph["aad_guard.cli._commands"]


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
