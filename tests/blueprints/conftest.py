from __future__ import annotations

import pytest

from blueprints.models import Blueprint
from blueprints.services import blueprint_create
from hardware_profiles.models import HardwareProfile


@pytest.fixture
def kiosk(seeded: None) -> Blueprint:
    """A blueprint for a PC (with Wi-Fi) and a KVM guest (without)."""
    return blueprint_create(
        name="kiosk",
        author=None,
        description="Shop kiosk",
        targets=list(HardwareProfile.objects.filter(slug__in=["pc-x86_64", "kvm-x86_64"])),
    )


def section_post(client, blueprint: Blueprint, section: str, data: dict, htmx: bool = True):
    blueprint.refresh_from_db()
    payload = {"based_on": blueprint.latest_revision.number, **data}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/blueprints/{blueprint.name}/edit/{section}/", payload, **headers)
