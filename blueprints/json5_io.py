"""The one module that reads and writes blueprint JSON5 (genpack.json5 field names).

Everything that turns text into a blueprint goes through `json5_load` here (and then the
checks, `blueprints.checks.blueprint_parse`), which raises a single error type,
`BlueprintSourceError`, carrying the line number a person should look at.
"""

from __future__ import annotations

import re
from typing import Any

import json5

_ERROR_POSITION = re.compile(r"<string>:(\d+) (.*?)(?: at column (\d+))?$")
MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 40


class BlueprintSourceError(ValueError):
    """The blueprint cannot be used; `line` (1-based) says where, when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}")


def line_of_key(source: str, key: str) -> int | None:
    """The line where `key:` first appears in the JSON5 text (for error messages).

    A key at the start of a line wins (top-level fields are written that way); otherwise the
    first `key:` anywhere, as in `system_ini: {ip_address: ...}`.
    """
    if not source:
        return None
    quoted = rf"""["']?{re.escape(key)}["']?\s*:"""
    match = re.search(rf"^\s*{quoted}", source, re.MULTILINE) or re.search(
        rf"(?<![\w-]){quoted}", source
    )
    return source.count("\n", 0, match.start()) + 1 if match else None


def _depth(text: str) -> int:
    """Nesting depth of brackets outside strings, checked before parsing: the parser recurses."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def json5_load(source: str) -> Any:
    """JSON5 text → data, within size and nesting limits; BlueprintSourceError otherwise."""
    if not source.strip():
        raise BlueprintSourceError("The blueprint is empty; it needs at least a name.")
    if len(source.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        raise BlueprintSourceError(
            "The blueprint is larger than 2 MiB; upload big files separately."
        )
    if _depth(source) > MAX_DEPTH:
        raise BlueprintSourceError(f"The blueprint is nested more than {MAX_DEPTH} levels deep.")
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
    except (RecursionError, OverflowError, TypeError, IndexError, KeyError) as error:
        raise BlueprintSourceError(f"Not valid JSON5 ({type(error).__name__}).") from None


def blueprint_dump(data: dict[str, Any]) -> str:
    """Blueprint data as readable JSON5 that `blueprint_parse` reads back to the same data."""
    return json5.dumps(data, indent=2, quote_keys=False, trailing_commas=True) + "\n"
