"""Build bookkeeping without workers: enqueue, cache, guards, claims, cancel, publish."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from builds import paths
from builds.models import Build
from builds.services import (
    BuildRefusedError,
    ProducedFile,
    build_cancel,
    build_claim,
    build_enqueue,
    build_fail,
    build_heartbeat,
    build_publish,
    build_rebuild,
    builds_reap,
)
from builds.worker import engine_command
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]


def _publish(build: Build) -> None:
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    payload = b"disk image"
    (staging / "x.img").write_bytes(payload)
    produced = ProducedFile("disk-raw", "x.img", len(payload), hashlib.sha256(payload).hexdigest())
    assert build_claim(build_id=build.pk, worker="w", task_id="t")
    assert build_publish(build_id=build.pk, staging=staging, files=[produced])


def test_enqueue_freezes_the_spec_and_its_hash(kvm: HardwareProfile) -> None:
    blueprint = make_blueprint("kiosk", ["openssh-server"])
    build = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    assert build.state == Build.State.QUEUED
    assert "openssh-server" in build.spec["packages"]
    assert build.spec["kernel_package"] == "linux-image-cloud-amd64"
    assert len(build.spec_hash) == 64


def test_same_spec_while_queued_joins_the_queued_build(kvm: HardwareProfile) -> None:
    blueprint = make_blueprint("kiosk")
    first = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    second = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    assert first.pk == second.pk
    assert Build.objects.count() == 1


def test_succeeded_spec_is_a_cache_hit_with_the_same_artifacts(kvm: HardwareProfile) -> None:
    blueprint = make_blueprint("kiosk")
    first = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    _publish(first)
    again = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    assert again.pk != first.pk
    assert again.state == Build.State.SUCCEEDED
    assert again.cache_hit_of == first
    assert list(again.artifact_source.artifacts.values_list("sha256", flat=True)) == list(
        first.artifacts.values_list("sha256", flat=True)
    )


def test_rebuild_bypasses_the_cache(kvm: HardwareProfile) -> None:
    blueprint = make_blueprint("kiosk")
    first = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    _publish(first)
    fresh = build_rebuild(build=first, requested_by=None)
    assert fresh.state == Build.State.QUEUED and fresh.cache_hit_of is None


def test_disabled_profile_is_refused_with_a_reason(kvm: HardwareProfile) -> None:
    kvm.enabled = False
    kvm.save()
    blueprint = make_blueprint("kiosk")
    with pytest.raises(BuildRefusedError, match="disabled by an admin"):
        build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)


def test_a_profile_the_builder_cannot_make_is_refused_before_anything_is_queued(
    kvm: HardwareProfile,
) -> None:
    # Edited straight in the database: the profile form would have refused it.
    HardwareProfile.objects.filter(pk=kvm.pk).update(boot_scheme="rpi-firmware")
    kvm.refresh_from_db()
    blueprint = make_blueprint("kiosk")
    with pytest.raises(BuildRefusedError) as refused:
        build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    assert str(refused.value) == (
        "The builder cannot make images for this hardware profile: Raspberry Pi firmware boot "
        "is made for arm64 only, not amd64. An admin has to correct the profile first."
    )
    assert not Build.objects.exists()


def test_too_many_pending_builds_says_busy(kvm: HardwareProfile, settings) -> None:
    settings.GENPACK_MAX_PENDING_BUILDS = 1
    build_enqueue(revision=make_blueprint("one").latest_revision, profile=kvm, requested_by=None)
    with pytest.raises(BuildRefusedError, match="busy"):
        build_enqueue(
            revision=make_blueprint("two").latest_revision, profile=kvm, requested_by=None
        )


def test_too_little_disk_space_is_refused(kvm: HardwareProfile, settings) -> None:
    settings.GENPACK_MIN_FREE_BYTES = 10**18
    with pytest.raises(BuildRefusedError, match="disk space"):
        build_enqueue(revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None)


def test_the_free_space_guard_keeps_room_for_the_base_cache_to_grow(
    kvm: HardwareProfile, settings, tmp_path: Path
) -> None:
    free = shutil.disk_usage(tmp_path).free
    settings.GENPACK_WORK_DIR = tmp_path / "work"
    settings.GENPACK_BASE_CACHE_DIR = tmp_path / "base-cache"
    settings.GENPACK_MIN_FREE_BYTES = free // 2
    settings.GENPACK_BASE_CACHE_MAX_BYTES = free  # an empty cache could take all of it
    with pytest.raises(BuildRefusedError, match="room for the base cache"):
        build_enqueue(revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None)
    # A cache already near its bound may grow little more: the same free space is enough.
    entry = tmp_path / "base-cache/0123abcd"
    entry.mkdir(parents=True)
    (entry / "entry.json").write_text(json.dumps({"size": free - 2**20, "versions": {}}))
    build = build_enqueue(
        revision=make_blueprint("b").latest_revision, profile=kvm, requested_by=None
    )
    assert build.state == Build.State.QUEUED and not build.fresh_base


def test_rebuild_with_the_latest_packages_asks_for_a_fresh_base(
    kvm: HardwareProfile, tmp_path: Path
) -> None:
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    Build.objects.filter(pk=build.pk).update(state=Build.State.SUCCEEDED)
    again = build_rebuild(build=Build.objects.get(pk=build.pk), requested_by=None)
    assert again.pk != build.pk and again.fresh_base
    ini = tmp_path / "system.ini"
    assert "--fresh-base" in engine_command(again, tmp_path, tmp_path / "out", ini)
    assert "--fresh-base" not in engine_command(build, tmp_path, tmp_path / "out", ini)


def test_a_build_is_claimed_once(kvm: HardwareProfile) -> None:
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    assert build_claim(build_id=build.pk, worker="w1", task_id="t1")
    assert not build_claim(build_id=build.pk, worker="w2", task_id="t2")
    assert Build.objects.get(pk=build.pk).worker == "w1"


def test_cancel_stops_heartbeats_and_publishing(kvm: HardwareProfile) -> None:
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    assert build_cancel(build=build, by=None)
    assert not build_heartbeat(build_id=build.pk, phase="pack", progress=0.5)
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / "x.img").write_bytes(b"x")
    sha = hashlib.sha256(b"x").hexdigest()
    assert not build_publish(
        build_id=build.pk, staging=staging, files=[ProducedFile("disk-raw", "x.img", 1, sha)]
    )
    assert not paths.build_artifacts_dir(build.pk).exists()
    assert Build.objects.get(pk=build.pk).state == Build.State.CANCELLED


def test_publish_refuses_a_file_whose_checksum_changed(kvm: HardwareProfile) -> None:
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / "x.img").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="checksum"):
        build_publish(
            build_id=build.pk,
            staging=staging,
            files=[ProducedFile("disk-raw", "x.img", 8, "0" * 64)],
        )
    assert not build.artifacts.exists()


def test_reaper_fails_builds_whose_worker_is_silent(kvm: HardwareProfile, settings) -> None:
    settings.GENPACK_WORKER_LOST_SECONDS = 0
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    assert builds_reap()["lost"] == [build.pk]
    build.refresh_from_db()
    assert build.state == Build.State.FAILED and "worker lost" in build.error


def test_fail_does_not_touch_a_final_build(kvm: HardwareProfile) -> None:
    build = build_enqueue(
        revision=make_blueprint("a").latest_revision, profile=kvm, requested_by=None
    )
    build_cancel(build=build, by=None)
    assert not build_fail(build_id=build.pk, error="late")
    assert Build.objects.get(pk=build.pk).state == Build.State.CANCELLED
