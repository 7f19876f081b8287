"""The one module that reads and writes blueprint JSON5 (genpack.json5 field names).

Everything that turns text into a blueprint goes through `blueprint_parse`, which raises a
single error type, `BlueprintSourceError`, carrying the line number a person should look at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import json5

# Fields that mean the same here as in genpack (BLUEPRINT.md).
KNOWN_FIELDS = frozenset(
    {
        "name",
        "description",
        "version",
        "packages",
        "buildtime_packages",
        "services",
        "users",
        "groups",
        "files",
        "setup_commands",
        "targets",
        "system_ini",
        "settings",
        "arch",
        "variants",
        "compression",
    }
)
# genpack fields with no meaning for Debian builds: kept in the source, ignored, warned about.
GENPACK_ONLY_FIELDS = frozenset(
    {
        "use",
        "accept_keywords",
        "license",
        "mask",
        "env",
        "binpkg_excludes",
    }
)
STRING_LIST_FIELDS = ("packages", "buildtime_packages", "services", "setup_commands", "targets")
COMPRESSIONS = ("xz", "gzip")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Debian package names (policy 5.6.1), optionally prefixed with "-" to remove one.
DEBIAN_PACKAGE = re.compile(r"^-?[a-z0-9][a-z0-9+.-]+$")
GENTOO_ATOM = re.compile(r"^[<>=~!]*[a-z0-9-]+/[A-Za-z0-9_+.-]+")
_ERROR_POSITION = re.compile(r"<string>:(\d+) (.*?)(?: at column (\d+))?$")


class BlueprintSourceError(ValueError):
    """The blueprint text cannot be used; `line` (1-based) says where, when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}")


@dataclass
class ParsedBlueprint:
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _line_of_key(source: str, key: str) -> int | None:
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*:""", re.MULTILINE)
    match = pattern.search(source)
    return source.count("\n", 0, match.start()) + 1 if match else None


def _load(source: str) -> Any:
    if not source.strip():
        raise BlueprintSourceError("The blueprint is empty; it needs at least a name.")
    try:
        return json5.loads(source)
    except ValueError as error:
        match = _ERROR_POSITION.match(str(error))
        if match:
            line, what, column = match.groups()
            raise BlueprintSourceError(
                f"{what} — not valid JSON5 here.",
                line=int(line),
                column=int(column) if column else None,
            ) from None
        raise BlueprintSourceError(f"Not valid JSON5: {error}") from None
    except RecursionError:
        raise BlueprintSourceError("The blueprint is nested too deeply.") from None


def _check_string_list(data: dict[str, Any], key: str, source: str) -> None:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BlueprintSourceError(
            f'“{key}” must be a list of text values, e.g. {key}: ["one", "two"].',
            line=_line_of_key(source, key),
        )


def _check_packages(data: dict[str, Any], source: str) -> None:
    for key in ("packages", "buildtime_packages"):
        for name in data.get(key) or []:
            if GENTOO_ATOM.match(name):
                debian_name = name.split("/", 1)[1].lstrip("<>=~!")
                raise BlueprintSourceError(
                    f"“{name}” is a Gentoo package atom; genpack-site builds from Debian "
                    f"packages, so use a Debian package name (perhaps “{debian_name}”).",
                    line=_line_of_key(source, key),
                )
            if not DEBIAN_PACKAGE.match(name):
                raise BlueprintSourceError(
                    f"“{name}” in {key} is not a valid Debian package name "
                    "(lower-case letters, digits, + - and . only).",
                    line=_line_of_key(source, key),
                )


def blueprint_parse(source: str) -> ParsedBlueprint:
    """Parse and check blueprint JSON5. Raises BlueprintSourceError; returns data + warnings."""
    data = _load(source)
    if not isinstance(data, dict):
        raise BlueprintSourceError('A blueprint is an object: { name: "...", packages: [...] }.')
    warnings = []
    for key in data:
        if key in GENPACK_ONLY_FIELDS:
            warnings.append(
                f"“{key}” (line {_line_of_key(source, key)}) is a Gentoo/genpack setting with "
                "no meaning for Debian builds; it is kept but ignored."
            )
        elif key not in KNOWN_FIELDS:
            raise BlueprintSourceError(
                f"Unknown field “{key}”. Known fields: {', '.join(sorted(KNOWN_FIELDS))}.",
                line=_line_of_key(source, key),
            )
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise BlueprintSourceError(
            "“name” is required: lower-case letters, digits and hyphens, at most 63 characters.",
            line=_line_of_key(source, "name"),
        )
    for key in STRING_LIST_FIELDS:
        _check_string_list(data, key, source)
    for key in ("description", "version"):
        if key in data and not isinstance(data[key], str):
            raise BlueprintSourceError(f"“{key}” must be text.", line=_line_of_key(source, key))
    compression = data.get("compression", "xz")
    if compression not in COMPRESSIONS:
        raise BlueprintSourceError(
            f"“compression” must be one of {', '.join(COMPRESSIONS)}.",
            line=_line_of_key(source, "compression"),
        )
    _check_packages(data, source)
    return ParsedBlueprint(data=data, warnings=warnings)


def blueprint_dump(data: dict[str, Any]) -> str:
    """Blueprint data as readable JSON5 that `blueprint_parse` reads back to the same data."""
    return json5.dumps(data, indent=2, quote_keys=False, trailing_commas=True) + "\n"
