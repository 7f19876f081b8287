"""Real worker processes, a real beat, the fast engine, and blueprints to build."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from blueprints.models import Blueprint
from blueprints.services import blueprint_create, blueprint_revise
from hardware_profiles.models import HardwareProfile
from tests.conftest import ROOT, start_celery_worker, stop_process

FAST_TIMINGS = {
    "GENPACK_HEARTBEAT_SECONDS": "1",
    "GENPACK_WORKER_LOST_SECONDS": "6",
    "GENPACK_REAPER_SECONDS": "2",
    "GENPACK_REQUEUE_AFTER_SECONDS": "5",
    "GENPACK_MIN_FREE_BYTES": "0",
}


def make_blueprint(name: str, packages: list[str] | None = None) -> Blueprint:
    blueprint = blueprint_create(
        name=name, author=None, targets=list(HardwareProfile.objects.filter(slug="kvm-x86_64"))
    )
    if packages:
        source = blueprint.latest_revision.source.replace(
            "packages: []", "packages: [" + ", ".join(f'"{p}"' for p in packages) + "]"
        )
        blueprint_revise(
            blueprint=blueprint,
            source=source,
            message="packages",
            author=None,
            based_on=blueprint.latest_revision.number,
        )
        blueprint.refresh_from_db()
    return blueprint


@pytest.fixture
def kvm(seeded: None) -> HardwareProfile:
    return HardwareProfile.objects.get(slug="kvm-x86_64")


@pytest.fixture
def data_dirs(settings, tmp_path: Path) -> None:
    """Work dirs and artifacts of this test only, and no disk-space guard."""
    settings.GENPACK_WORK_DIR = tmp_path / "work"
    settings.GENPACK_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0


@pytest.fixture
def worker_env(transactional_db: None, tmp_path: Path, settings) -> dict[str, str]:
    """Environment for worker processes: this test's database and data dir, the fast engine."""
    db = connection.settings_dict
    data_dir = tmp_path / "data"
    settings.GENPACK_WORK_DIR = data_dir / "work"
    settings.GENPACK_ARTIFACTS_DIR = data_dir / "artifacts"
    settings.GENPACK_MIN_FREE_BYTES = 0
    env = dict(os.environ, **FAST_TIMINGS)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        GENPACK_WORK_DIR=str(settings.GENPACK_WORK_DIR),
        GENPACK_ARTIFACTS_DIR=str(settings.GENPACK_ARTIFACTS_DIR),
        GENPACK_ENGINE_MODULE="tests.fake_engine",
        FAKE_ENGINE_MARKS=str(tmp_path / "runs"),
    )
    return env


@pytest.fixture
def workers(worker_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real `celery worker` processes on the test broker; all are stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(name: str = "w1", **extra_env: str) -> subprocess.Popen:
        process = start_celery_worker(
            {**worker_env, **extra_env}, name=name, queues="celery,amd64,arm64"
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


@pytest.fixture
def beat(worker_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `celery beat` sending the reaper every GENPACK_REAPER_SECONDS."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "genpack_site",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    yield process
    stop_process(process)


def engine_runs(worker_env: dict[str, str]) -> int:
    marks = Path(worker_env["FAKE_ENGINE_MARKS"])
    return len(list(marks.iterdir())) if marks.exists() else 0


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis://")
