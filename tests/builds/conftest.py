"""Real worker processes, a real beat, the fast engine, and blueprints to build."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from blueprints.models import Blueprint
from builds.hosts import online_build_hosts
from hardware_profiles.models import HardwareProfile
from tests.factories import BlueprintFactory
from tests.harness import (
    FAST_TIMINGS,
    Processes,
    celery_beat_command,
    celery_worker_command,
    fake_boot_test_env,
    fake_engine_env,
    postgres_url,
    process_start,
    stop_process,
    wait_until,
)

# make run's (Procfile): the builds of both architectures, and the boot tests.
WORKER_QUEUES = "celery,amd64,arm64,boottest"


def make_blueprint(name: str, packages: list[str] | None = None) -> Blueprint:
    """A KVM blueprint named `name`, with `packages` (tests/factories.py)."""
    return BlueprintFactory(name=name, packages=packages or ())


@pytest.fixture
def kvm(seeded: None) -> HardwareProfile:
    return HardwareProfile.objects.get(slug="kvm-x86_64")


@pytest.fixture
def data_dirs(settings, tmp_path: Path) -> None:
    """Work dirs and artifacts of this test only, and no disk-space guard."""
    settings.GENPACK_WORK_DIR = tmp_path / "work"
    settings.GENPACK_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0
    settings.GENPACK_BASE_CACHE_MAX_BYTES = 0


@pytest.fixture
def worker_env(transactional_db: None, tmp_path: Path, settings) -> dict[str, str]:
    """Environment for worker processes: this test's database and data dir, the fast engine
    and the boot test that boots nothing."""
    data_dir = tmp_path / "data"
    settings.GENPACK_WORK_DIR = data_dir / "work"
    settings.GENPACK_ARTIFACTS_DIR = data_dir / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0
    settings.GENPACK_BASE_CACHE_MAX_BYTES = 0
    # This process judges the workers' heartbeats by their (fast) timing.
    settings.GENPACK_BUILD_HOST_STALE_SECONDS = int(
        FAST_TIMINGS["GENPACK_BUILD_HOST_STALE_SECONDS"]
    )
    env = dict(
        os.environ,
        **FAST_TIMINGS,
        **fake_engine_env(tmp_path / "runs"),
        **fake_boot_test_env(tmp_path / "boot-test-runs"),
    )
    env.update(
        DATABASE_URL=postgres_url(connection.settings_dict),
        GENPACK_WORK_DIR=str(settings.GENPACK_WORK_DIR),
        GENPACK_ARTIFACTS_DIR=str(settings.GENPACK_ARTIFACTS_DIR),
    )
    return env


def host_online(name: str) -> bool:
    """Whether the worker started as `name` has announced itself and beats (builds/hosts.py).

    Asked from a thread of its own: in a browser test Playwright runs an event loop in the
    test's thread, where Django refuses database queries."""

    def ask() -> bool:
        try:
            return online_build_hosts().filter(name__startswith=f"{name}@").exists()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(ask).result()


@pytest.fixture
def workers(worker_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real `celery worker` processes on the test broker, each returned once it has
    announced itself as a build host (so builds for it are accepted); all are stopped
    afterwards."""
    processes = Processes(worker_env)

    def start(name: str = "w1", **extra_env: str) -> subprocess.Popen:
        command = celery_worker_command(name, WORKER_QUEUES)
        process = processes.start(name, command, **extra_env)
        if not wait_until(lambda: host_online(name) or process.poll() is not None, 60):
            pytest.fail(f"worker {name} never announced itself:\n{processes.stop(process)}")
        if process.poll() is not None:
            pytest.fail(f"worker {name} stopped at start:\n{processes.stop(process)}")
        return process

    yield start
    processes.stop_all()


@pytest.fixture
def beat(worker_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `celery beat` sending the reaper every GENPACK_REAPER_SECONDS."""
    process = process_start(celery_beat_command(tmp_path / "beat-schedule"), worker_env)
    yield process
    stop_process(process)


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis://")
