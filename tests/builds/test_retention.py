"""Retention keeps released and recent builds' files, removes the rest and stale work dirs."""

from __future__ import annotations

import os
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from builds import paths
from builds.boot_tests import boot_test_claim
from builds.models import BootTestState, Build
from builds.retention import builds_retention
from builds.services import (
    build_enqueue,
    build_release,
)
from tests.builds.conftest import make_blueprint
from tests.factories import BuildFactory, RevisionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]


@pytest.fixture(autouse=True)
def _keep_two(settings) -> None:
    settings.GENPACK_KEEP_SUCCESSFUL = 2


def _built(blueprint, profile, version: str) -> Build:
    """A succeeded build of a new revision of `blueprint` at `version` (a spec of its own)."""
    revision = RevisionFactory(blueprint=blueprint, changes={"version": version}, message=version)
    files = [("disk-raw", "x.img", version.encode())]
    return BuildFactory(
        revision=revision, profile=profile, state=Build.State.SUCCEEDED, files=files
    )


def test_keeps_released_and_the_last_n_and_removes_the_rest(
    kvm,
    django_capture_on_commit_callbacks,
) -> None:
    blueprint = make_blueprint("kiosk")
    builds = [_built(blueprint, kvm, f"1.{n}") for n in range(5)]
    Build.objects.filter(pk=builds[0].pk).update(boot_test_state=BootTestState.PASSED)
    assert build_release(build=builds[0])
    stale_work = paths.build_work_dir(999)
    stale_work.mkdir(parents=True)
    stale_boot_test = paths.boot_test_work_dir(998)  # left by a killed boot-test worker
    stale_boot_test.mkdir(parents=True)
    assert boot_test_claim(build_id=builds[1].pk, task_id="t")
    boot_testing = paths.boot_test_work_dir(builds[1].pk)
    boot_testing.mkdir(parents=True)
    with django_capture_on_commit_callbacks(execute=True):  # files go after the commit
        call_command("builds_retention", verbosity=0)
    assert not stale_boot_test.exists()
    assert boot_testing.exists()  # its test is running
    kept = {b.pk for b in builds if b.artifacts.exists()}
    assert kept == {builds[0].pk, builds[3].pk, builds[4].pk}
    for build in builds:
        assert paths.build_artifacts_dir(build.pk).exists() == (build.pk in kept)
    assert not stale_work.exists()
    assert Build.objects.count() == 5  # rows and history stay


def test_a_kept_cache_hit_keeps_the_files_it_points_at(kvm) -> None:
    blueprint = make_blueprint("kiosk")
    first = _built(blueprint, kvm, "1.0")
    others = make_blueprint("other")
    for n in range(3):
        _built(others, kvm, f"2.{n}")
    blueprint.refresh_from_db()
    hit = build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None)
    assert hit.cache_hit_of == first
    call_command("builds_retention", verbosity=0)
    assert first.artifacts.exists()


def _cache_hit_row(source: Build) -> Build:
    """A cache-hit row as earlier clicks left them (one per click, before they were shared)."""
    return Build.objects.create(
        revision=source.revision,
        profile=source.profile,
        spec=source.spec,
        spec_hash=source.spec_hash,
        state=Build.State.SUCCEEDED,
        cache_hit_of=source,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )


def test_cache_hits_count_as_their_source_so_clicks_never_evict_older_builds(
    kvm, django_capture_on_commit_callbacks
) -> None:
    blueprint = make_blueprint("kiosk")
    older = _built(blueprint, kvm, "1.0")
    newer = _built(blueprint, kvm, "1.1")
    for _ in range(3):
        _cache_hit_row(newer)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("builds_retention", verbosity=0)
    # Two builds own files and two are kept (GENPACK_KEEP_SUCCESSFUL = 2): both stay.
    assert older.artifacts.exists() and paths.build_artifacts_dir(older.pk).exists()
    assert newer.artifacts.exists()


def test_a_released_cache_hit_keeps_its_source_past_the_last_n(kvm) -> None:
    blueprint = make_blueprint("kiosk")
    source = _built(blueprint, kvm, "1.0")
    hit = _cache_hit_row(source)
    Build.objects.filter(pk=source.pk).update(boot_test_state=BootTestState.PASSED)
    assert build_release(build=hit)  # a cache hit is released on its source's boot test
    for n in range(3):
        _built(blueprint, kvm, f"2.{n}")
    call_command("builds_retention", verbosity=0)
    assert source.artifacts.exists()


def test_personalised_copies_left_by_a_crash_are_swept_after_an_hour() -> None:
    directory = paths.personal_dir()
    directory.mkdir(parents=True)
    stale, fresh = directory / "stale.img", directory / "fresh.img"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being downloaded")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    result = builds_retention()
    assert result["personal_copies_removed"] == 1
    assert not stale.exists() and fresh.exists()


def test_checksums_of_personalised_downloads_are_swept_after_a_day() -> None:
    directory = paths.personal_checksums_dir()
    directory.mkdir(parents=True)
    old, recent = directory / "1-1-old.sha256", directory / "1-1-recent.sha256"
    old.write_text("0" * 64 + "  kiosk.img\n")
    recent.write_text("1" * 64 + "  kiosk.img\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    assert builds_retention()["personal_checksums_removed"] == 1
    assert not old.exists() and recent.exists()
