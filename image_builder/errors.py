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


# Words in a failed step's output that mean the mirror could not be reached: worth a retry,
# unlike a package that does not exist or a unit that fails. The site reads them too, to offer
# "Rebuild with the latest packages" only where it can help.
TRANSIENT_MARKERS = (
    "Temporary failure resolving",
    "Could not resolve",
    "Could not connect",
    "Connection refused",
    "Connection timed out",
    "Network is unreachable",
    "503  Service Unavailable",
    "Hash Sum mismatch",
)


def is_transient(message: str) -> bool:
    """Whether a failure message says the mirror could not be reached (a retry may work)."""
    return any(marker in message for marker in TRANSIENT_MARKERS)
