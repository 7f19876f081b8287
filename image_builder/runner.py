"""The one way the engine runs an external command.

Every command line is logged (secrets masked), its output streamed line by line to the
reporter, timed, and run in a new session so that the whole process tree (mmdebstrap -> apt ->
dpkg -> maintainer scripts) can be killed as one group, by us on error/timeout or by the caller.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BuildError
from .report import Reporter
from .secrets import MASK, mask_secrets

__all__ = ["MASK", "CommandResult", "Runner", "mask_secrets"]

TAIL_LINES = 40


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    seconds: float
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


class Runner:
    def __init__(self, reporter: Reporter, *, default_timeout: int = 3600) -> None:
        self.reporter = reporter
        self.default_timeout = default_timeout
        self.secrets: set[str] = set()
        self._current: subprocess.Popen[bytes] | None = None

    def add_secret(self, value: str) -> None:
        if value:
            self.secrets.add(value)

    def add_secrets(self, values: Iterable[str]) -> None:
        for value in values:
            self.add_secret(value)

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secrets)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        step: str,
        input_text: str | bytes | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: int | None = None,
        check: bool = True,
        quiet: bool = False,
        keep_output: bool = False,
        on_line: Callable[[str], None] | None = None,
        failure_hint: Callable[[list[str]], str | None] | None = None,
        display: str | None = None,
    ) -> CommandResult:
        """Run argv; raise BuildError(step, ...) with the output's tail when it fails.

        quiet: do not forward output lines to the reporter (for commands whose output is data).
        keep_output: return every line (else only the tail is kept, to bound memory).
        failure_hint: turns the output into a specific message ("package foo does not exist").
        display: what to log instead of argv (a wrapper's plumbing hides the real command).
        """
        args = [os.fspath(arg) for arg in argv]
        self.reporter.log("$ " + self.mask(display or shlex.join(args)))
        full_env = {**os.environ, "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        full_env.update(env or {})
        limit = timeout or self.default_timeout
        started = time.monotonic()
        lines: list[str] = []
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

        def on_output(line: str) -> None:
            tail.append(line)
            if keep_output:
                lines.append(line)
            if on_line is not None:
                on_line(line)
            if not quiet:
                self.reporter.log(line)

        process = self._spawn(args, step=step, cwd=cwd, env=full_env, stdin=input_text)
        timed_out = self._watch(process, input_text, limit, on_output)
        seconds = time.monotonic() - started
        output = lines if keep_output else list(tail)
        result = CommandResult(args, process.returncode, seconds, output)
        program = os.path.basename(args[0])
        if timed_out:
            raise BuildError(step, f"{program} took longer than {limit} s")
        self.reporter.log(f"  ({program}: exit {process.returncode}, {seconds:.1f} s)")
        if check and process.returncode != 0:
            hint = failure_hint(output) if failure_hint else None
            if hint:
                raise BuildError(step, hint)
            tail_text = "\n".join(list(tail)[-15:])
            raise BuildError(
                step, f"{program} failed with exit code {process.returncode}:\n{tail_text}"
            )
        return result

    @staticmethod
    def _spawn(
        args: list[str],
        *,
        step: str,
        cwd: Path | None,
        env: dict[str, str],
        stdin: str | bytes | None,
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                args,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            raise BuildError(step, f"cannot run {args[0]}: {error.strerror}") from error

    def _watch(
        self,
        process: subprocess.Popen[bytes],
        input_text: str | bytes | None,
        limit: int,
        on_output: Callable[[str], None],
    ) -> bool:
        """Feed stdin, pass each masked output line on, wait; True when the limit killed it."""
        self._current = process
        timed_out = threading.Event()

        def on_timeout() -> None:
            # Reading stdout blocks while the command is silent: a timer enforces the limit.
            timed_out.set()
            self._kill_group(process)

        watchdog = threading.Timer(limit, on_timeout)
        watchdog.daemon = True
        watchdog.start()
        try:
            if input_text is not None:
                assert process.stdin is not None
                data = input_text.encode("utf-8") if isinstance(input_text, str) else input_text
                try:
                    process.stdin.write(data)
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # the command exited early; its status tells why
            assert process.stdout is not None
            for raw in process.stdout:
                on_output(self.mask(raw.decode("utf-8", errors="replace").rstrip("\r\n")))
            process.wait()
        except BaseException:
            # Caller cancelled (KeyboardInterrupt, Celery soft limit...): take the tree down too.
            self._kill_group(process)
            raise
        finally:
            watchdog.cancel()
            self._current = None
        return timed_out.is_set()

    def terminate(self) -> None:
        """Kill the running command's whole process group (for a caller cancelling a build)."""
        if self._current is not None:
            self._kill_group(self._current)

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        except ProcessLookupError:
            pass
