"""The build buttons and the start view: a build that cannot run is refused before it is
queued, with the reason on the page (issue 10)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from blueprints.models import Blueprint
from builds.hosts import build_host_announce
from builds.models import Build, BuildHost
from builds.services import build_enqueue
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


@pytest.fixture
def pc_host() -> None:
    """Only an amd64 build host is online."""
    build_host_announce(name="pc@x86", architectures=["amd64"], queues=["celery", "amd64"])


@pytest.fixture
def mixed(seeded: None) -> Blueprint:
    """A blueprint for a KVM guest (amd64) and a generic ARM64 board."""
    targets = list(HardwareProfile.objects.filter(slug__in=["kvm-x86_64", "arm64-uefi"]))
    return BlueprintFactory(name="mixed", targets=targets)


def _buttons(html: str) -> dict[str, bool]:
    """Each target's build button → whether it can be pressed."""
    found = {}
    for chunk in html.split('<input type="hidden" name="profile" value="')[1:]:
        slug = chunk.split('"', 1)[0]
        button = chunk.split("<button", 1)[1].split(">", 1)[0]
        found[slug] = "disabled" not in button
    return found


@pytest.mark.usefixtures("pc_host")
def test_starting_a_build_with_no_host_for_its_arch_is_refused_before_queueing(
    product_manager: Client, mixed: Blueprint
) -> None:
    response = product_manager.post(
        f"/builds/start/{mixed.name}/", {"profile": "arm64-uefi"}, follow=True
    )

    assert response.status_code == 200
    assert _messages(response) == [
        "Generic ARM64 (UEFI): No build host for arm64 is online. The build was not queued: "
        "start a build worker that can build arm64 (an ARM64 machine, or an x86-64 one with "
        "qemu-user-static enabled), then try again."
    ]
    assert not Build.objects.exists()


@pytest.mark.usefixtures("pc_host")
def test_build_all_queues_what_a_host_can_take_and_says_why_not_the_rest(
    product_manager: Client, mixed: Blueprint
) -> None:
    response = product_manager.post(f"/builds/start/{mixed.name}/", follow=True)

    assert [build.profile.slug for build in Build.objects.all()] == ["kvm-x86_64"]
    assert any("No build host for arm64 is online" in m for m in _messages(response))


@pytest.mark.usefixtures("pc_host")
def test_the_blueprint_page_disables_the_button_no_host_would_take(
    product_manager: Client, mixed: Blueprint
) -> None:
    html = product_manager.get(f"/blueprints/{mixed.name}/").content.decode()

    assert _buttons(html) == {"arm64-uefi": False, "kvm-x86_64": True}
    assert html.count('data-testid="target-problem"') == 1
    assert "No build host for arm64 is online." in html


def test_with_no_host_at_all_every_button_is_disabled(
    product_manager: Client, mixed: Blueprint
) -> None:
    html = product_manager.get(f"/blueprints/{mixed.name}/").content.decode()

    assert _buttons(html) == {"arm64-uefi": False, "kvm-x86_64": False}
    assert "No build host for amd64 is online." in html
    assert '<button type="submit" class="primary" disabled>Build all targets</button>' in html


@pytest.mark.usefixtures("build_host")
def test_the_blueprint_page_says_when_the_builder_cannot_make_a_target(
    product_manager: Client, mixed: Blueprint
) -> None:
    HardwareProfile.objects.filter(slug="arm64-uefi").update(boot_scheme="rpi-firmware")

    html = product_manager.get(f"/blueprints/{mixed.name}/").content.decode()

    assert _buttons(html) == {"arm64-uefi": False, "kvm-x86_64": True}
    assert (
        "The builder cannot make images for this profile: Raspberry Pi firmware on arm64 works "
        "with MBR partition tables only, not GPT." in html
    )


@pytest.mark.usefixtures("pc_host")
def test_the_editor_targets_section_notes_boards_no_host_can_build(
    product_manager: Client, mixed: Blueprint
) -> None:
    html = product_manager.get(f"/blueprints/{mixed.name}/edit/").content.decode()
    section = html.split('id="section-targets"', 1)[1].split("</section>", 1)[0]

    cards = {
        card.split('value="', 1)[1].split('"', 1)[0]: card
        for card in section.split('class="profile-card"')[1:]
    }
    noted = {slug for slug, card in cards.items() if 'data-testid="target-problem"' in card}
    arm64 = set(HardwareProfile.objects.filter(arch="arm64").values_list("slug", flat=True))
    assert noted == arm64 and "arm64-uefi" in noted
    assert "No build host for arm64 is online." in cards["arm64-uefi"]


@pytest.mark.usefixtures("build_host")
def test_a_queued_build_page_says_when_no_host_can_take_it(
    product_manager: Client, mixed: Blueprint
) -> None:
    arm64 = HardwareProfile.objects.get(slug="arm64-uefi")
    build = build_enqueue(revision=mixed.latest_revision, profile=arm64, requested_by=None)
    assert "No build host" not in product_manager.get(f"/builds/{build.pk}/").content.decode()

    BuildHost.objects.update(stopped_at=timezone.now())  # the host went away after queueing
    html = product_manager.get(f"/builds/{build.pk}/").content.decode()

    assert "No build host for arm64 is online. This build waits for one" in html
