"""The engine's machine-readable progress: one JSON object per line on stdout.

This is the whole interface between a worker and an engine process (the real engine, or the
fast stand-in the queue tests use):
  {"type": "step", "name": ..., "index": 1, "total": 6}
  {"type": "log", "line": ...}
  {"type": "progress", "fraction": 0.42}
  {"type": "result", "artifacts": [{"kind": ..., "name": ..., "size": ..., "sha256": ...}]}
  {"type": "error", "step": ..., "message": ..., "transient": false}
Anything else a process prints is treated as a log line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO


class JsonEventReporter:
    """A Reporter that writes the event lines; thread-safe, flushed per event."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.stream.write(json.dumps(event, ensure_ascii=False) + "\n")
            self.stream.flush()

    def step(self, name: str, index: int, total: int) -> None:
        self.emit({"type": "step", "name": name, "index": index, "total": total})

    def log(self, line: str) -> None:
        self.emit({"type": "log", "line": line})

    def progress(self, fraction: float) -> None:
        self.emit({"type": "progress", "fraction": round(fraction, 4)})


def parse_event(line: str) -> dict[str, Any]:
    """One line of engine output as an event; plain text becomes a log event."""
    text = line.rstrip("\n")
    if text.startswith("{"):
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            return event
    return {"type": "log", "line": text}


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """Stop this engine's whole process group if the worker that started it dies.

    A worker killed with SIGKILL cannot clean up; without this the build tools would run on,
    orphaned, holding disk space and mounts.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os.killpg(0, 15)
                time.sleep(10)
                os.killpg(0, 9)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
