"""Runs one claimed build: the engine in its own process group, watched, and its outcome.

The worker streams the engine's events into the build log, beats the heartbeat (through the
callable the task hands it), stops the engine when the build is cancelled or takes too long,
and returns how the run ended. It never changes the Build row itself: the task applies the
outcome through the services (publish, fail, requeue). It never decides how to build: that
is the engine's job.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from builds import paths
from builds.logs import BuildLog
from builds.models import Build
from builds.services import ProducedFile, PublishRefusedError
from builds.system_ini import default_system_ini
from image_builder.events import parse_event
from image_builder.secrets import mask_secrets, secret_values

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Position:
    """Where a run is: the engine's step `step_number` of `step_count`, named `phase`."""

    phase: str
    progress: float
    step_number: int = 0
    step_count: int = 0


# Position → False once the build is no longer running (cancelled).
Heartbeat = Callable[[Position], bool]


@dataclass(frozen=True)
class Outcome:
    """How a run ended, for the task to apply.

    produced: the engine reported `files` in the staging directory (not published yet);
    failed: `step` and `message` say why; transient: worth a retry (mirror unreachable);
    cancelled: the build stopped being ours while it ran.
    """

    state: str  # "produced", "failed", "transient", "cancelled"
    message: str = ""
    step: str = ""
    files: list[ProducedFile] = field(default_factory=list)


def engine_command(build: Build, workdir: Path, staging: Path, system_ini: Path) -> list[str]:
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(build.spec, indent=2))
    return [
        sys.executable,
        "-m",
        settings.GENPACK_ENGINE_MODULE,
        str(spec_path),
        "--out",
        str(staging),
        "--workdir",
        str(workdir / "engine"),
        "--system-ini",
        str(system_ini),
        "--build-id",
        str(build.pk),
        "--mirror",
        settings.GENPACK_DEBIAN_MIRROR,
        # The archive the package index reads for "updates available": a rebuild gets those.
        "--security-mirror",
        settings.GENPACK_DEBIAN_SECURITY_MIRROR,
        "--cache",
        str(settings.GENPACK_APT_CACHE_DIR),
        "--base-cache",
        str(settings.GENPACK_BASE_CACHE_DIR),
        "--base-cache-max-gib",
        str(settings.GENPACK_BASE_CACHE_MAX_BYTES / 1024**3),
        *(["--fresh-base"] if build.fresh_base else []),
        "--events",
    ]


def _produced_files(event: dict) -> list[ProducedFile]:
    """The files a `result` event reports (build_publish checks the names and checksums)."""
    items = event.get("artifacts")
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and set(item) == {"kind", "name", "size", "sha256"} for item in items
    ):
        raise PublishRefusedError("the engine's list of files is malformed")
    return [ProducedFile(**item) for item in items]


def _count(value: object) -> int:
    """A step number from an event, 0 when it is not a sensible one."""
    return value if isinstance(value, int) and 0 <= value < 1000 else 0


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def stop_process_group(process: subprocess.Popen, grace: float = 30.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class EngineRun:
    """One engine process for one build, from start to an Outcome.

    Use it as a context manager: the staging directory holds the produced files until the
    caller has published them, and is removed, with the work directory, on exit.
    """

    def __init__(self, build: Build, heartbeat: Heartbeat) -> None:
        self.build = build
        self.heartbeat = heartbeat
        self.workdir = paths.build_work_dir(build.pk)
        self.staging = paths.build_staging_dir(build.pk)
        self.secrets = secret_values(build.spec) + secret_values(build.revision.data)
        self.log = BuildLog(paths.build_log_path(build.pk), self.secrets)
        self.process: subprocess.Popen | None = None
        self.phase, self.progress = "starting", 0.0
        self.step_number, self.step_count = 0, 0
        self.result: list[ProducedFile] | None = None
        self.error: dict | None = None

    def __enter__(self) -> EngineRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            stop_process_group(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.log.close()

    def stop(self, reason: str) -> None:
        """Called on the soft time limit: stop the engine; the caller fails the build."""
        self.log.write(f"!! {reason}")
        if self.process is not None:
            stop_process_group(self.process)

    def run(self) -> Outcome:
        build = self.build
        for directory in (self.workdir, self.staging):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
        system_ini = self.workdir / "system.ini"
        system_ini.write_text(default_system_ini(build.revision, build.profile), newline="")
        command = engine_command(build, self.workdir, self.staging, system_ini)
        self.log.write(f"== build #{build.pk}: {build.revision} for {build.profile.name}")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        if not self._watch(lines):
            self.log.write("!! build cancelled: stopping the engine")
            stop_process_group(self.process)
            return Outcome("cancelled")
        return self._ending(self.process.wait())

    def _watch(self, lines: queue.Queue) -> bool:
        """Handle the engine's events until its output ends; False when the build was
        cancelled meanwhile (the heartbeat says so)."""
        last_beat = 0.0
        while True:
            try:
                line = lines.get(timeout=settings.GENPACK_HEARTBEAT_SECONDS)
            except queue.Empty:
                line = ""
            if line is None:
                return True
            step_before = self.step_number
            if line:
                self._on_event(parse_event(line))
            # A new step is told at once: the build page shows it within one poll.
            due = time.monotonic() - last_beat >= settings.GENPACK_HEARTBEAT_SECONDS
            if due or self.step_number != step_before:
                last_beat = time.monotonic()
                if not self.heartbeat(self.position):
                    return False

    @property
    def position(self) -> Position:
        return Position(self.phase, self.progress, self.step_number, self.step_count)

    def _on_event(self, event: dict) -> None:
        kind = event["type"]
        if kind == "log":
            self.log.write(event.get("line", ""))
        elif kind == "step":
            self.phase = str(event.get("name", ""))
            self.step_number = _count(event.get("index"))
            self.step_count = _count(event.get("total"))
            self.log.write(f"== step {event.get('index')}/{event.get('total')}: {self.phase}")
        elif kind == "progress":
            self.progress = float(event.get("fraction", self.progress))
        elif kind == "result":
            try:
                self.result = _produced_files(event)
            except PublishRefusedError as refused:
                self.error = {"message": f"The build's files were not published: {refused}."}
                self.log.write(f"!! {self.error['message']}")
        elif kind == "error":
            self.error = event
            self.log.write(f"!! {event.get('step', '')}: {event.get('message', '')}")

    def _ending(self, returncode: int) -> Outcome:
        if returncode == 0 and self.result is not None and self.error is None:
            return Outcome("produced", files=self.result)
        error = self.error or {}
        message = error.get("message") or f"the engine stopped with exit code {returncode}"
        message = mask_secrets(message, self.secrets)  # shown on the build page
        step = str(error.get("step", ""))
        return Outcome("transient" if error.get("transient") else "failed", message, step)
