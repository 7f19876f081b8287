"""The boot test against a real broker and real worker processes (the fast engine, and the
boot test that boots nothing: tests/fake_boot_test.py): queued at publish on the boottest
queue, retried only for host problems, cancelled, reaped, and resent after the broker was
down when the build was published."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from builds import paths
from builds.boot_tests import boot_test_cancel
from builds.models import Artifact, BootTestState, Build
from builds.services import build_claim, build_enqueue
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint
from tests.fake_boot_test import PANIC
from tests.harness import ROOT, boot_test_runs, wait_until


def _enqueue(name: str, profile: HardwareProfile) -> Build:
    return build_enqueue(
        revision=make_blueprint(name).latest_revision, profile=profile, requested_by=None
    )


def _boot_test_state(build: Build) -> str:
    build.refresh_from_db()
    return build.boot_test_state


def _boot_test_over(build: Build) -> bool:
    return _boot_test_state(build) in (
        BootTestState.PASSED,
        BootTestState.FAILED,
        BootTestState.CANCELLED,
    )


def _console_log(build: Build) -> str:
    artifact = build.artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    return (paths.artifacts_root() / artifact.path).read_text()


def test_a_published_build_is_boot_tested_by_a_worker(workers, worker_env, kvm) -> None:
    workers("w1")
    build = _enqueue("boots", kvm)

    assert wait_until(lambda: _boot_test_over(build), 60), (build.state, build.boot_test_state)

    assert build.state == Build.State.SUCCEEDED
    assert build.boot_test_state == BootTestState.PASSED, build.boot_test_error
    assert build.boot_test_login_seconds == 12.5
    assert build.boot_test_applied["hostname"] == f"boot-test-{build.pk}"
    assert build.boot_test_task_id
    assert build.boot_test_started_at <= build.boot_test_finished_at
    assert f"boot-test-{build.pk} login:" in _console_log(build)
    assert boot_test_runs(worker_env) == ["passed"]
    assert not paths.boot_test_work_dir(build.pk).exists()


def test_an_image_that_does_not_boot_fails_once_with_its_console_log(
    workers, worker_env, kvm
) -> None:
    workers("w1", FAKE_BOOT_TEST_FAIL="panic")
    build = _enqueue("panics", kvm)

    assert wait_until(lambda: _boot_test_over(build), 60), build.boot_test_state

    assert build.boot_test_state == BootTestState.FAILED
    assert PANIC in build.boot_test_error
    assert PANIC in _console_log(build)
    assert build.state == Build.State.SUCCEEDED
    assert boot_test_runs(worker_env) == ["failed"]  # a failing image is never retried


def test_a_host_problem_is_retried_then_fails_in_words(workers, worker_env, kvm) -> None:
    workers(
        "w1",
        FAKE_BOOT_TEST_HOST_ERROR="qemu-system-x86_64: command not found",
        GENPACK_BOOT_TEST_RETRIES="2",
        GENPACK_BOOT_TEST_RETRY_SECONDS="1",
    )
    build = _enqueue("no-qemu", kvm)

    assert wait_until(lambda: _boot_test_over(build), 60), build.boot_test_state

    assert build.boot_test_state == BootTestState.FAILED
    assert boot_test_runs(worker_env) == ["host-error"] * 3
    assert "could not run on the build host: qemu-system-x86_64: command not found" in (
        build.boot_test_error
    )
    assert "tried 3 times" in build.boot_test_error
    assert "nothing points at the image" in build.boot_test_error
    assert not build.artifacts.filter(kind=Artifact.Kind.CONSOLE_LOG).exists()


def test_a_host_problem_that_goes_away_passes_on_the_retry(workers, worker_env, kvm) -> None:
    workers(
        "w1",
        FAKE_BOOT_TEST_HOST_ERROR="No space left on device",
        FAKE_BOOT_TEST_HOST_ERRORS="1",
        GENPACK_BOOT_TEST_RETRY_SECONDS="1",
    )
    build = _enqueue("full-disk", kvm)

    assert wait_until(lambda: _boot_test_over(build), 60), build.boot_test_state

    assert build.boot_test_state == BootTestState.PASSED
    assert boot_test_runs(worker_env) == ["host-error", "passed"]


def test_cancelling_a_running_boot_test_stops_it(workers, worker_env, kvm) -> None:
    workers("w1", FAKE_BOOT_TEST_SECONDS="120")
    build = _enqueue("long-boot", kvm)
    assert wait_until(lambda: _boot_test_state(build) == BootTestState.RUNNING, 60)
    assert wait_until(lambda: paths.boot_test_work_dir(build.pk).exists(), 20)

    assert boot_test_cancel(build=build, by=None)

    # The worker's next heartbeat (1 s here) tells the run to stop; it does not boot on.
    assert wait_until(lambda: boot_test_runs(worker_env), 20)
    [run] = boot_test_runs(worker_env)
    assert run.startswith("cancelled after")
    assert float(run.split()[2]) < 30
    assert wait_until(lambda: not paths.boot_test_work_dir(build.pk).exists(), 10)
    assert _boot_test_state(build) == BootTestState.CANCELLED
    assert build.boot_test_error == "Cancelled by the system."
    assert not build.artifacts.filter(kind=Artifact.Kind.CONSOLE_LOG).exists()


def test_a_killed_worker_fails_its_boot_test_in_words(workers, beat, worker_env, kvm) -> None:
    victim = workers("victim", FAKE_BOOT_TEST_SECONDS="120")
    build = _enqueue("lost-boot", kvm)
    assert wait_until(lambda: _boot_test_state(build) == BootTestState.RUNNING, 60)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    workers("rescuer")  # runs the reaper that beat sends

    assert wait_until(lambda: _boot_test_over(build), 30), build.boot_test_state

    assert build.boot_test_state == BootTestState.FAILED
    assert "worker running the boot test stopped responding" in build.boot_test_error
    assert build.state == Build.State.SUCCEEDED


# Runs the build in a process of its own whose Celery app talks to a dead broker: the engine
# produces, the build is published, and sending its boot test fails.
PUBLISH_WITH_BROKER_DOWN = """
import json, os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "genpack_site.settings"
django.setup()
from builds.tasks import claimed_build_run
started = time.monotonic()
state, message = claimed_build_run(int(sys.argv[1]))
print(json.dumps({"state": state, "message": message, "seconds": time.monotonic() - started}))
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_a_broker_down_at_publish_leaves_the_build_succeeded_and_its_boot_test_resent(
    workers, beat, worker_env, kvm, build_host, tmp_path: Path
) -> None:
    build = _enqueue("published-blind", kvm)
    assert build_claim(build_id=build.pk, worker="blind", task_id="t")
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    env = dict(worker_env, CELERY_BROKER_URL=dead, CELERY_RESULT_BACKEND=dead)
    run = subprocess.run(
        [sys.executable, "-c", PUBLISH_WITH_BROKER_DOWN, str(build.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "succeeded"
    assert outcome["seconds"] < 30  # the unreachable broker costs seconds, not minutes
    assert "sending its boot test failed" in run.stderr
    build.refresh_from_db()
    assert build.state == Build.State.SUCCEEDED
    assert build.boot_test_state == BootTestState.PENDING

    workers("w1")  # beat's reaper re-sends it once it has waited GENPACK_REQUEUE_AFTER_SECONDS

    assert wait_until(lambda: _boot_test_over(build), 60), build.boot_test_state
    assert build.boot_test_state == BootTestState.PASSED
    assert boot_test_runs(worker_env) == ["passed"]
