"""The import graph of src/neuralmd has no cycle (imports inside functions count too), and the
subpackages import only the steps before them on the data path (docs/design.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import neuralmd

SRC = Path(neuralmd.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` refers to, seen from ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str) -> set[str]:
    """The package's modules ``module`` imports anywhere in its text (module level or lazily)."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            # ``from pkg import sub`` imports the submodule when there is one, else names of pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != module)
    return out


GRAPH = {m: imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_is_read():
    # Guards the checks below against an empty or misread graph.
    assert "neuralmd._format" in GRAPH["neuralmd.dynamics._base"]
    assert "neuralmd.cli._report" in GRAPH["neuralmd.cli._train"]          # a lazy import counts
    assert "neuralmd.cli._evaluate" in GRAPH["neuralmd.cli._report"]


def test_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle())


def test_a_cycle_would_be_found():
    GRAPH["neuralmd._format"].add("neuralmd.dynamics._base")
    try:
        assert _cycle() is not None
    finally:
        GRAPH["neuralmd._format"].discard("neuralmd.dynamics._base")


#: The data path: each step may import only the steps before it (and the shared low-level modules).
ORDER = ["neuralmd._elements", "neuralmd._format", "neuralmd.data", "neuralmd.frames", "neuralmd.layers",
         "neuralmd.dynamics", "neuralmd.metrics", "neuralmd.io", "neuralmd.testing", "neuralmd.cli"]


def _step(module: str) -> int | None:
    for i, prefix in enumerate(ORDER):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return None


def test_subpackages_import_only_earlier_steps():
    backwards = [(m, n) for m, targets in GRAPH.items() for n in targets
                 if _step(m) is not None and _step(n) is not None and _step(n) > _step(m)]
    assert not backwards, backwards
