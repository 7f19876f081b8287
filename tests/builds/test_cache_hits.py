"""Repeated requests for an already-built spec share one cache-hit row, even when concurrent."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.db import connection

from blueprints.services import blueprint_update
from builds import paths
from builds.models import Build
from builds.services import ProducedFile, build_claim, build_enqueue, build_publish
from tests.builds.conftest import make_blueprint


def _built(blueprint, profile) -> Build:
    build = build_enqueue(revision=blueprint.latest_revision, profile=profile, requested_by=None)
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / "x.img").write_bytes(b"x")
    produced = ProducedFile("disk-raw", "x.img", 1, hashlib.sha256(b"x").hexdigest())
    assert build_publish(build_id=build.pk, staging=staging, files=[produced])
    return build


@pytest.mark.django_db
@pytest.mark.usefixtures("data_dirs")
def test_repeated_requests_reuse_one_cache_hit_row(kvm) -> None:
    blueprint = make_blueprint("kiosk")
    source = _built(blueprint, kvm)
    hits = {
        build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None).pk
        for _ in range(3)
    }
    assert len(hits) == 1
    assert Build.objects.get(pk=hits.pop()).cache_hit_of == source
    # Another revision with the same spec (system.ini defaults are not in it) gets its own row.
    blueprint_update(
        blueprint=blueprint,
        changes={"system_ini": {"hostname": "kiosk-2"}},
        message="a default",
        author=None,
        based_on=blueprint.latest_revision.number,
    )
    blueprint.refresh_from_db()
    again = {
        build_enqueue(revision=blueprint.latest_revision, profile=kvm, requested_by=None).pk
        for _ in range(2)
    }
    assert len(again) == 1
    assert Build.objects.filter(cache_hit_of=source).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("data_dirs")
def test_concurrent_requests_make_one_cache_hit_row(kvm) -> None:
    blueprint = make_blueprint("kiosk")
    source = _built(blueprint, kvm)
    revision = blueprint.latest_revision
    clicks = 8
    start = threading.Barrier(clicks)
    answers: list[int] = []
    errors: list[BaseException] = []

    def click() -> None:
        try:
            start.wait()
            answers.append(build_enqueue(revision=revision, profile=kvm, requested_by=None).pk)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(answers) == clicks and len(set(answers)) == 1
    assert Build.objects.filter(cache_hit_of=source).count() == 1
