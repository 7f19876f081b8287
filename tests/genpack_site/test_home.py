"""The start page shows each person the latest work of the kind they may see."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.services import blueprint_create
from builds.models import Build
from hardware_profiles.models import HardwareProfile

pytestmark = pytest.mark.django_db


def _build(name: str, state: str, *, released: bool = False) -> Build:
    profile = HardwareProfile.objects.get(slug="kvm-x86_64")
    blueprint = blueprint_create(name=name, author=None, targets=[profile])
    return Build.objects.create(
        revision=blueprint.latest_revision,
        profile=profile,
        spec={},
        spec_hash=name,
        state=state,
        released=released,
    )


def test_technicians_see_only_released_succeeded_builds_on_the_home_page(
    technician: Client, product_manager: Client
) -> None:
    _build("released-one", Build.State.SUCCEEDED, released=True)
    _build("unreleased-one", Build.State.SUCCEEDED)
    _build("cancelled-one", Build.State.CANCELLED)
    _build("failed-one", Build.State.FAILED)
    _build("queued-one", Build.State.QUEUED)
    page = technician.get("/").content.decode()
    assert "released-one" in page
    for hidden in ("unreleased-one", "cancelled-one", "failed-one", "queued-one"):
        assert hidden not in page
    everything = product_manager.get("/").content.decode()
    assert all(
        name in everything
        for name in ("released-one", "unreleased-one", "cancelled-one", "queued-one")
    )


def test_technicians_home_page_links_every_build_it_lists(technician: Client) -> None:
    released = [_build(f"released-{n}", Build.State.SUCCEEDED, released=True) for n in range(3)]
    page = technician.get("/").content.decode()
    for build in released:
        assert f'href="/builds/{build.pk}/"' in page
