from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.forms.models import model_to_dict

from genpack_site import roles
from hardware_profiles.models import HardwareProfile
from hardware_profiles.seed import SEED_PROFILES

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple[list[dict], dict[str, list[str]]]:
    profiles = [model_to_dict(p) for p in HardwareProfile.objects.order_by("slug")]
    groups = {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.all()
    }
    return profiles, groups


def test_seeding_twice_changes_nothing() -> None:
    call_command("seed", verbosity=0)
    first = _snapshot()
    stamps = list(HardwareProfile.objects.order_by("slug").values_list("updated_at", flat=True))
    call_command("seed", verbosity=0)
    assert _snapshot() == first
    assert (
        list(HardwareProfile.objects.order_by("slug").values_list("updated_at", flat=True))
        == stamps
    )
    assert HardwareProfile.objects.count() == len(SEED_PROFILES) == 4


def test_seeding_keeps_an_admins_edits() -> None:
    call_command("seed", verbosity=0)
    HardwareProfile.objects.filter(slug="rpi-arm64").update(kernel_args="quiet")
    call_command("seed", verbosity=0)
    assert HardwareProfile.objects.get(slug="rpi-arm64").kernel_args == "quiet"


def test_seed_profiles_cover_the_boards_we_promise() -> None:
    call_command("seed", verbosity=0)
    profiles = {p.slug: p for p in HardwareProfile.objects.all()}
    assert profiles["pc-x86_64"].boot_scheme == "uefi-grub"
    assert profiles["pc-x86_64"].partition_table == "gpt"
    assert profiles["rpi-arm64"].partition_table == "mbr"
    assert "raspi-firmware" in profiles["rpi-arm64"].firmware_packages
    assert "non-free-firmware" in profiles["rpi-arm64"].components
    assert profiles["rpi-arm64"].has_wifi and not profiles["kvm-x86_64"].has_wifi
    assert {p.arch for p in profiles.values()} == {"amd64", "arm64"}


def test_roles_exist_with_their_permissions() -> None:
    call_command("seed", verbosity=0)
    technician = Group.objects.get(name=roles.FIELD_TECHNICIAN)
    codenames = set(technician.permissions.values_list("codename", flat=True))
    assert "download_artifact" in codenames
    assert "change_blueprint" not in codenames


def test_one_raspberry_pi_profile_covers_the_pi_3_4_400_and_cm4() -> None:
    call_command("seed", verbosity=0)
    pis = HardwareProfile.objects.filter(boot_scheme="rpi-firmware")
    assert [p.slug for p in pis] == ["rpi-arm64"]
    pi = pis.get()
    assert pi.name == "Raspberry Pi 3 / 4 / 400 / CM4 (arm64)"
    assert all(board in pi.description for board in ("Pi 3", "Pi 4", "Pi 400", "Compute Module 4"))
    assert pi.serial_console == "ttyS1,115200"
    assert pi.firmware_packages == ["raspi-firmware"]
    assert pi.wifi_packages == ["firmware-brcm80211"]
    assert pi.boot_test_machine == "raspi3b" and pi.output_formats == ["raw", "xz"]
    # Only what the image really offers: nothing in it drives the GPIO header.
    assert set(pi.capabilities) == {"ethernet", "wifi", "bluetooth", "serial", "usb", "display"}
    generic = HardwareProfile.objects.get(slug="arm64-uefi")
    assert generic.boot_test_machine == "virt"
    assert generic.boot_test_firmware == "/usr/share/AAVMF/AAVMF_CODE.fd"


def test_every_seed_profile_is_one_the_builder_can_make() -> None:
    call_command("seed", verbosity=0)
    assert {p.slug: p.builder_problem for p in HardwareProfile.objects.all()} == {
        p["slug"]: None for p in SEED_PROFILES
    }


def test_the_radios_firmware_is_its_own_list() -> None:
    """Wi-Fi firmware goes only where there is a radio (issue 11); the builder adds the client
    and wireless-regdb itself, so no profile lists them."""
    call_command("seed", verbosity=0)
    profiles = {p.slug: p for p in HardwareProfile.objects.all()}
    pc = profiles["pc-x86_64"]
    # Intel, Atheros/Qualcomm and MediaTek (bookworm's mt76 firmware is in misc-nonfree).
    assert pc.wifi_packages == ["firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"]
    # Ethernet needs firmware-realtek too (it also holds Realtek's Wi-Fi firmware).
    assert pc.firmware_packages == ["firmware-realtek", "intel-microcode", "amd64-microcode"]
    assert profiles["rpi-arm64"].wifi_packages == ["firmware-brcm80211"]
    for profile in profiles.values():
        assert bool(profile.wifi_packages) == profile.has_wifi, profile.slug
        listed = {*profile.firmware_packages, *profile.wifi_packages, *profile.extra_packages}
        assert not listed & {"wireless-regdb", "wpasupplicant", "iwd"}, profile.slug
