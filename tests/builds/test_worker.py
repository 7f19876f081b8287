"""The worker runs the engine and returns how it ended; only the task changes the Build."""

from __future__ import annotations

import pytest

from builds.models import Build
from builds.tasks import claimed_build_run
from builds.worker import EngineRun
from tests.factories import BuildFactory

pytestmark = pytest.mark.usefixtures("data_dirs", "build_host")


def test_a_failed_run_is_returned_with_its_step_and_the_row_left_to_the_task(
    kvm, settings, monkeypatch
) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "customize")
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)

    with EngineRun(build, heartbeat=lambda phase, progress: True) as run:
        outcome = run.run()

    assert (outcome.state, outcome.step) == ("failed", "customize")
    assert "customize failed" in outcome.message
    assert Build.objects.get(pk=build.pk).state == Build.State.RUNNING


def test_produced_files_are_published_by_the_task(kvm, settings) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)

    state, _ = claimed_build_run(build.pk)

    build.refresh_from_db()
    assert state == "succeeded" == build.state
    assert build.artifacts.exists()
