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


class BlueprintProblemsError(BlueprintSourceError):
    """Several problems found at once, each with its own line: shown together, so a person
    fixes them all in one go rather than one per save."""

    def __init__(self, errors: list[BlueprintSourceError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, line=first.line, column=first.column)
        self.args = ("\n".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return self.args[0]


def error_messages(error: BlueprintSourceError, *, lines: bool = True) -> list[str]:
    """Each problem of `error` as one message, "line N: " first where known and `lines`
    (a form shows its field, not the text it was written into)."""
    if isinstance(error, BlueprintProblemsError):
        errors = error.errors
    else:  # blueprints.problems.BlueprintProblems lists them as `problems`
        errors = list(getattr(error, "problems", None) or [error])
    return [str(each) if lines else each.message for each in errors]
