"""Check that the package's imports point down its layers: no circle, nothing upward.

The package ``ddpm_tutorial`` is built in layers (see its docstring and the appendix "How the
package is built"). Each row of :data:`LAYERS` may import from the rows above it and from its
own folder or module, never from a row below and never sideways into another name of its row.
A package import inside a function would hide such an arrow from a reader (and from this
check), so only :data:`LAZY_ALLOWED` modules may import lazily.

Run ``python tools/check_layers.py``; it prints one line per violation and exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "ddpm_tutorial"

#: top to bottom; a name is a top-level module or folder of the package
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "runtime", "precision", "text"),
    ("schedules",),
    ("_validation",),
    ("forward_process", "parameterizations"),
    ("losses", "reverse_process", "flow_matching", "scores"),
    ("ode_samplers", "editing"),
    ("models",),
    ("data", "training", "checkpoints"),
    ("metrics",),
    ("systems",),
    ("runs", "experiments", "checks", "plotting"),
    ("cli",),
    ("__main__",),
)
#: the package's face re-exports Part I's API, from rows at most this deep
ROOT_MAY_IMPORT_DOWN_TO = "checkpoints"
#: modules allowed a package import inside a function (none: optional dependencies are
#: third-party and the command line starts from cli/__init__ at the top)
LAZY_ALLOWED: frozenset[str] = frozenset()


def layer_of(group: str) -> int:
    for i, row in enumerate(LAYERS):
        if group in row:
            return i
    raise KeyError(group)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute names of the package modules an ``from X import a, b`` reaches."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    if not base.startswith(PACKAGE):
        return []
    names = [f"{base}.{alias.name}" for alias in node.names]  # submodules or attributes
    return names if node.module is None else [base, *names]


def imports_of(path: Path, root: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every package import of a file."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                for name in _resolve(child, module, is_package):
                    found.append((name, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith(PACKAGE):
                        found.append((alias.name, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def _existing(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def check(root: Path) -> list[str]:
    """Every violation in the package folder ``root``, one sentence each."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(p, root): p for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for module, path in modules.items():
        rel = path.relative_to(root.parent)
        source_group = module.split(".")[1] if "." in module else None
        for name, line, lazy in imports_of(path, root):
            target = _existing(name, set(modules))
            if target is None or target == module:
                continue
            graph[module].add(target)
            if lazy and module not in LAZY_ALLOWED:
                problems.append(f"{rel}:{line}: imports {target} inside a function")
            target_group = target.split(".")[1] if "." in target else None
            if target_group is None:
                problems.append(f"{rel}:{line}: imports the package's face {PACKAGE}")
                continue
            if source_group is None:  # the package's face
                if layer_of(target_group) > layer_of(ROOT_MAY_IMPORT_DOWN_TO):
                    problems.append(f"{rel}:{line}: the package's face imports {target}")
                continue
            if source_group == target_group:
                continue
            src, dst = layer_of(source_group), layer_of(target_group)
            if dst > src:
                problems.append(f"{rel}:{line}: {module} imports {target}, a layer below it")
            elif dst == src:
                problems.append(f"{rel}:{line}: {module} imports {target}, beside it in its layer")
    problems.extend(_circles(graph))
    return list(dict.fromkeys(problems))


def _circles(graph: dict[str, set[str]]) -> list[str]:
    """One sentence per import circle among modules (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                found.append("import circle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent / PACKAGE
    problems = check(root)
    for line in problems:
        print(line)
    if not problems:
        print(f"{PACKAGE}: every import points down its layers; no import circle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
