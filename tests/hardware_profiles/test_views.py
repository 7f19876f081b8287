"""Editing hardware profiles (issue 12): names checked against the index the profile's
architecture builds from, the blueprints a change affects, "copy from", a slug that stays."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from blueprints.services import blueprint_create
from hardware_profiles.forms import HardwareProfileForm
from hardware_profiles.models import HardwareProfile
from package_index.store import package_index_update
from tests.harness import SUITE

pytestmark = pytest.mark.django_db

# In the fixture archive (tests/data/debian): systemd for both arches, intel-microcode for
# amd64 only; no kernel, so the loaded-index tests name systemd as the "kernel".
EDIT = "hardware_profiles:edit"


@pytest.fixture
def loaded(mirror: str, seeded: None) -> None:
    cache.clear()  # package searches (the suggestions) are cached
    for arch in ("amd64", "arm64"):
        package_index_update(suite=SUITE, component="main", arch=arch, mirror=mirror)


def _form_data(base_slug: str, /, **changes: Any) -> dict[str, Any]:
    """The profile's form as a browser posts it, from the seeded profile `base_slug`."""
    base = HardwareProfile.objects.get(slug=base_slug)
    data: dict[str, Any] = {
        field: getattr(base, field) for field in HardwareProfileForm._meta.fields
    }
    for field in ("components", "firmware_packages", "wifi_packages", "extra_packages"):
        data[field] = " ".join(data[field])
    data["enabled"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not False}


def _new(slug: str = "new-board", **changes: Any) -> dict[str, Any]:
    return _form_data("arm64-uefi", slug=slug, name="New board", **changes)


def test_an_unknown_kernel_is_refused_with_the_index_it_is_missing_from(
    admin_client_role: Client, loaded: None
) -> None:
    response = admin_client_role.post(
        reverse("hardware_profiles:create"), _new(kernel_package="linux-image-nope")
    )

    assert response.status_code == 200
    assert response.context["form"].errors["kernel_package"] == [
        "Not in Debian bookworm (main) for arm64: linux-image-nope."
    ]
    assert not HardwareProfile.objects.filter(slug="new-board").exists()


def test_the_profiles_architecture_decides_which_index(
    admin_client_role: Client, loaded: None
) -> None:
    """intel-microcode exists for amd64 only: refused on an arm64 profile, fine on a PC."""
    arm = admin_client_role.post(
        reverse("hardware_profiles:create"),
        _new(kernel_package="systemd", firmware_packages="intel-microcode"),
    )
    pc = admin_client_role.post(
        reverse("hardware_profiles:create"),
        _form_data(
            "kvm-x86_64",
            slug="new-pc",
            name="New PC",
            kernel_package="systemd",
            firmware_packages="intel-microcode",
            extra_packages="",
        ),
    )

    assert arm.context["form"].errors["firmware_packages"] == [
        "Not in Debian bookworm (main) for arm64: intel-microcode."
    ]
    assert pc.status_code == 302
    assert HardwareProfile.objects.get(slug="new-pc").firmware_packages == ["intel-microcode"]


def test_wifi_and_extra_packages_are_checked_too_with_a_suggestion(
    admin_client_role: Client, loaded: None
) -> None:
    response = admin_client_role.post(
        reverse("hardware_profiles:create"),
        _new(kernel_package="systemd", wifi_packages="vim-tin", extra_packages="frobnicator"),
    )

    errors = response.context["form"].errors
    assert errors["wifi_packages"] == [
        "Not in Debian bookworm (main) for arm64: vim-tin (did you mean vim-tiny?)."
    ]
    assert errors["extra_packages"] == ["Not in Debian bookworm (main) for arm64: frobnicator."]


def test_while_the_index_is_not_loaded_the_profile_is_saved_with_a_warning(
    admin_client_role: Client,
) -> None:
    response = admin_client_role.post(
        reverse("hardware_profiles:create"), _new(kernel_package="linux-image-nope"), follow=True
    )

    page = response.content.decode()
    assert HardwareProfile.objects.get(slug="new-board").kernel_package == "linux-image-nope"
    assert "The package list bookworm/main/arm64 is not loaded yet" in page
    assert "were not checked" in page


def test_known_packages_save_without_a_warning(admin_client_role: Client, loaded: None) -> None:
    response = admin_client_role.post(
        reverse(EDIT, args=["arm64-uefi"]),
        _form_data("arm64-uefi", kernel_package="systemd", extra_packages="vim"),
        follow=True,
    )

    assert HardwareProfile.objects.get(slug="arm64-uefi").kernel_package == "systemd"
    assert "not loaded yet" not in response.content.decode()


