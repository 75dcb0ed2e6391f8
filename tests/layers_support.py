"""The import-layering contract of DESIGN.md, read from the source with `ast` (nothing is imported).

The same rules as the team's `import_layers.py` tool, kept in the repository so the test suite
enforces them: the domain never imports the layers that call it, models never import services,
`app.services.files` is pure, and no module imports itself back through a circle. Every import
counts, those inside functions and under TYPE_CHECKING included: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("app", "admin_views", "jobs")
RULES = [
    # (importer prefix, imported prefix, why)
    ("app.services", "jobs", "domain code must not reach up into the job layer"),
    ("app.services", "admin_views", "domain code must not know the admin"),
    ("app.services", "app.api", "domain code must not know the HTTP API"),
    ("app.services", "app.auth", "domain code must not know the login views"),
    ("app.services", "app.cli", "domain code must not know the CLI"),
    ("app.models", "app.services", "models must not depend on services"),
    ("app.models", "jobs", "models must not depend on jobs"),
    ("app.services.files", "app.models", "files/ builds files from plain values"),
    ("app.services.files", "app.extensions", "files/ touches no database"),
    ("app.services.files", "flask", "files/ knows no Flask"),
]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(root: Path, path: Path, modules: set[str]) -> set[str]:
    """The modules one file imports; `from pkg import mod` counts as importing pkg.mod."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(target)
    # A module's parent packages run first anyway: not an arrow of its design.
    return {m for m in found if m and not within(me, m)}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports (the project's own and third-party alike)."""
    files = [p for pkg in PACKAGES if (root / pkg).is_dir() for p in sorted((root / pkg).rglob("*.py"))]
    modules = {module_name(root, p) for p in files}
    return {module_name(root, p): imports_of(root, p, modules) for p in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of project modules that reach each other (strongly connected, more than one)."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt in graph and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    groups, placed = [], set()
    for module in sorted(graph):
        if module in placed:
            continue
        group = sorted({module} | {o for o in reachable[module] if module in reachable[o]})
        placed.update(group)
        if len(group) > 1:
            groups.append(group)
    return groups


def problems(root: Path) -> list[str]:
    """Every circle and every import against RULES, one line each; empty when the house is in order."""
    graph = import_graph(root)
    found = ["circle: " + " <-> ".join(group) for group in circles(graph)]
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            found.extend(
                f"against the layers: {importer} imports {target} ({why})"
                for src, dst, why in RULES
                if within(importer, src) and within(target, dst)
            )
    return found
