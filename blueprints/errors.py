"""The one error type of blueprint input: what is wrong, and where a person should look."""

from __future__ import annotations


class BlueprintSourceError(ValueError):
    """The blueprint cannot be used; `line` (1-based) says where, when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}")
