"""evalkit's import graph has no cycles, and the README's architecture section names every folder.

An edge A -> B means importing module A imports B at load time (a top-level `import`, including one
inside a top-level `try` or `if`); imports inside functions are taken when called and are left out.
Importing `evalkit.x.y` also runs `evalkit.x`'s `__init__`, so that is an edge too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "evalkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, (ast.Try, ast.If)):  # still run at load time
            todo += node.body + node.orelse + [s for h in getattr(node, "handlers", []) for s in h.body]
            todo += getattr(node, "finalbody", [])
    return out


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}

    def add(src: str, target: str) -> None:
        named = True  # the module named (else the nearest that exists); then the packages above it,
        while target:  # except those that hold `src` (they are loaded before `src` runs)
            if target in modules and target != src:
                if named or not src.startswith(target + "."):
                    graph[src].add(target)
                named = False
            target = target.rpartition(".")[0]

    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(name, alias.name)
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    add(name, full if full in modules else base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
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
            visit(v)
    return found


def test_evalkit_has_no_import_cycles():
    graph = import_graph()
    assert "evalkit.run.rundir" in graph["evalkit.run.pipeline"]  # the graph is read
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_task_side_imports_no_verifier():
    graph = import_graph()
    assert not {m for m in graph["evalkit.taskspec"] if m.startswith("evalkit.verifiers")}


def test_the_readme_architecture_names_every_package_folder():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    folders = {p.parent.relative_to(REPO).as_posix() + "/" for p in PACKAGE.rglob("__init__.py")}
    missing = [f for f in sorted(folders) if f not in section]
    assert not missing, f"README's architecture section does not name: {missing}"
