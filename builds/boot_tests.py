"""The boot test of a build: every write to a Build's boot_test_* fields goes through here.

State machine (BootTestState), beside the build's own: "" (a build made before boot tests
existed, or a cache hit, which shows its source's) → pending, set in the transaction that
publishes the build's files → running (claimed by one worker) → passed | failed. Pending and
running tests can be cancelled; a profile without a boot-test machine is skipped as "not
emulated". Transitions are conditional UPDATEs, as in builds/services.py, so the task, a
cancel and the reaper can race safely.

The boot test never changes the build's own state: a build whose image does not boot stays
"succeeded", with its boot test "failed" (the release gate reads the boot test).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from appliance.system_ini import SECRET_MASK, is_secret_key
from builds import paths
from builds.models import Artifact, BootTestState, Build
from builds.system_ini import render_for
from image_builder.secrets import mask_secrets, secret_values

logger = logging.getLogger(__name__)
# The task's name and queue: queued messages carry them, so they never change (tasks.py).
BOOT_TEST_TASK = "builds.boot_test"
BOOT_TEST_QUEUE = "boottest"
ACTIVE_STATES = (BootTestState.PENDING, BootTestState.RUNNING)
FINAL_STATES = frozenset(
    {BootTestState.PASSED, BootTestState.FAILED, BootTestState.SKIPPED, BootTestState.CANCELLED}
)
NOT_EMULATED = "not emulated"
WORKER_LOST = (
    "The worker running the boot test stopped responding (it was stopped or its machine restarted)."
)
TIME_LIMIT = "The boot test took longer than its time limit and was stopped."


class BootTestOutcomeResult(Protocol):
    """What the engine's BootTestResult (image_builder.boottest) carries."""

    passed: bool
    reason: str
    login_seconds: float | None
    applied: dict[str, str]
    rejected: dict[str, str]
    console_log: Path
    phases: dict[str, float]
    slowest_units: tuple[tuple[str, float], ...]


def boot_test_secrets(build: Build) -> list[str]:
    """The values masked in the boot test's console log and on the page: the same the build
    log masks (builds/worker.py EngineRun.secrets)."""
    return secret_values(build.spec) + secret_values(build.revision.data)


def boot_test_hostname(build: Build) -> str:
    return f"boot-test-{build.pk}"


def boot_test_system_ini(build: Build) -> str:
    """The system.ini the test boots with: the build's own defaults, plus a hostname the image
    cannot have had already, so an applied key proves the device read the file at boot.

    Rendered from values (builds/system_ini.render_for), never by appending text."""
    values = dict(build.revision.data.get("system_ini") or {})
    values["hostname"] = boot_test_hostname(build)
    return render_for(build.revision.data, build.profile, device_values=values)


def boot_test_time_limits(build: Build) -> tuple[int, int]:
    """Celery's (soft, hard) time limit for the test: the profile's timeout plus a margin for
    copying the disk and reading the result back; hard = soft * 1.2 (STYLE.md 7)."""
    soft = build.profile.boot_test_timeout_seconds + settings.GENPACK_BOOT_TEST_MARGIN_SECONDS
    return soft, int(soft * 1.2)


def _send_task(build: Build) -> None:
    """Sent by name, as builds/services.py sends builds; ignore_result for the same reason."""
    soft, hard = boot_test_time_limits(build)
    current_app.send_task(
        BOOT_TEST_TASK,
        args=[build.pk],
        queue=BOOT_TEST_QUEUE,
        ignore_result=True,
        soft_time_limit=soft,
        time_limit=hard,
    )


def _send_or_leave_pending(build_id: int) -> None:
    """A broker that is down must not fail a build that has succeeded: the test stays
    pending and boot_tests_reap sends it again later."""
    try:
        _send_task(Build.objects.select_related("profile").get(pk=build_id))
    except Exception:  # kombu.OperationalError, OSError, the transport's own errors
        logger.warning(
            "build %s: sending its boot test failed; the reaper sends it again",
            build_id,
            exc_info=True,
        )


def boot_test_queue(*, build_id: int) -> str:
    """Queue the boot test of a build that has just succeeded (build_publish calls it in the
    transaction that publishes the files); the task is sent after the commit.

    Returns the boot test's state: pending, skipped (the profile is not emulated), or ""
    when the build already had one (a redelivered publish changes nothing).
    """
    build = Build.objects.select_related("profile").get(pk=build_id)
    now = timezone.now()
    unset = Build.objects.filter(pk=build_id, state=Build.State.SUCCEEDED, boot_test_state="")
    if not build.profile.is_emulated:
        skipped = unset.update(
            boot_test_state=BootTestState.SKIPPED,
            boot_test_error=NOT_EMULATED,
            boot_test_finished_at=now,
        )
        return BootTestState.SKIPPED if skipped else ""
    # boot_test_heartbeat_at of a pending test: when its message was last sent.
    if not unset.update(boot_test_state=BootTestState.PENDING, boot_test_heartbeat_at=now):
        return ""
    transaction.on_commit(lambda: _send_or_leave_pending(build_id))
    return BootTestState.PENDING


