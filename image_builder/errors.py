"""The engine's two error types; both carry a message meant for the person reading the log."""

from __future__ import annotations


class SpecError(ValueError):
    """The BuildSpec is malformed; raised before any tool runs."""


class BuildError(RuntimeError):
    """A build step failed. `step` names the step, `message` says what went wrong in plain words."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
