"""No silent wait: a build queued while no host for its architecture is online fails after
GENPACK_UNCLAIMED_BUILD_SECONDS with the reason, instead of being re-sent forever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from builds.hosts import build_host_announce, build_host_stop
from builds.models import Build, BuildHost
from builds.services import build_enqueue, builds_reap
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint
from tests.harness import wait_until

NO_ARM64_HOST = "No build host for arm64 is online, so this build never started"


@pytest.fixture
def arm64(seeded: None) -> HardwareProfile:
    return HardwareProfile.objects.get(slug="arm64-uefi")


def _queued_arm64_build(arm64: HardwareProfile) -> Build:
    """An arm64 build queued while the `build_host` fixture's host was online."""
    return build_enqueue(
        revision=make_blueprint("arm").latest_revision, profile=arm64, requested_by=None
    )


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def _host_died(seconds_ago: float) -> None:
    """Every host's last beat `seconds_ago`, and no clean stop (a power cut)."""
    BuildHost.objects.update(heartbeat_at=_ago(seconds_ago), started_at=_ago(seconds_ago + 60))


def _queued_at(build: Build, seconds_ago: float) -> None:
    Build.objects.filter(pk=build.pk).update(created_at=_ago(seconds_ago))


@pytest.fixture(autouse=True)
def _timings(settings, data_dirs: None) -> None:
    settings.GENPACK_UNCLAIMED_BUILD_SECONDS = 900
    settings.GENPACK_BUILD_HOST_STALE_SECONDS = 90
    settings.GENPACK_REQUEUE_AFTER_SECONDS = 300


@pytest.mark.django_db
def test_a_build_no_host_could_take_for_too_long_fails_with_the_reason(
    arm64: HardwareProfile, build_host
) -> None:
    build = _queued_arm64_build(arm64)
    _host_died(seconds_ago=1000)
    _queued_at(build, seconds_ago=1200)

    reaped = builds_reap()

    assert reaped["unclaimed"] == [build.pk]
    assert build.pk not in reaped["requeued"]  # failed, not sent once more
    build.refresh_from_db()
    assert build.state == Build.State.FAILED
    assert build.error.startswith(NO_ARM64_HOST)
    assert "15 min" in build.error and "Rebuild" in build.error


@pytest.mark.django_db
def test_while_a_host_for_its_arch_is_online_an_old_queued_build_is_re_sent(
    arm64: HardwareProfile, build_host
) -> None:
    build = _queued_arm64_build(arm64)
    _queued_at(build, seconds_ago=3600)  # a busy host: waiting its turn for an hour

    reaped = builds_reap()

    assert reaped["unclaimed"] == []
    assert reaped["requeued"] == [build.pk]
    build.refresh_from_db()
    assert build.state == Build.State.QUEUED


@pytest.mark.django_db
def test_the_wait_counts_from_when_a_host_was_last_seen(arm64: HardwareProfile, build_host) -> None:
    build = _queued_arm64_build(arm64)
    _queued_at(build, seconds_ago=3600)
    _host_died(seconds_ago=600)  # it took builds until ten minutes ago

    assert builds_reap()["unclaimed"] == []
    assert Build.objects.get(pk=build.pk).state == Build.State.QUEUED

    _host_died(seconds_ago=901)
    assert builds_reap()["unclaimed"] == [build.pk]


@pytest.mark.django_db
def test_a_host_for_another_arch_does_not_keep_an_arm64_build_waiting(
    arm64: HardwareProfile, build_host
) -> None:
    build = _queued_arm64_build(arm64)
    build_host_stop(name=build_host.name)
    _host_died(seconds_ago=1000)
    build_host_announce(name="pc@x86", architectures=["amd64"], queues=["celery", "amd64"])
    _queued_at(build, seconds_ago=1000)

    assert builds_reap()["unclaimed"] == [build.pk]


@pytest.mark.django_db
def test_within_the_bound_a_build_with_no_host_keeps_waiting(
    arm64: HardwareProfile, build_host
) -> None:
    build = _queued_arm64_build(arm64)
    _host_died(seconds_ago=800)
    _queued_at(build, seconds_ago=800)

    reaped = builds_reap()

    assert reaped["unclaimed"] == []
    assert reaped["requeued"] == [build.pk]  # today's behaviour: its message sent again


def test_with_real_processes_the_reaper_fails_it_once_the_arm64_host_is_gone(
    workers, beat, arm64: HardwareProfile, build_host
) -> None:
    build = _queued_arm64_build(arm64)
    workers("x86-only", GENPACK_BUILD_ARCHITECTURES="amd64", GENPACK_UNCLAIMED_BUILD_SECONDS="3")
    build_host_stop(name=build_host.name)  # the only arm64 host stops after the queueing

    assert wait_until(lambda: Build.objects.get(pk=build.pk).state == Build.State.FAILED, 30), (
        Build.objects.get(pk=build.pk).state
    )
    assert Build.objects.get(pk=build.pk).error.startswith(NO_ARM64_HOST)
