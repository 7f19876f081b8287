"""The boot test in words for the build page and the builds list (builds/boot_tests.py
keeps the state; this only reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from builds.boot_tests import (
    ACTIVE_STATES,
    NOT_EMULATED,
    boot_test_secrets,
    boot_test_source,
    masked_rejections,
    masked_settings,
)
from builds.durations import duration_text
from builds.models import Artifact, BootTestState, Build
from image_builder.boottest import PHASES
from image_builder.secrets import mask_secrets

BOOT_TEST_LABELS = {
    BootTestState.PENDING: "Boot test waiting",
    BootTestState.RUNNING: "Boot test running",
    BootTestState.PASSED: "Boot test passed",
    BootTestState.FAILED: "Boot test failed",
    BootTestState.SKIPPED: NOT_EMULATED,
    BootTestState.CANCELLED: "Boot test cancelled",
}
# The builds list: a word or two beside the build's state.
BOOT_TEST_BADGES = {
    BootTestState.PENDING: "boot test waiting",
    BootTestState.RUNNING: "boot test running",
    BootTestState.PASSED: "boot test passed",
    BootTestState.FAILED: "boot test failed",
    BootTestState.SKIPPED: NOT_EMULATED,
    BootTestState.CANCELLED: "boot test cancelled",
}


@dataclass(frozen=True)
class BootTest:
    """A build's boot test as its page tells it (builds/templates/builds/_boot_test.html)."""

    state: str  # BootTestState, or "" (built before boot tests existed)
    label: str  # "Boot test passed", "not emulated"
    summary: str  # one sentence
    source: Build  # the build that was booted: this one, or the one a cache hit reuses
    login: str = ""  # "38 s"
    # Where the time to login went: (phase, "21 s", percent of the login time), in order.
    phases: list[tuple[str, str, int]] = field(default_factory=list)
    # The units that took longest to start (systemd-analyze blame): (unit, "5.1 s").
    units: list[tuple[str, str]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""  # why it failed or was cancelled (or why it is being retried)
    console_log: Artifact | None = None
    elapsed: str = ""  # a running test: for how long
    polling: bool = False  # the page asks again (its state may still change)
    can_cancel: bool = False  # pending or running, and this build's own test
    shared: bool = False  # the source is another build (this one is a cache hit of it)


def _phases(source: Build) -> list[tuple[str, str, int]]:
    phases = source.boot_test_phases or {}
    total = sum(phases.values()) or 1
    # In boot order (a jsonb column keeps no key order).
    order = {name: index for index, name in enumerate(PHASES)}
    ordered = sorted(phases.items(), key=lambda item: order.get(item[0], len(order)))
    return [(name, _seconds(seconds), round(100 * seconds / total)) for name, seconds in ordered]


def _seconds(seconds: float) -> str:
    """Tenths under ten seconds (a kernel's 3.8 s), whole seconds above."""
    return f"{seconds:.1f} s" if seconds < 10 else duration_text(seconds)


def _boot_test_summary(source: Build, has_console_log: bool) -> str:
    state = source.boot_test_state
    profile = source.profile
    if state == BootTestState.PENDING:
        return "Waiting for a worker to boot the image under QEMU."
    if state == BootTestState.RUNNING:
        return (
            f"Booting the image under QEMU ({profile.boot_test_machine}); it fails if the "
            f"system is not up within {duration_text(profile.boot_test_timeout_seconds)}."
        )
    if state == BootTestState.PASSED:
        return "The image booted under QEMU, read its system.ini and reached its login prompt."
    if state == BootTestState.FAILED:
        # Only the engine's verdict comes with a console log (boot_tests.boot_test_record);
        # a host problem, the time limit or a lost worker ends the test without one.
        if has_console_log:
            return "The image was booted under QEMU and did not come up as it should."
        return "The boot test could not finish; this says nothing about the image."
    if state == BootTestState.SKIPPED:
        return "This board is not emulated, so its images are not boot tested."
    if state == BootTestState.CANCELLED:
        return "The boot test was stopped before it finished."
    return "Not boot tested: this build was made before boot tests existed."


def boot_test(build: Build, now: datetime | None = None) -> BootTest | None:
    """The boot test a build's page shows: its own, or its source's for a cache hit; None for
    a build that has not succeeded (nothing was booted)."""
    if build.state != Build.State.SUCCEEDED:
        return None
    now = now or timezone.now()
    source = boot_test_source(build)
    state = source.boot_test_state
    secrets = boot_test_secrets(source) + boot_test_secrets(build)
    login = source.boot_test_login_seconds
    elapsed = ""
    if state == BootTestState.RUNNING and source.boot_test_started_at:
        elapsed = duration_text((now - source.boot_test_started_at).total_seconds())
    console = next(
        (
            artifact
            for artifact in source.artifacts.all()
            if artifact.kind == Artifact.Kind.CONSOLE_LOG
        ),
        None,
    )
    # Stored masked (boot_tests.boot_test_record); masked again for rows written otherwise.
    applied = masked_settings(source.boot_test_applied or {}, secrets)
    rejected = masked_rejections(source.boot_test_rejected or {}, secrets)
    error = "" if state == BootTestState.SKIPPED else source.boot_test_error
    return BootTest(
        state=state,
        label=BOOT_TEST_LABELS.get(state, "Not boot tested"),
        summary=_boot_test_summary(source, console is not None),
        source=source,
        login=duration_text(login) if login is not None and state == BootTestState.PASSED else "",
        phases=_phases(source) if state == BootTestState.PASSED else [],
        units=[(str(unit), _seconds(seconds)) for unit, seconds in source.boot_test_units or []],
        applied=sorted(applied.items()),
        rejected=sorted(rejected.items()),
        error=mask_secrets(error, secrets),
        console_log=console,
        elapsed=elapsed,
        polling=state in ACTIVE_STATES,
        can_cancel=state in ACTIVE_STATES and source.pk == build.pk,
        shared=source.pk != build.pk,
    )


def boot_test_badge(build: Build) -> str:
    """The builds list's word for a succeeded build's boot test ("" when there is none)."""
    if build.state != Build.State.SUCCEEDED:
        return ""
    return BOOT_TEST_BADGES.get(boot_test_source(build).boot_test_state, "")
