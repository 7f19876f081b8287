"""Celery tasks for builds: thin glue that takes ids and calls services (STYLE.md 4, 7, 8).

The build task is the only bookkeeper of a run: the worker returns an Outcome, and the task
applies it through the services (publish, fail, requeue).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

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


@shared_task(name="builds.reap")
def builds_reap_task() -> dict[str, list[int]]:
    return builds_reap()


@shared_task(name="builds.retention")
def builds_retention_task() -> dict[str, int]:
    return builds_retention()
