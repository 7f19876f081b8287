"""Imports flow one way: apps → image_builder → appliance, and apps → appliance.

Every import statement of the two Django-free layers is read with `ast` (at module level and
inside functions alike, since a lazy import is still an edge), so a layer that reaches back up
fails here rather than on a build host without Django, or on a device at boot.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = frozenset(sys.stdlib_module_names)

# What each layer may import besides the standard library: itself, and the layers below it.
ALLOWED = {
    "appliance": frozenset({"appliance"}),
    "image_builder": frozenset({"image_builder", "appliance"}),
}
# The one import that names a module the device's sys.path provides, not a package: the agent
# is installed beside the system_ini package and imports it as `system_ini` (appliance's own).
DEVICE_IMPORTS = {("appliance/agent.py", "system_ini")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Absolute names of every module `path` imports, relative imports resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module or ""
                continue
            package = _module_name(path).split(".")
            base = package[: len(package) - node.level + (1 if is_package else 0)]
            yield ".".join([*base, node.module] if node.module else base)


def layer_imports(layer: str) -> list[tuple[str, str]]:
    """(file, top-level name) for every import in `layer`, device imports excepted."""
    edges = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name in imports_of(path):
            top = name.split(".")[0]
            if (relative, top) not in DEVICE_IMPORTS:
                edges.append((relative, top))
    return edges


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_django_in_the_django_free_layers(layer: str) -> None:
    assert [edge for edge in layer_imports(layer) if edge[1] == "django"] == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_standard_library_itself_and_the_layers_below(
    layer: str,
) -> None:
    edges = layer_imports(layer)
    assert len(edges) > 20, "no imports found: the walk is broken"
    outside = [(path, top) for path, top in edges if top not in STDLIB | ALLOWED[layer]]
    assert outside == []


def test_relative_imports_resolve_inside_their_package() -> None:
    validate = ROOT / "appliance/system_ini/validate.py"
    init = ROOT / "appliance/system_ini/__init__.py"
    assert "appliance.system_ini.keys" in set(imports_of(validate))
    assert "appliance.system_ini.reader" in set(imports_of(init))
