"""The worker runs the engine and returns how it ended; only the task changes the Build."""

from __future__ import annotations

import json

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from builds import paths
from builds.models import Build
from builds.tasks import claimed_build_run
from builds.worker import EngineRun, Position
from tests.factories import BuildFactory
from tests.fake_engine import STEPS as FAKE_STEPS

pytestmark = pytest.mark.usefixtures("data_dirs", "build_host")


def test_a_failed_run_is_returned_with_its_step_and_the_row_left_to_the_task(
    kvm, settings, monkeypatch
) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "customize")
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)

    with EngineRun(build, heartbeat=lambda position: True) as run:
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


def test_the_engine_step_and_its_number_reach_the_heartbeat_at_each_step(kvm, settings) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    settings.GENPACK_HEARTBEAT_SECONDS = 3600  # only a new step makes it beat
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)
    seen: list[Position] = []

    with EngineRun(build, heartbeat=lambda position: seen.append(position) or True) as run:
        assert run.run().state == "produced"

    total = len(FAKE_STEPS)
    assert [(p.phase, p.step_number, p.step_count) for p in seen if p.step_number] == [
        (name, number, total) for number, name in enumerate(FAKE_STEPS, 1)
    ]


def test_a_failed_engine_step_is_recorded_on_the_build(kvm, settings, monkeypatch) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    monkeypatch.setenv("FAKE_ENGINE_FAIL", "customize")
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)

    state, _ = claimed_build_run(build.pk)

    build.refresh_from_db()
    assert state == "failed" == build.state
    assert build.failed_step == "customize"
    assert (build.phase, build.step_number, build.step_count) == ("customize", 2, len(FAKE_STEPS))


def test_the_sbom_the_engine_reports_is_published_as_an_artifact(kvm, settings) -> None:
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)

    state, _ = claimed_build_run(build.pk)

    assert state == "succeeded"
    sbom = build.artifacts.get(kind="sbom")
    assert sbom.path.endswith(".spdx.json")
    path = paths.artifacts_root() / sbom.path
    assert validate_full_spdx_document(parse_file(str(path))) == []
    image = json.loads(path.read_text())["packages"][0]
    identity = {ref["referenceType"]: ref["referenceLocator"] for ref in image["externalRefs"]}
    assert identity["genpack-build"] == str(build.pk)
    assert identity["genpack-profile"] == kvm.slug
