"""Celery tasks for builds: thin glue that takes ids and calls services (STYLE.md 4, 7, 8)."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from builds.models import Build
from builds.retention import builds_retention
from builds.services import BUILD_RUN_TASK, build_claim, build_fail, builds_reap
from builds.worker import EngineRun

logger = logging.getLogger(__name__)


# ignore_result: the Build row is the result. Without it every send also subscribes to the
# result store, which (on a Redis that is down) retries for ~20 s and breaks the app.
@shared_task(bind=True, name=BUILD_RUN_TASK, acks_late=True, max_retries=None, ignore_result=True)
def build_run_task(self, build_id: int) -> str:
    """Claim and run one build. A redelivered message for a taken build does nothing."""
    if not build_claim(
        build_id=build_id, worker=self.request.hostname or "", task_id=self.request.id or ""
    ):
        return "not claimed"
    build = Build.objects.select_related("revision__blueprint", "profile").get(pk=build_id)
    run = EngineRun(build)
    try:
        outcome = run.run()
    except SoftTimeLimitExceeded:
        run.stop("time limit reached")
        build_fail(
            build_id=build_id, error="The build took longer than the time limit and was stopped."
        )
        return "failed"
    except Exception as error:  # the build must end in a final state whatever happened
        logger.exception("build %s crashed", build_id)
        build_fail(build_id=build_id, error=f"Internal error while running the build: {error}")
        raise
    if outcome.state == "transient" and self.request.retries < settings.GENPACK_TRANSIENT_RETRIES:
        raise self.retry(countdown=30 * (self.request.retries + 1))
    if outcome.state == "transient":
        build_fail(build_id=build_id, error=f"{outcome.message} (gave up after retries)")
    return outcome.state


@shared_task(name="builds.reap")
def builds_reap_task() -> dict[str, list[int]]:
    return builds_reap()


@shared_task(name="builds.retention")
def builds_retention_task() -> dict[str, int]:
    return builds_retention()
