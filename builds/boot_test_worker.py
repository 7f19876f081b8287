"""Runs one claimed boot test: the engine's run_boot_test on the published disk image (the
engine boots a copy of it: image_builder/boottest.py).

Like builds/worker.py for builds, it never changes the Build row: it returns an outcome,
and the task applies it through builds/boot_tests.py. The engine (GENPACK_BOOT_TEST_MODULE,
image_builder.boottest; tests use tests.fake_boot_test) is imported when a test runs, not
before: the web never needs it.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import connections

from builds import paths
from builds.boot_tests import (
    boot_test_heartbeat,
    boot_test_secrets,
    boot_test_system_ini,
)
from builds.downloads import artifact_file
from builds.models import Artifact, Build
from image_builder.secrets import mask_secrets

logger = logging.getLogger(__name__)
NO_DISK = "The build has no raw disk image to boot (its files are gone, or were never made)."


@dataclass(frozen=True)
class BootTestOutcome:
    """How a run ended, for the task to apply.

    passed / failed: `result` is the engine's BootTestResult; host-error: `message` says what
    the host lacked (worth a retry); cancelled: the test stopped being ours while it ran.
    """

    state: str  # "passed", "failed", "host-error", "cancelled"
    message: str = ""
    result: Any = None


def boot_test_engine() -> ModuleType:
    return importlib.import_module(settings.GENPACK_BOOT_TEST_MODULE)


class BootTestRun:
    """One boot test of one build. Use it as a context manager: the work dir (the engine's
    copy of the disk, the raw console log) is removed on exit, after the task has published
    what it keeps."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.workdir = paths.boot_test_work_dir(build.pk)
        self.console_log = self.workdir / "console.log"
        self.secrets = boot_test_secrets(build)
        self._last_beat = 0.0
        self._going_on = True

    def __enter__(self) -> BootTestRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def should_continue(self) -> bool:
        """The engine asks this while QEMU runs: a heartbeat at most every
        GENPACK_HEARTBEAT_SECONDS, False once the test was cancelled."""
        if not self._going_on:
            return False
        now = time.monotonic()
        if now - self._last_beat < settings.GENPACK_HEARTBEAT_SECONDS:
            return True
        self._last_beat = now
        try:
            self._going_on = boot_test_heartbeat(build_id=self.build.pk)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()  # only that thread's own connections
        return self._going_on

    def write_log(self, line: str) -> None:
        """The engine's progress lines go to the worker's log, not the build log: that one is
        complete once the build is (the page stops reading it then), and the console log
        artifact has the engine's notes beside the serial output."""
        logger.info("build %s boot test: %s", self.build.pk, mask_secrets(line, self.secrets))

    def run(self) -> BootTestOutcome:
        build = self.build
        engine = boot_test_engine()
        disk_row = build.artifacts.filter(kind=Artifact.Kind.DISK_RAW).first()
        disk = artifact_file(disk_row) if disk_row else None
        if disk is None or not disk.is_file():
            self.write_log(NO_DISK)
            return BootTestOutcome("failed", NO_DISK)
        profile = build.profile
        test_settings = engine.BootTestSettings(
            machine=profile.boot_test_machine,
            firmware=profile.boot_test_firmware,
            dtb=profile.boot_test_dtb,
            memory_mib=profile.boot_test_memory_mib,
            timeout_seconds=float(profile.boot_test_timeout_seconds),
        )
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self.write_log(
            f"booting the disk image under QEMU ({profile.boot_test_machine}), "
            f"at most {profile.boot_test_timeout_seconds} s"
        )
        try:
            result = engine.run_boot_test(
                disk,
                test_settings,
                workdir=self.workdir / "engine",
                console_log=self.console_log,
                system_ini=boot_test_system_ini(build),
                secrets=self.secrets,
                should_continue=self.should_continue,
                log=self.write_log,
            )
        except engine.BootTestCancelled:
            self.write_log("cancelled: QEMU stopped")
            return BootTestOutcome("cancelled")
        except engine.BootTestHostError as error:
            message = mask_secrets(str(error), self.secrets)
            self.write_log(f"the build host could not run it: {message}")
            return BootTestOutcome("host-error", message)
        verdict = "passed" if result.passed else "failed"
        self.write_log(f"{verdict}{': ' + result.reason if result.reason else ''}")
        return BootTestOutcome(verdict, result.reason, result)
