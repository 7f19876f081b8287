"""The build buttons and the start view: a build that cannot run is refused before it is
queued, with the reason on the page (issue 10)."""

from __future__ import annotations

import pytest
from django.test import Client

from builds.models import Build
from hardware_profiles.models import HardwareProfile
from tests.factories import BlueprintFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs")]


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_starting_a_build_for_an_impossible_profile_says_why(
    product_manager: Client, kvm: HardwareProfile
) -> None:
    HardwareProfile.objects.filter(pk=kvm.pk).update(partition_table="mbr", boot_scheme="x")
    blueprint = BlueprintFactory(name="kiosk")

    response = product_manager.post(
        f"/builds/start/{blueprint.name}/", {"profile": kvm.slug}, follow=True
    )

    assert response.status_code == 200
    assert _messages(response) == [
        "KVM / QEMU guest x86_64: The builder cannot make images for this hardware profile: "
        "the builder knows no boot scheme 'x'. An admin has to correct the profile first."
    ]
    assert not Build.objects.exists()
