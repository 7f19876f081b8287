"""A build's log: written append-only by the worker, read by byte offset by the build page.

Every line is masked here too (the engine masks its own): the worker writes the engine's
error messages and its own lines, and the log is shown to technicians.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from image_builder.secrets import mask_secrets

LOG_CHUNK = 256 * 1024


class BuildLog:
    """Append-only log file; the web reads it by byte offset while it grows."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.secrets = list(secrets)
        self._file = path.open("a", encoding="utf-8", errors="replace")

    def write(self, line: str) -> None:
        line = mask_secrets(line, self.secrets)
        self._file.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class LogChunk:
    text: str
    next_offset: int
    size: int  # of the file when it was read


def log_read(path: Path, offset: int) -> LogChunk:
    """The text after byte `offset` (at most LOG_CHUNK bytes), never half a UTF-8 character."""
    size = path.stat().st_size if path.exists() else 0
    # Clamped to the file: an offset past the end (or too long to seek to) reads nothing.
    offset = min(offset, size)
    chunk = b""
    if path.exists():
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(LOG_CHUNK)
    # Never cut a UTF-8 character in half: keep the tail for the next poll.
    text = chunk.decode("utf-8", errors="ignore")
    return LogChunk(text=text, next_offset=offset + len(text.encode("utf-8")), size=size)
