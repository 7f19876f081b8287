"""Build hosts in the database: what each worker can build, its heartbeat, its clean stop."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.app.amqp import Queues
from django.utils import timezone

from builds.host_agent import HostHeartbeat, queues_for_this_host
from builds.hosts import (
    build_host_announce,
    build_host_beat,
    build_host_problem,
    build_host_stop,
    online_architectures,
)
from builds.models import Build, BuildHost
from builds.services import build_enqueue
from hardware_profiles.models import HardwareProfile
from image_builder.hostarch import buildable_architectures
from tests.builds.conftest import make_blueprint
from tests.harness import engine_runs, stop_process, wait_until


def _state(build: Build) -> str:
    build.refresh_from_db()
    return build.state


def _queues(*names: str) -> Queues:
    """Celery's queue selection as `--queues <names>` leaves it."""
    queues = Queues()
    queues.select(list(names))
    return queues


@pytest.mark.django_db
def test_an_announced_host_is_online_for_what_it_builds_and_consumes() -> None:
    build_host_announce(name="w1@pc", architectures=["amd64", "arm64"], queues=["celery", "amd64"])

    # arm64 would work here, but this worker does not read the arm64 queue.
    assert online_architectures() == {"amd64"}


@pytest.mark.django_db
def test_a_stopped_or_silent_host_is_offline(settings) -> None:
    settings.GENPACK_BUILD_HOST_STALE_SECONDS = 90
    build_host_announce(name="stops@pc", architectures=["amd64"], queues=["amd64"])
    build_host_announce(name="silent@arm", architectures=["arm64"], queues=["arm64"])
    build_host_stop(name="stops@pc")
    BuildHost.objects.filter(name="silent@arm").update(
        heartbeat_at=timezone.now() - timedelta(seconds=91)
    )

    assert online_architectures() == set()
    arm = HardwareProfile(name="Board", arch="arm64")
    assert build_host_problem(arm) == "No build host for arm64 is online."


@pytest.mark.django_db
def test_a_beat_keeps_a_host_online_and_a_restart_clears_its_stop(settings) -> None:
    settings.GENPACK_BUILD_HOST_STALE_SECONDS = 90
    build_host_announce(name="w@pc", architectures=["amd64"], queues=["amd64"])
    BuildHost.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=91))
    assert online_architectures() == set()

    assert build_host_beat(name="w@pc")
    assert online_architectures() == {"amd64"}
    build_host_stop(name="w@pc")
    build_host_announce(name="w@pc", architectures=["amd64"], queues=["amd64"])
    assert online_architectures() == {"amd64"}
    assert BuildHost.objects.count() == 1


@pytest.mark.django_db
def test_a_beat_for_a_deleted_row_says_so() -> None:
    assert not build_host_beat(name="never-announced@pc")


def test_a_host_that_cannot_build_arm64_drops_the_arm64_queue() -> None:
    queues = _queues("celery", "amd64", "arm64")

    assert queues_for_this_host(queues, ["amd64"]) == ["amd64", "celery"]
    assert sorted(queues.consume_from) == ["amd64", "celery"]


def test_a_host_keeps_the_queues_it_can_build_and_those_of_no_architecture() -> None:
    queues = _queues("celery", "amd64", "arm64")

    assert queues_for_this_host(queues, ["amd64", "arm64"]) == ["amd64", "arm64", "celery"]


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_announces_beats_and_stops(settings) -> None:
    settings.GENPACK_BUILD_HOST_HEARTBEAT_SECONDS = 0.2
    heartbeat = HostHeartbeat("thread@pc", ["amd64"], ["celery", "amd64"])
    heartbeat.start()
    try:
        assert wait_until(lambda: BuildHost.objects.filter(name="thread@pc").exists(), 10)
        first = BuildHost.objects.get(name="thread@pc").heartbeat_at
        assert wait_until(lambda: BuildHost.objects.get(name="thread@pc").heartbeat_at > first, 10)
        BuildHost.objects.all().delete()  # an admin tidying up: the next beat announces again
        assert wait_until(lambda: BuildHost.objects.filter(name="thread@pc").exists(), 10)
    finally:
        heartbeat.stop()
    host = BuildHost.objects.get(name="thread@pc")
    assert host.stopped_at is not None
    assert host.queues == ["amd64", "celery"]
    stopped = host.heartbeat_at
    time.sleep(0.5)
    assert BuildHost.objects.get(name="thread@pc").heartbeat_at == stopped  # no beat after


# --- real worker processes on the test broker (tests/builds/conftest.py) --------------------


def test_a_worker_records_what_it_can_build_beats_and_stops_cleanly(workers) -> None:
    worker = workers("w1")

    host = BuildHost.objects.get(name__startswith="w1@")
    assert host.architectures == buildable_architectures()  # this machine's own probe
    assert set(host.queues) == {"celery", "boottest", *host.architectures}
    assert host.stopped_at is None
    assert wait_until(lambda: BuildHost.objects.get(pk=host.pk).heartbeat_at > host.started_at, 10)
    assert online_architectures() == set(host.architectures)

    stop_process(worker)

    assert BuildHost.objects.get(pk=host.pk).stopped_at is not None
    assert online_architectures() == set()


def test_a_worker_that_cannot_build_arm64_never_claims_an_arm64_build(
    workers, worker_env, kvm, build_host
) -> None:
    arm64 = HardwareProfile.objects.get(slug="arm64-uefi")
    # Queued while the fixture's host offered arm64: the message waits in the arm64 queue.
    waiting = build_enqueue(
        revision=make_blueprint("arm").latest_revision, profile=arm64, requested_by=None
    )
    worker = workers("x86-only", GENPACK_BUILD_ARCHITECTURES="amd64")
    built = build_enqueue(
        revision=make_blueprint("pc").latest_revision, profile=kvm, requested_by=None
    )

    assert wait_until(lambda: _state(built) == Build.State.SUCCEEDED, 60), built.error
    time.sleep(3)  # room for a wrong claim
    assert _state(waiting) == Build.State.QUEUED and not waiting.worker
    assert engine_runs(worker_env) == 1
    host = BuildHost.objects.get(name__startswith="x86-only@")
    # The boot tests' queue is kept: it needs QEMU, not an architecture's build chroot.
    assert (host.architectures, host.queues) == (["amd64"], ["amd64", "boottest", "celery"])
    assert "not consuming the arm64 queue" in stop_process(worker)
