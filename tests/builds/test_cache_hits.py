"""Repeated requests for an already-built spec share one cache-hit row, even when concurrent."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from blueprints.services import blueprint_update
from builds.models import Build
from builds.services import build_enqueue
from tests.factories import BlueprintFactory, BuildFactory


@pytest.mark.django_db
@pytest.mark.usefixtures("data_dirs", "build_host")
def test_repeated_requests_reuse_one_cache_hit_row(kvm) -> None:
    blueprint = BlueprintFactory(name="kiosk")
    source = BuildFactory(revision=blueprint.latest_revision, state=Build.State.SUCCEEDED)
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
@pytest.mark.usefixtures("data_dirs", "build_host")
def test_concurrent_requests_make_one_cache_hit_row(kvm) -> None:
    blueprint = BlueprintFactory(name="kiosk")
    source = BuildFactory(revision=blueprint.latest_revision, state=Build.State.SUCCEEDED)
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
