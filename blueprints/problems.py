"""Every problem of a blueprint's JSON5 at once, each with its line, not one per attempt.

`blueprint_check` stops at the first problem (every write path relies on that). Its rules look
at one field at a time (and at one layer of `arch` / `variants`), so checking each field on its
own, and each entry of a list on its own, finds all the problems the full check would find one
after the other. A syntax error is the one exception: past it the text cannot be read, so it is
the only problem reported.
"""

from __future__ import annotations

import re
from typing import Any

from blueprints.checks import (
    NAME_PATTERN,
    STRING_LIST_FIELDS,
    MoreChecks,
    ParsedBlueprint,
    blueprint_check,
    blueprint_parse,
)
from blueprints.json5_io import BlueprintSourceError, json5_load, line_of_key

# List fields whose entries are checked one by one, so two bad packages are two problems.
PER_ENTRY_FIELDS = (*STRING_LIST_FIELDS, "users", "groups", "files", "build_files", "settings")
LAYER_GROUPS = ("arch", "variants")


class BlueprintProblems(BlueprintSourceError):
    """Several problems; `problems` lists them, each with its own line, in the text's order."""

    def __init__(self, problems: list[BlueprintSourceError]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.message, line=first.line, column=first.column)
        if len(problems) > 1:
            self.args = (f"{self.args[0]} (and {len(problems) - 1} more problems)",)


def _entry_line(source: str, key: str, entry: Any) -> int | None:
    """The line of a text entry of list `key` (a package name...), else the key's own line."""
    line = line_of_key(source, key)
    if isinstance(entry, dict):  # a user, file or setting: found by its name or path
        entry = next((entry[k] for k in ("path", "name", "key") if k in entry), None)
    if not isinstance(entry, str) or not entry or line is None:
        return line
    start = sum(len(text) + 1 for text in source.split("\n")[: line - 1])
    quoted = re.compile(rf"""(["']){re.escape(entry)}\1""")
    match = quoted.search(source, start)
    return source.count("\n", 0, match.start()) + 1 if match else line


def _problem(data: dict[str, Any], source: str) -> BlueprintSourceError | None:
    try:
        blueprint_check(data, source=source)
    except BlueprintSourceError as error:
        return error
    return None


def _pieces(data: dict[str, Any], name: str) -> list[tuple[dict[str, Any], str, Any]]:
    """(a blueprint with one field or entry, that field, the entry) for each part of `data`."""
    base = {"name": name}
    pieces: list[tuple[dict[str, Any], str, Any]] = []
    for key, value in data.items():
        if key == "name":
            continue
        if key in PER_ENTRY_FIELDS and isinstance(value, list) and value:
            pieces += [({**base, key: [entry]}, key, entry) for entry in value]
        elif key in LAYER_GROUPS and isinstance(value, dict) and value:
            pieces += [({**base, key: {layer: body}}, key, None) for layer, body in value.items()]
        else:
            pieces.append(({**base, key: value}, key, None))
    return pieces


def blueprint_problems(source: str) -> list[BlueprintSourceError]:
    """Every problem of blueprint JSON5 `source`, each with its line; [] when it is valid."""
    try:
        data = json5_load(source)
    except BlueprintSourceError as error:
        return [error]
    first = _problem(data, source)
    if first is None:
        return []
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        return [first]
    problems: list[BlueprintSourceError] = []
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(_problem({"name": name}, source) or first)
        name = "x"
    for piece, key, entry in _pieces(data, name):
        problem = _problem(piece, source)
        if problem is not None:
            line = _entry_line(source, key, entry) if entry is not None else problem.line
            problems.append(BlueprintSourceError(problem.message, line=line or problem.line))
    unique = {problem.message: problem for problem in problems}
    unique.setdefault(first.message, first)  # e.g. a limit only the whole blueprint exceeds
    return sorted(unique.values(), key=lambda problem: problem.line or 0)


def blueprint_parse_all(source: str, *, more: MoreChecks | None = None) -> ParsedBlueprint:
    """`blueprint_parse`, but refused text raises BlueprintProblems listing every problem
    (`more`: further checks, such as pre-flight, run once the text is otherwise sound)."""
    try:
        return blueprint_parse(source, more=more)
    except BlueprintSourceError:
        problems = blueprint_problems(source)
        if not problems:  # the per-field collector found nothing: the error says it all
            raise
        raise BlueprintProblems(problems) from None
