"""Build hosts: the rows workers keep about themselves, and which architectures are online.

Workers write (builds/host_agent.py calls announce, beat, stop); the site reads, to refuse a
build no host would take and to fail one that waited with no host for its architecture.
A host is online while it beat within GENPACK_BUILD_HOST_STALE_SECONDS and has not stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from builds.models import BuildHost
from hardware_profiles.models import HardwareProfile


def build_host_announce(
    *, name: str, architectures: Iterable[str], queues: Iterable[str]
) -> BuildHost:
    """A worker starting (or starting again under the same name): online from now."""
    now = timezone.now()
    host, _ = BuildHost.objects.update_or_create(
        name=name,
        defaults={
            "architectures": list(architectures),
            "queues": sorted(queues),
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        },
    )
    return host


def build_host_beat(*, name: str) -> bool:
    """The worker is still there. False: its row is gone (deleted), announce again."""
    return BuildHost.objects.filter(name=name).update(heartbeat_at=timezone.now()) == 1


def build_host_stop(*, name: str) -> None:
    """A clean stop: offline at once, rather than GENPACK_BUILD_HOST_STALE_SECONDS later."""
    BuildHost.objects.filter(name=name).update(stopped_at=timezone.now())


def online_build_hosts() -> QuerySet[BuildHost]:
    since = timezone.now() - timedelta(seconds=settings.GENPACK_BUILD_HOST_STALE_SECONDS)
    return BuildHost.objects.filter(stopped_at__isnull=True, heartbeat_at__gte=since)


def online_architectures() -> set[str]:
    """The architectures some online host takes builds of right now."""
    return {arch for host in online_build_hosts() for arch in host.builds_for}


def build_host_problem(profile: HardwareProfile, online: set[str] | None = None) -> str | None:
    """Why no build for `profile` would start now, or None. `online`: online_architectures(),
    when the caller asks for several profiles at once."""
    if profile.arch in (online_architectures() if online is None else online):
        return None
    return f"No build host for {profile.arch} is online."


# What a host needs to build each architecture (README, "Build hosts").
HOST_HINTS = {
    "amd64": "an x86-64 machine",
    "arm64": "an ARM64 machine, or an x86-64 one with qemu-user-static enabled",
}


def build_host_hint(arch: str) -> str:
    return HOST_HINTS.get(arch, f"a machine that runs {arch} programs")


def unclaimed_minutes() -> int:
    """How long a build waits with no host for its architecture before it fails (the reaper)."""
    return max(1, round(settings.GENPACK_UNCLAIMED_BUILD_SECONDS / 60))


def arch_last_seen(arch: str) -> datetime | None:
    """When a host taking `arch` builds last beat (the hosts table is a handful of rows, and
    SQLite cannot search inside JSON lists)."""
    seen = [host.heartbeat_at for host in BuildHost.objects.all() if arch in host.builds_for]
    return max(seen, default=None)