def boot_test_claim(*, build_id: int, task_id: str) -> bool:
    """Take a pending boot test. False: another worker has it, or it is over (a redelivered
    or re-sent message)."""
    now = timezone.now()
    return (
        Build.objects.filter(
            pk=build_id, state=Build.State.SUCCEEDED, boot_test_state=BootTestState.PENDING
        ).update(
            boot_test_state=BootTestState.RUNNING,
            boot_test_started_at=now,
            boot_test_heartbeat_at=now,
            boot_test_finished_at=None,
            boot_test_task_id=task_id[:64],
        )
        == 1
    )


def boot_test_heartbeat(*, build_id: int) -> bool:
    """Record that the test's worker is alive. False: stop, the test was cancelled (or the
    reaper gave it up)."""
    return (
        Build.objects.filter(pk=build_id, boot_test_state=BootTestState.RUNNING).update(
            boot_test_heartbeat_at=timezone.now()
        )
        == 1
    )


def boot_test_requeue(*, build_id: int, reason: str, due_in: float) -> bool:
    """A host problem (QEMU missing or crashing, no disk space): back to pending for the retry
    the task sends, due in `due_in` seconds. `reason` is shown while it waits."""
    due = timezone.now() + timedelta(seconds=due_in)
    return (
        Build.objects.filter(pk=build_id, boot_test_state=BootTestState.RUNNING).update(
            boot_test_state=BootTestState.PENDING,
            boot_test_error=reason,
            # The reaper re-sends a pending test only well after this: the retry is owed.
            boot_test_heartbeat_at=due,
        )
        == 1
    )


def boot_test_fail(*, build_id: int, error: str) -> bool:
    """End a pending or running test as failed for a reason that is not the image's own (a
    host problem after the retries, the time limit, a worker lost)."""
    return (
        Build.objects.filter(pk=build_id, boot_test_state__in=ACTIVE_STATES).update(
            boot_test_state=BootTestState.FAILED,
            boot_test_error=error,
            boot_test_finished_at=timezone.now(),
        )
        == 1
    )


def boot_test_cancel(*, build: Build, by: AbstractBaseUser | None) -> bool:
    """Cancel a pending or running test. A running test's worker sees it at its next
    heartbeat (the engine's should_continue) and stops QEMU."""
    who = by.get_username() if by else "the system"
    return (
        Build.objects.filter(pk=build.pk, boot_test_state__in=ACTIVE_STATES).update(
            boot_test_state=BootTestState.CANCELLED,
            boot_test_error=f"Cancelled by {who}.",
            boot_test_finished_at=timezone.now(),
        )
        == 1
    )


def masked_settings(values: Mapping[str, object], secrets: Iterable[str]) -> dict[str, str]:
    """system.ini keys → values (or reasons) fit to store and show: a secret key's value is
    the mask, and a known secret value anywhere else is masked too.

    The device masks its status file itself (appliance/system_ini/status.py); this does not
    trust it to."""
    secrets = list(secrets)
    return {
        str(key): SECRET_MASK if is_secret_key(str(key)) else mask_secrets(str(value), secrets)
        for key, value in values.items()
    }


def masked_rejections(reasons: Mapping[str, object], secrets: Iterable[str]) -> dict[str, str]:
    """Rejected keys → why: the reason stays readable, a secret value in it is masked."""
    secrets = list(secrets)
    return {str(key): mask_secrets(str(reason), secrets) for key, reason in reasons.items()}


