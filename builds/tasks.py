"""Celery tasks for builds: thin glue that takes ids and calls services (STYLE.md 4, 7, 8).

The build task is the only bookkeeper of a run: the worker returns an Outcome, and the task
applies it through the services (publish, fail, requeue). The boot test task does the same
with builds/boot_test_worker.py and builds/boot_tests.py.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from builds.boot_test_worker import BootTestOutcome, BootTestRun
from builds.boot_tests import (
    BOOT_TEST_QUEUE,
    BOOT_TEST_TASK,
    TIME_LIMIT,
    boot_test_claim,
    boot_test_fail,
    boot_test_record,
    boot_test_requeue,
    boot_tests_reap,
)
from builds.models import Build
from builds.retention import builds_retention
from builds.services import (
    BUILD_RUN_TASK,
    PublishRefusedError,
    SiteFailure,
    build_claim,
    build_fail,
    build_heartbeat,
    build_publish,
    build_requeue,
    builds_reap,
)
from builds.worker import EngineRun, Outcome, Position
from image_builder.secrets import mask_secrets

logger = logging.getLogger(__name__)
TIME_LIMIT_ERROR = "The build took longer than the time limit and was stopped."


def outcome_apply(run: EngineRun, outcome: Outcome) -> str:
    """Record how the run ended; returns the build's state name ("transient": requeued)."""
    build_id = run.build.pk
    if outcome.state == "produced":
        try:
            published = build_publish(build_id=build_id, staging=run.staging, files=outcome.files)
        except PublishRefusedError as refused:
            message = f"The build's files were not published: {refused}."
            run.log.write(f"!! {message}")
            build_fail(build_id=build_id, error=message, step=SiteFailure.NOT_PUBLISHED)
            return "failed"
        if not published:
            return "cancelled"
        run.log.write("== artifacts published")
        return "succeeded"
    if outcome.state == "transient":
        build_requeue(build_id=build_id, reason=outcome.message, step=outcome.step)
    elif outcome.state == "failed":
        build_fail(build_id=build_id, error=outcome.message, step=outcome.step)
    return outcome.state


def claimed_build_run(build_id: int) -> tuple[str, str]:
    """Run a build this worker has claimed and record the outcome: (state, message)."""
    build = Build.objects.select_related("revision__blueprint", "profile").get(pk=build_id)

    def heartbeat(position: Position) -> bool:
        return build_heartbeat(
            build_id=build_id,
            phase=position.phase,
            progress=position.progress,
            step_number=position.step_number,
            step_count=position.step_count,
        )

    with EngineRun(build, heartbeat) as run:
        try:
            outcome = run.run()
        except SoftTimeLimitExceeded:
            run.stop("time limit reached")
            build_fail(build_id=build_id, error=TIME_LIMIT_ERROR, step=SiteFailure.TIME_LIMIT)
            return "failed", TIME_LIMIT_ERROR
        except Exception as error:  # the build must end in a final state whatever happened
            logger.exception("build %s crashed", build_id)
            build_fail(
                build_id=build_id,
                error=f"Internal error while running the build: {error}",
                step=SiteFailure.INTERNAL,
            )
            raise
        return outcome_apply(run, outcome), outcome.message


# ignore_result: the Build row is the result. Without it every send also subscribes to the
# result store, which (on a Redis that is down) retries for ~20 s and breaks the app.
@shared_task(bind=True, name=BUILD_RUN_TASK, acks_late=True, max_retries=None, ignore_result=True)
def build_run_task(self, build_id: int) -> str:
    """Claim and run one build. A redelivered message for a taken build does nothing."""
    if not build_claim(
        build_id=build_id, worker=self.request.hostname or "", task_id=self.request.id or ""
    ):
        return "not claimed"
    state, message = claimed_build_run(build_id)
    if state == "transient" and self.request.retries < settings.GENPACK_TRANSIENT_RETRIES:
        raise self.retry(countdown=30 * (self.request.retries + 1))
    if state == "transient":
        build_fail(build_id=build_id, error=f"{message} (gave up after retries)")
    return state


def boot_test_outcome_apply(run: BootTestRun, outcome: BootTestOutcome) -> str:
    """Record how a boot test ended; returns its state ("host-error": the task retries)."""
    if outcome.state in ("passed", "failed"):
        if outcome.result is None:  # failed before the engine ran (no disk image)
            boot_test_fail(build_id=run.build.pk, error=outcome.message)
        elif not boot_test_record(
            build_id=run.build.pk, result=outcome.result, secrets=run.secrets
        ):
            return "cancelled"
    return outcome.state


def claimed_boot_test_run(build_id: int) -> tuple[str, str]:
    """Run a boot test this worker has claimed and record the outcome: (state, message)."""
    build = Build.objects.select_related("revision__blueprint", "profile").get(pk=build_id)
    with BootTestRun(build) as run:
        try:
            outcome = run.run()
        except SoftTimeLimitExceeded:
            run.write_log("time limit reached")
            boot_test_fail(build_id=build_id, error=TIME_LIMIT)
            return "failed", TIME_LIMIT
        except Exception as error:  # the test must end in a final state whatever happened
            logger.exception("boot test of build %s crashed", build_id)
            boot_test_fail(
                build_id=build_id,
                error=mask_secrets(
                    f"Internal error while running the boot test: {error}", run.secrets
                ),
            )
            raise
        return boot_test_outcome_apply(run, outcome), outcome.message


def host_problem_text(message: str, attempts: int) -> str:
    return (
        f"The boot test could not run on the build host: {message.rstrip('. ')}. It was tried "
        f"{attempts} times; nothing points at the image. An admin has to fix the build host "
        "(QEMU, its firmware, disk space); then Rebuild boots the new build's image."
    )


# Its own queue (make run's worker reads it too); the time limits come with each message
# (boot_tests.boot_test_time_limits: the profile's timeout plus a margin). Retried only when
# the host could not run the test, never for an image that does not boot.
@shared_task(
    bind=True,
    name=BOOT_TEST_TASK,
    queue=BOOT_TEST_QUEUE,
    acks_late=True,
    max_retries=None,
    ignore_result=True,
)
def boot_test_task(self, build_id: int) -> str:
    """Claim and run one build's boot test. A redelivered message for a taken test does
    nothing."""
    if not boot_test_claim(build_id=build_id, task_id=self.request.id or ""):
        return "not claimed"
    state, message = claimed_boot_test_run(build_id)
    if state != "host-error":
        return state
    attempt = self.request.retries + 1
    if self.request.retries < settings.GENPACK_BOOT_TEST_RETRIES:
        countdown = settings.GENPACK_BOOT_TEST_RETRY_SECONDS * attempt
        reason = f"the build host could not run it: {message.rstrip('. ')}."
        if not boot_test_requeue(build_id=build_id, reason=reason, due_in=countdown):
            return "cancelled"
        raise self.retry(countdown=countdown)
    boot_test_fail(build_id=build_id, error=host_problem_text(message, attempt))
    return "failed"


@shared_task(name="builds.reap")
def builds_reap_task() -> dict[str, list[int]]:
    return {**builds_reap(), **boot_tests_reap()}


@shared_task(name="builds.retention")
def builds_retention_task() -> dict[str, int]:
    return builds_retention()
