"""How long a build will take, judged from earlier builds of the same profile, and where a
queued build stands in its queue."""

from __future__ import annotations

from statistics import median

from builds.models import Build
from hardware_profiles.models import HardwareProfile


def typical_seconds(profile: HardwareProfile) -> float | None:
    """The median of the last ten real (not reused) successful builds for `profile`, or None
    with no history to go on."""
    durations = [
        (finished - started).total_seconds()
        for started, finished in Build.objects.filter(
            profile=profile,
            state=Build.State.SUCCEEDED,
            cache_hit_of__isnull=True,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:10]
    ]
    return median(durations) if durations else None


def builds_ahead(build: Build) -> int:
    """Queued builds a worker takes before this one: each architecture has its own queue
    (builds.services._send_task), served oldest first."""
    return Build.objects.filter(
        state=Build.State.QUEUED,
        profile__arch=build.profile.arch,
        created_at__lt=build.created_at,
    ).count()
