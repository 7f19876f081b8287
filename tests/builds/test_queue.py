"""The build queue against a real broker, real worker processes and the fast engine."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from django.db import transaction

from builds import paths
from builds.models import Build
from builds.services import build_cancel, build_enqueue, build_rebuild
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import broker_is_redis, make_blueprint
from tests.harness import ROOT, engine_runs, wait_until


def _engine_processes(marker: str) -> list[int]:
    """Engine processes started for this test (their environment names its marks dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"tests.fake_engine" in cmdline and marker.encode() in environ:
            found.append(int(proc.name))
    return found


def _state(build: Build) -> str:
    build.refresh_from_db()
    return build.state


def _enqueue(name: str, profile: HardwareProfile) -> Build:
    return build_enqueue(
        revision=make_blueprint(name).latest_revision, profile=profile, requested_by=None
    )


def test_two_workers_run_six_builds_exactly_once(workers, worker_env, kvm) -> None:
    workers("w1")
    workers("w2")
    # One transaction: the tasks go out at commit, so the workers (ready at once) cannot
    # finish a build before its duplicate asks; the duplicates must join the queued builds.
    with transaction.atomic():
        builds = [_enqueue(f"appliance-{n}", kvm) for n in range(6)]
        duplicates = [
            build_enqueue(revision=build.revision, profile=kvm, requested_by=None)
            for build in builds
        ]
    assert {b.pk for b in duplicates} == {b.pk for b in builds}  # identical specs: one build
    assert wait_until(lambda: all(_state(b) == Build.State.SUCCEEDED for b in builds), 120), [
        (b.pk, b.state, b.error) for b in builds
    ]
    assert engine_runs(worker_env) == 6
    assert Build.objects.count() == 6
    workers_used = {b.worker.split("@")[0] for b in builds}
    assert workers_used == {"w1", "w2"}
    for build in builds:
        artifact = build.artifacts.get(kind="disk-raw")
        assert (paths.artifacts_root() / artifact.path).stat().st_size == artifact.size


def test_killed_worker_fails_its_build_and_a_rebuild_succeeds(
    workers, beat, worker_env, kvm
) -> None:
    victim = workers("victim", FAKE_ENGINE_SECONDS="120")
    build = _enqueue("kill-me", kvm)
    assert wait_until(lambda: _state(build) == Build.State.RUNNING, 60)
    assert wait_until(lambda: _engine_processes(worker_env["FAKE_ENGINE_MARKS"]), 30)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    workers("rescuer")  # runs the reaper that beat sends, then the rebuild
    assert wait_until(lambda: _state(build) == Build.State.FAILED, 30), build.state
    assert "worker lost" in build.error
    assert not build.artifacts.exists()
    assert not paths.build_artifacts_dir(build.pk).exists()
    # The orphaned engine notices its worker is gone and stops its whole process group.
    assert wait_until(lambda: not _engine_processes(worker_env["FAKE_ENGINE_MARKS"]), 20)
    rebuild = build_rebuild(build=build, requested_by=None)
    assert wait_until(lambda: _state(rebuild) == Build.State.SUCCEEDED, 60), rebuild.error


def test_queued_builds_survive_a_redis_restart(workers, beat, worker_env, kvm, build_host) -> None:
    assert broker_is_redis(), "run with CELERY_BROKER_URL=redis://... (make test does)"
    builds = [_enqueue(f"survivor-{n}", kvm) for n in range(3)]
    # Redis here keeps nothing on disk: a restart loses every queued message.
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False)
    subprocess.run([str(ROOT / "scripts/services-up.sh")], check=True, capture_output=True)
    workers("after-restart")
    assert wait_until(lambda: all(_state(b) == Build.State.SUCCEEDED for b in builds), 90), [
        (b.pk, b.state) for b in builds
    ]
    assert engine_runs(worker_env) == 3


def test_cancel_a_queued_build(workers, worker_env, kvm, build_host) -> None:
    build = _enqueue("never-runs", kvm)
    assert build_cancel(build=build, by=None)
    other = _enqueue("runs", kvm)
    workers("w1")
    assert wait_until(lambda: _state(other) == Build.State.SUCCEEDED, 60)
    assert _state(build) == Build.State.CANCELLED
    assert engine_runs(worker_env) == 1


def test_cancel_a_running_build_stops_everything(workers, worker_env, kvm) -> None:
    workers("w1", FAKE_ENGINE_SECONDS="120")
    build = _enqueue("stop-me", kvm)
    assert wait_until(lambda: _state(build) == Build.State.RUNNING, 60)
    assert wait_until(lambda: _engine_processes(worker_env["FAKE_ENGINE_MARKS"]), 30)
    assert paths.build_work_dir(build.pk).exists()
    assert build_cancel(build=build, by=None)
    assert wait_until(lambda: not _engine_processes(worker_env["FAKE_ENGINE_MARKS"]), 30)
    assert wait_until(lambda: not paths.build_work_dir(build.pk).exists(), 15)
    assert not paths.build_staging_dir(build.pk).exists()
    assert _state(build) == Build.State.CANCELLED
    assert not build.artifacts.exists()


def test_failed_step_fails_without_retry_and_leaves_nothing(workers, worker_env, kvm) -> None:
    workers("w1", FAKE_ENGINE_FAIL="pack")
    build = _enqueue("broken", kvm)
    assert wait_until(lambda: _state(build) == Build.State.FAILED, 60)
    assert "pack failed" in build.error
    assert engine_runs(worker_env) == 1  # no automatic retry for a failed step
    assert not paths.build_artifacts_dir(build.pk).exists()
    assert "pack failed" in paths.build_log_path(build.pk).read_text()


@pytest.mark.parametrize("offset", [1, 65_536, 262_143])
def test_resumed_download_gives_the_same_bytes(
    workers, worker_env, kvm, product_manager, offset
) -> None:
    import hashlib

    workers("w1")
    build = _enqueue("download-me", kvm)
    assert wait_until(lambda: _state(build) == Build.State.SUCCEEDED, 60)
    url = f"/builds/{build.pk}/download/disk-raw/"
    full = product_manager.get(url)
    assert full.status_code == 200
    body = b"".join(full.streaming_content)
    assert int(full["Content-Length"]) == len(body) == 256 * 1024
    assert "attachment" in full["Content-Disposition"]
    artifact = build.artifacts.get(kind="disk-raw")
    assert full["ETag"] == f'"{artifact.sha256}"'
    head = body[:offset]
    rest = product_manager.get(url, HTTP_RANGE=f"bytes={offset}-", HTTP_IF_RANGE=full["ETag"])
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes {offset}-{len(body) - 1}/{len(body)}"
    resumed = head + b"".join(rest.streaming_content)
    assert resumed == body
    assert hashlib.sha256(resumed).hexdigest() == artifact.sha256
