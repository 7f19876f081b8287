"""An admin cannot save a hardware profile the image builder cannot make (issue 10).

The builder's own answer (image_builder.boot.combination_problem) is the rule, on the site's
profile pages and in Django's admin alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from hardware_profiles.forms import HardwareProfileForm
from hardware_profiles.models import HardwareProfile
from image_builder.boot import combination_problem

pytestmark = pytest.mark.django_db


def _post_data(**changes: Any) -> dict[str, Any]:
    """A new profile's form as a browser posts it, from the seeded generic ARM64 profile."""
    base = HardwareProfile.objects.get(slug="arm64-uefi")
    data: dict[str, Any] = {
        field: getattr(base, field) for field in HardwareProfileForm._meta.fields
    }
    data.update(slug="new-board", name="New board")
    for field in (
        "components", "firmware_packages", "wifi_packages", "extra_packages", "kernel_modules",
    ):  # fmt: skip
        data[field] = " ".join(data[field])
    data["enabled"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not False}


@pytest.mark.parametrize(
    ("arch", "boot_scheme", "partition_table", "field", "words"),
    [
        ("arm64", "rpi-firmware", "gpt", "partition_table", "MBR"),
        ("amd64", "rpi-firmware", "mbr", "arch", "arm64"),
    ],
)
def test_the_profile_page_refuses_what_the_builder_cannot_make(
    admin_client_role: Client,
    arch: str,
    boot_scheme: str,
    partition_table: str,
    field: str,
    words: str,
) -> None:
    data = _post_data(arch=arch, boot_scheme=boot_scheme, partition_table=partition_table)

    response = admin_client_role.post(reverse("hardware_profiles:create"), data)

    assert response.status_code == 200  # the form again, not a redirect
    problem = combination_problem(arch, boot_scheme, partition_table)
    errors = response.context["form"].errors[field]
    assert errors == [f"The builder cannot make this: {problem}."]
    assert words in errors[0]
    assert not HardwareProfile.objects.filter(slug="new-board").exists()


def test_editing_a_profile_into_an_impossible_one_changes_nothing(
    admin_client_role: Client,
) -> None:
    url = reverse("hardware_profiles:edit", args=["arm64-uefi"])
    data = _post_data(slug="arm64-uefi", name="Generic ARM64 (UEFI)", boot_scheme="rpi-firmware")

    response = admin_client_role.post(url, data)

    assert response.status_code == 200
    assert "The builder cannot make this" in response.content.decode()
    assert HardwareProfile.objects.get(slug="arm64-uefi").boot_scheme == "uefi-grub"


def test_a_profile_the_builder_can_make_is_saved(admin_client_role: Client) -> None:
    response = admin_client_role.post(
        reverse("hardware_profiles:create"),
        _post_data(boot_scheme="rpi-firmware", partition_table="mbr"),
    )

    assert response.status_code == 302
    assert HardwareProfile.objects.get(slug="new-board").boot_scheme == "rpi-firmware"


def test_djangos_admin_refuses_it_too(admin_client_role: Client) -> None:
    response = admin_client_role.post(
        "/admin/hardware_profiles/hardwareprofile/add/",
        _post_data(boot_scheme="rpi-firmware", partition_table="gpt"),
    )

    assert response.status_code == 200
    assert "The builder cannot make this" in response.content.decode()
    assert not HardwareProfile.objects.filter(slug="new-board").exists()


@pytest.mark.parametrize("url", ["/admin/hardware_profiles/hardwareprofile/add/", "/profiles/new/"])
def test_the_radios_firmware_is_typed_as_words_and_saved_as_a_list(
    admin_client_role: Client, url: str
) -> None:
    data = _post_data(
        capabilities=["ethernet", "wifi"], wifi_packages="firmware-iwlwifi, firmware-atheros"
    )

    response = admin_client_role.post(url, data)

    assert response.status_code == 302, response.context["form"].errors
    profile = HardwareProfile.objects.get(slug="new-board")
    assert profile.wifi_packages == ["firmware-iwlwifi", "firmware-atheros"]
    assert profile.board_firmware == ["firmware-iwlwifi", "firmware-atheros"]


def test_the_profile_pages_show_the_radios_firmware(admin_client_role: Client) -> None:
    edit = admin_client_role.get(reverse("hardware_profiles:edit", args=["pc-x86_64"]))
    field = edit.content.decode()
    assert 'name="wifi_packages"' in field
    assert 'value="firmware-iwlwifi firmware-atheros firmware-misc-nonfree"' in field
    assert "installed only when the profile has the “Wi-Fi” capability" in field

    pc = admin_client_role.get(reverse("hardware_profiles:detail", args=["pc-x86_64"]))
    assert "Wi-Fi firmware" in pc.content.decode()
    assert "<code>firmware-atheros</code>" in pc.content.decode()
    HardwareProfile.objects.filter(slug="pc-x86_64").update(capabilities=["ethernet"])
    wired = admin_client_role.get(reverse("hardware_profiles:detail", args=["pc-x86_64"]))
    assert "listed but not installed" in wired.content.decode()


def test_an_admin_adds_kernel_modules_and_classes_to_a_profile(admin_client_role: Client) -> None:
    data = _post_data(kernel_modules="@arm64-soc @virtio,\r\nsmsc95xx !drivers/usb/gadget/")

    response = admin_client_role.post(reverse("hardware_profiles:create"), data)

    assert response.status_code == 302
    assert HardwareProfile.objects.get(slug="new-board").kernel_modules == [
        "@arm64-soc", "@virtio", "smsc95xx", "!drivers/usb/gadget/",
    ]  # fmt: skip
    page = admin_client_role.get(reverse("hardware_profiles:detail", args=["new-board"]))
    assert "<code>!drivers/usb/gadget/</code>" in page.content.decode()


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("@wifii", "unknown kernel module class @wifii"),
        ("../../etc/passwd", "is not a module name"),
        ("<script>alert(1)</script>", "is not a module name"),
    ],
)
def test_a_kernel_module_list_the_builder_refuses_is_refused_here(
    admin_client_role: Client, typed: str, words: str
) -> None:
    response = admin_client_role.post(
        reverse("hardware_profiles:create"), _post_data(kernel_modules=f"@usb {typed}")
    )

    assert response.status_code == 200
    errors = response.context["form"].errors["kernel_modules"]
    assert words in errors[0]
    assert "<script>" not in response.content.decode()  # shown as text
    assert not HardwareProfile.objects.filter(slug="new-board").exists()