def test_the_edit_page_says_which_blueprints_a_change_affects(admin_client_role: Client) -> None:
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    pc = HardwareProfile.objects.get(slug="pc-x86_64")
    blueprint_create(name="kiosk", author=None, targets=[kvm])
    blueprint_create(name="signage", author=None, targets=[kvm, pc])
    blueprint_create(name="elsewhere", author=None, targets=[pc])

    page = admin_client_role.get(reverse(EDIT, args=["kvm-x86_64"])).content.decode()
    saved = admin_client_role.post(
        reverse(EDIT, args=["kvm-x86_64"]),
        _form_data("kvm-x86_64", kernel_args="quiet"),
        follow=True,
    ).content.decode()

    assert "2 blueprints build for this profile" in page
    assert 'href="/blueprints/kiosk/"' in page and 'href="/blueprints/signage/"' in page
    assert "elsewhere" not in page
    assert "2 blueprints build for it; the change applies from their next build." in saved


def test_a_profile_no_blueprint_uses_says_nothing_about_blueprints(
    admin_client_role: Client,
) -> None:
    page = admin_client_role.get(reverse(EDIT, args=["arm64-uefi"])).content.decode()

    assert "for this profile" not in page


def test_the_slug_stays_what_it_was(admin_client_role: Client) -> None:
    page = admin_client_role.get(reverse(EDIT, args=["arm64-uefi"])).content.decode()
    response = admin_client_role.post(
        reverse(EDIT, args=["arm64-uefi"]),
        _form_data("arm64-uefi", slug="renamed", name="Renamed ARM"),
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("hardware_profiles:detail", args=["arm64-uefi"])
    assert HardwareProfile.objects.get(slug="arm64-uefi").name == "Renamed ARM"
    assert not HardwareProfile.objects.filter(slug="renamed").exists()
    slug_input = page[page.index('name="slug"') - 100 : page.index('name="slug"') + 200]
    assert "disabled" in slug_input


def test_a_new_profile_can_start_as_a_copy_of_another(admin_client_role: Client) -> None:
    rpi = HardwareProfile.objects.get(slug="rpi-arm64")

    page = admin_client_role.get(reverse("hardware_profiles:create"), {"copy": "rpi-arm64"})
    form = page.context["form"]
    # What the browser sends back: the filled-in form as shown, with a slug typed in.
    data = {
        name: form[name].value() for name in form.fields if form[name].value() not in (None, False)
    }
    data.update(slug="rpi-kiosk")
    created = admin_client_role.post(reverse("hardware_profiles:create"), data)

    assert form["name"].value() == f"Copy of {rpi.name}"
    assert not form["slug"].value()
    assert created.status_code == 302
    copy = HardwareProfile.objects.get(slug="rpi-kiosk")
    for field in ("arch", "boot_scheme", "partition_table", "kernel_package", "capabilities"):
        assert getattr(copy, field) == getattr(rpi, field)
    assert copy.firmware_packages == rpi.firmware_packages
    assert copy.wifi_packages == rpi.wifi_packages


def test_the_new_profile_page_offers_every_profile_to_copy(admin_client_role: Client) -> None:
    page = admin_client_role.get(reverse("hardware_profiles:create")).content.decode()

    assert "Start from an existing profile" in page
    for slug in HardwareProfile.objects.values_list("slug", flat=True):
        assert f'<option value="{slug}"' in page


@pytest.mark.parametrize("persona", ["product_manager", "technician"])
def test_only_admins_create_or_edit_profiles(
    request: pytest.FixtureRequest, persona: str, caplog: pytest.LogCaptureFixture
) -> None:
    client: Client = request.getfixturevalue(persona)
    before = list(HardwareProfile.objects.order_by("pk").values())
    create, edit = reverse("hardware_profiles:create"), reverse(EDIT, args=["arm64-uefi"])

    with caplog.at_level(logging.WARNING, logger="django.request"):
        statuses = [
            client.get(create).status_code,
            client.get(create, {"copy": "arm64-uefi"}).status_code,
            client.get(edit).status_code,
            client.post(create, _new()).status_code,
            client.post(edit, _form_data("arm64-uefi", name="Hijacked")).status_code,
        ]

    assert statuses == [403] * 5
    assert list(HardwareProfile.objects.order_by("pk").values()) == before
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert len(refusals) == 5
    assert [r for r in refusals if r.exc_info] == []  # an ordinary 403: no traceback
