"""docchat has a floor plan: no module imports another that imports it back, directly or round a
loop.  Every import counts, ``TYPE_CHECKING`` and function-level ones included: a lazy import only
hides a circle from the interpreter.  ``from package import module`` counts as importing the
package too (its ``__init__`` runs first and is read): import-linter's graph does not see that
circle, so this check stands beside its contracts in pyproject.toml."""

from __future__ import annotations

import ast
from pathlib import Path

import docchat

PACKAGE = Path(docchat.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module under ``root`` and the docchat modules it imports (anywhere in its text)."""
    modules = {_module_name(p): p for p in root.rglob("*.py")}
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets.add(base)
                # ``from docchat.chat import modes`` imports the module docchat.chat.modes.
                targets.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_checker_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_module_of_the_chat_package_imports_in_a_loop() -> None:
    assert cycles(import_graph(PACKAGE / "chat")) == []


def test_no_module_of_docchat_imports_in_a_loop() -> None:
    # A package and a module inside it count too (``docchat.api`` runs ``docchat.api.app``,
    # which read ``mcp`` from ``docchat.api``).
    assert cycles(import_graph(PACKAGE)) == []


def test_modes_do_not_import_each_other() -> None:
    graph = import_graph(PACKAGE / "chat" / "modes")
    mode_modules = {m for m in graph if m != "docchat.chat.modes" and not m.endswith(".mode")}
    assert len(mode_modules) >= 4
    assert {m: sorted(graph[m] & mode_modules) for m in mode_modules} == {
        m: [] for m in mode_modules
    }