def _masked_console(source: Path, secrets: list[str]) -> bytes:
    """The serial console's output, masked line by line, at most its last
    GENPACK_CONSOLE_LOG_MAX_BYTES (the end is where a boot fails)."""
    limit = settings.GENPACK_CONSOLE_LOG_MAX_BYTES
    size = source.stat().st_size
    with source.open("rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        raw = handle.read(limit)
    text = raw.decode("utf-8", errors="replace")
    if size > limit:
        text = text.partition("\n")[2]  # from a whole line on
        text = f"[the first {size - len(text.encode())} bytes of the console output cut]\n{text}"
    lines = text.splitlines(keepends=True)
    return "".join(mask_secrets(line, secrets) for line in lines).encode("utf-8")


def _console_log_write(build_id: int, data: bytes) -> tuple[Path, str]:
    """Write the masked log into the build's artifacts dir: a temp file, then one rename."""
    directory = paths.build_artifacts_dir(build_id)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / paths.console_log_name(build_id)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".console-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return final, hashlib.sha256(data).hexdigest()


def boot_test_record(
    *, build_id: int, result: BootTestOutcomeResult, secrets: Iterable[str]
) -> bool:
    """Record how a running test ended (passed or failed), with its console log published as
    the build's console-log artifact. False: it was cancelled or reaped meanwhile, and
    nothing is recorded."""
    secrets = list(secrets)
    console = Path(result.console_log) if result.console_log else None
    with transaction.atomic():
        # Locked, so a cancel either comes first (nothing recorded) or after (too late).
        running = (
            Build.objects.select_for_update()
            .filter(pk=build_id, boot_test_state=BootTestState.RUNNING)
            .exists()
        )
        if not running:
            return False
        if console is not None and console.is_file():
            data = _masked_console(console, secrets)
            final, sha256 = _console_log_write(build_id, data)
            Artifact.objects.update_or_create(
                build_id=build_id,
                kind=Artifact.Kind.CONSOLE_LOG,
                defaults={
                    "path": str(final.relative_to(paths.artifacts_root())),
                    "size": len(data),
                    "sha256": sha256,
                },
            )
        login = result.login_seconds
        Build.objects.filter(pk=build_id).update(
            boot_test_state=BootTestState.PASSED if result.passed else BootTestState.FAILED,
            boot_test_finished_at=timezone.now(),
            boot_test_login_seconds=float(login) if login is not None else None,
            boot_test_phases=_phases(result.phases),
            boot_test_units=_units(getattr(result, "slowest_units", ())),
            boot_test_applied=masked_settings(result.applied or {}, secrets),
            boot_test_rejected=masked_rejections(result.rejected or {}, secrets),
            boot_test_error="" if result.passed else mask_secrets(result.reason or "", secrets),
        )
    return True


def _phases(phases: object) -> dict[str, float]:
    """The engine's phase → seconds, kept only where it is that (it reaches a page)."""
    if not isinstance(phases, dict):
        return {}
    return {
        str(name)[:60]: round(float(seconds), 1)
        for name, seconds in phases.items()
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0
    }


def _units(units: object) -> list[list]:
    """The engine's (unit, seconds) rows, at most 20, kept only where they are that."""
    if not isinstance(units, (list, tuple)):
        return []
    rows = []
    for row in units[:20]:
        if (
            isinstance(row, (list, tuple))
            and len(row) == 2
            and isinstance(row[1], (int, float))
            and not isinstance(row[1], bool)
            and row[1] >= 0
        ):
            rows.append([str(row[0])[:100], round(float(row[1]), 2)])
    return rows


def boot_test_source(build: Build) -> Build:
    """The build whose boot test this one shows: itself, or the build whose files a cache
    hit reuses (the same image, booted once)."""
    return build.artifact_source


def boot_tests_reap(now: datetime | None = None) -> dict[str, list[int]]:
    """Fail running tests whose worker stopped beating; re-send pending tests whose message
    may be lost (a broker that was down at publish, or restarted). Re-sending is safe:
    claiming is atomic. The builds reaper (builds.reap) runs it."""
    now = now or timezone.now()
    lost_before = now - timedelta(seconds=settings.GENPACK_WORKER_LOST_SECONDS)
    lost = list(
        Build.objects.filter(
            boot_test_state=BootTestState.RUNNING, boot_test_heartbeat_at__lt=lost_before
        ).values_list("pk", flat=True)
    )
    for build_id in lost:
        Build.objects.filter(
            pk=build_id,
            boot_test_state=BootTestState.RUNNING,
            boot_test_heartbeat_at__lt=lost_before,
        ).update(
            boot_test_state=BootTestState.FAILED,
            boot_test_error=WORKER_LOST,
            boot_test_finished_at=now,
        )
    stale_before = now - timedelta(seconds=settings.GENPACK_REQUEUE_AFTER_SECONDS)
    stale = list(
        Build.objects.filter(
            boot_test_state=BootTestState.PENDING, boot_test_heartbeat_at__lt=stale_before
        ).values_list("pk", flat=True)
    )
    for build_id in stale:
        Build.objects.filter(pk=build_id, boot_test_state=BootTestState.PENDING).update(
            boot_test_heartbeat_at=now
        )
        transaction.on_commit(lambda build_id=build_id: _send_or_leave_pending(build_id))
    return {"boot_tests_lost": lost, "boot_tests_resent": stale}
