"""Imports flow one way (ARCHITECTURE.md): no cycles, and no app imports an app above it.

Read from the source with `ast`, so imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = (
    "genpack_site",
    "hardware_profiles",
    "package_index",
    "blueprints",
    "builds",
    "accounts",
)
# What each app may not import (module prefixes); the one named exception is below.
FORBIDDEN = {
    "package_index": ("blueprints", "builds", "hardware_profiles"),
    "hardware_profiles": ("blueprints", "builds", "package_index"),
    "blueprints": ("builds.",),
    # People and roles know Django's users and groups, and nothing of the image factory.
    "accounts": ("blueprints", "builds", "hardware_profiles", "package_index"),
}
ALLOWED_BACK_EDGES = {
    ("blueprints.views", "builds.selectors"),
    # The profile pages check package names against the index a profile builds from, and
    # count the blueprints a change affects: read-only questions, answered in blueprints.
    ("hardware_profiles.views", "blueprints.profile_checks"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    # `from builds import paths` names the module builds.paths, not the package.
    return {name for name in found if not any(o.startswith(name + ".") for o in found)}


def _graph() -> dict[str, set[str]]:
    modules = _project_modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, trail = stack.pop()
        for target in graph.get(node, ()):
            if target == start:
                return [*trail, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*trail, target]))
    return None


def test_no_module_imports_itself_through_others() -> None:
    graph = _graph()
    cycles = [cycle for name in graph if (cycle := _cycle_from(graph, name))]

    assert cycles == [], " → ".join(cycles[0]) if cycles else ""


def test_apps_import_only_downwards() -> None:
    back_edges = [
        (module, target)
        for module, targets in _graph().items()
        for target in targets
        for app, forbidden in FORBIDDEN.items()
        if module.split(".")[0] == app
        and target.startswith(forbidden)
        and (module, target) not in ALLOWED_BACK_EDGES
    ]

    assert back_edges == []
