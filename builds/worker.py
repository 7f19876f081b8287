"""Runs one claimed build: the engine in its own process group, watched and reported.

The worker streams the engine's events into the build log and the Build row, beats the
heartbeat, stops the engine when the build is cancelled or takes too long, and publishes or
fails the build. It never decides how to build: that is the engine's job.
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from builds import paths
from builds.models import Build
from builds.services import (
    ProducedFile,
    PublishRefusedError,
    build_fail,
    build_heartbeat,
    build_publish,
    build_requeue,
)
from builds.system_ini import default_system_ini
from image_builder.events import parse_event
from image_builder.secrets import mask_secrets, secret_values

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    """How a run ended, for the task to act on (retry only on transient errors)."""

    state: str  # "succeeded", "failed", "cancelled", "transient"
    message: str = ""


class BuildLog:
    """Append-only log file; the web reads it by byte offset while it grows.

    Every line is masked here too (the engine masks its own): the worker writes the engine's
    error messages and its own lines, and the log is shown to technicians."""

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
        "--cache",
        str(settings.GENPACK_APT_CACHE_DIR),
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
    """One engine process for one build, from start to a final Outcome."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.workdir = paths.build_work_dir(build.pk)
        self.staging = paths.build_staging_dir(build.pk)
        self.secrets = secret_values(build.spec) + secret_values(build.revision.data)
        self.log = BuildLog(paths.build_log_path(build.pk), self.secrets)
        self.process: subprocess.Popen | None = None

    def run(self) -> Outcome:
        try:
            return self._run()
        finally:
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

    def _run(self) -> Outcome:
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
        result: list[ProducedFile] | None = None
        error: dict | None = None
        phase, progress = "starting", 0.0
        last_beat = 0.0
        while True:
            try:
                line = lines.get(timeout=settings.GENPACK_HEARTBEAT_SECONDS)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                event = parse_event(line)
                kind = event["type"]
                if kind == "log":
                    self.log.write(event.get("line", ""))
                elif kind == "step":
                    phase = event.get("name", "")
                    self.log.write(f"== step {event.get('index')}/{event.get('total')}: {phase}")
                elif kind == "progress":
                    progress = float(event.get("fraction", progress))
                elif kind == "result":
                    try:
                        result = _produced_files(event)
                    except PublishRefusedError as refused:
                        error = {"message": f"The build's files were not published: {refused}."}
                        self.log.write(f"!! {error['message']}")
                elif kind == "error":
                    error = event
                    self.log.write(f"!! {event.get('step', '')}: {event.get('message', '')}")
            if time.monotonic() - last_beat >= settings.GENPACK_HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                if not build_heartbeat(build_id=build.pk, phase=phase, progress=progress):
                    self.log.write("!! build cancelled: stopping the engine")
                    stop_process_group(self.process)
                    return Outcome("cancelled")
        returncode = self.process.wait()
        if returncode == 0 and result is not None and error is None:
            try:
                published = build_publish(build_id=build.pk, staging=self.staging, files=result)
            except PublishRefusedError as refused:
                message = f"The build's files were not published: {refused}."
                self.log.write(f"!! {message}")
                build_fail(build_id=build.pk, error=message)
                return Outcome("failed", message)
            if published:
                self.log.write("== artifacts published")
                return Outcome("succeeded")
            return Outcome("cancelled")
        message = (error or {}).get("message") or f"the engine stopped with exit code {returncode}"
        message = mask_secrets(message, self.secrets)  # shown on the build page
        if error and error.get("transient"):
            build_requeue(build_id=build.pk, reason=message)
            return Outcome("transient", message)
        build_fail(build_id=build.pk, error=message)
        return Outcome("failed", message)
