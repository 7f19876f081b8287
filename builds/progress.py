"""How long a build will take, judged from earlier builds of the same profile."""

from __future__ import annotations

from datetime import timedelta
from statistics import median

from django.utils import timezone

from builds.models import Build


def build_estimate(build: Build) -> dict[str, object] | None:
    """Typical duration and expected time left, or None with no history to go on."""
    durations = [
        (finished - started).total_seconds()
        for started, finished in Build.objects.filter(
            profile=build.profile,
            state=Build.State.SUCCEEDED,
            cache_hit_of__isnull=True,
            started_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:10]
    ]
    if not durations:
        return None
    typical = median(durations)
    remaining = None
    if build.state == Build.State.RUNNING and build.started_at:
        elapsed = (timezone.now() - build.started_at).total_seconds()
        remaining = timedelta(seconds=max(0, int(typical - elapsed)))
    return {"typical": timedelta(seconds=int(typical)), "remaining": remaining}
