"""Progress reporting: the engine talks to its caller only through a Reporter."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO


class Reporter(Protocol):
    def step(self, name: str, index: int, total: int) -> None: ...

    def log(self, line: str) -> None: ...

    def progress(self, fraction: float) -> None: ...


class NullReporter:
    def step(self, name: str, index: int, total: int) -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def progress(self, fraction: float) -> None:
        pass


class ConsoleReporter:
    """For the CLI: step headers and every log line, prefixed with elapsed time."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.started = time.monotonic()

    def _stamp(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        return f"[{elapsed // 60:02d}:{elapsed % 60:02d}]"

    def step(self, name: str, index: int, total: int) -> None:
        print(f"{self._stamp()} == step {index}/{total}: {name}", file=self.stream, flush=True)

    def log(self, line: str) -> None:
        if self.verbose:
            print(f"{self._stamp()}    {line}", file=self.stream, flush=True)

    def progress(self, fraction: float) -> None:
        pass


class TeeReporter:
    """Forwards to the caller's reporter and keeps build.log, which ships with the artifacts."""

    def __init__(
        self, inner: Reporter, log_path: Path, mask: Callable[[str], str] | None = None
    ) -> None:
        self.inner = inner
        self.log_path = log_path
        # Every line the engine logs passes here, the runner's and the steps' own alike.
        self.mask = mask or (lambda line: line)
        self._file = log_path.open("a", encoding="utf-8", errors="replace")

    def step(self, name: str, index: int, total: int) -> None:
        self._write(f"== step {index}/{total}: {name}")
        self.inner.step(name, index, total)

    def log(self, line: str) -> None:
        line = self.mask(line)
        self._write(line)
        self.inner.log(line)

    def progress(self, fraction: float) -> None:
        self.inner.progress(fraction)

    def _write(self, line: str) -> None:
        if self._file.closed:
            return
        self._file.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
