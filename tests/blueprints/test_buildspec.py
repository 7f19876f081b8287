"""A blueprint merged for one profile: genpack's layering, removals, a stable cache key."""

from __future__ import annotations

import pytest

from blueprints.buildspec import buildspec_for
from hardware_profiles.models import HardwareProfile
from image_builder.errors import SpecError

pytestmark = pytest.mark.django_db


@pytest.fixture
def pc(seeded: None) -> HardwareProfile:
    return HardwareProfile.objects.get(slug="pc-x86_64")


@pytest.fixture
def rpi(seeded: None) -> HardwareProfile:
    return HardwareProfile.objects.get(slug="rpi-arm64")


BLUEPRINT = {
    "name": "kiosk",
    "packages": ["openssh-server", "chromium", "-firmware-iwlwifi"],
    "services": ["ssh"],
    "arch": {
        "x86_64": {"packages": ["intel-media-va-driver", "-chromium", "firefox-esr"]},
        "arm64": {"packages": ["raspi-config-less"], "services": ["-ssh"]},
    },
    "system_ini": {"hostname": "kiosk"},
}


def test_arch_layer_appends_and_removes(pc: HardwareProfile) -> None:
    spec = buildspec_for(BLUEPRINT, pc)
    assert spec.packages == ("firefox-esr", "intel-media-va-driver", "openssh-server")
    assert spec.services == ("ssh.service",)


def test_minus_entry_removes_what_the_profile_adds(pc: HardwareProfile) -> None:
    spec = buildspec_for(BLUEPRINT, pc)
    assert "firmware-iwlwifi" not in spec.firmware_packages
    assert "firmware-realtek" in spec.firmware_packages
    assert spec.kernel_package == "linux-image-amd64"


def test_other_arch_gets_its_own_layer(rpi: HardwareProfile) -> None:
    spec = buildspec_for(BLUEPRINT, rpi)
    assert spec.arch == "arm64" and spec.boot_scheme == "rpi-firmware"
    assert "raspi-config-less" in spec.packages and "chromium" in spec.packages
    assert spec.services == ()


def test_order_and_duplicates_do_not_change_the_cache_key(pc: HardwareProfile) -> None:
    shuffled = {
        **BLUEPRINT,
        "packages": ["chromium", "-firmware-iwlwifi", "openssh-server", "chromium"],
    }
    assert buildspec_for(shuffled, pc).spec_hash() == buildspec_for(BLUEPRINT, pc).spec_hash()


def test_system_ini_is_not_part_of_the_cache_key(pc: HardwareProfile) -> None:
    other = {**BLUEPRINT, "system_ini": {"hostname": "elsewhere"}}
    assert buildspec_for(other, pc).spec_hash() == buildspec_for(BLUEPRINT, pc).spec_hash()


def test_a_package_change_changes_the_cache_key(pc: HardwareProfile) -> None:
    other = {**BLUEPRINT, "packages": [*BLUEPRINT["packages"], "curl"]}
    assert buildspec_for(other, pc).spec_hash() != buildspec_for(BLUEPRINT, pc).spec_hash()


def test_removing_the_kernel_is_refused(pc: HardwareProfile) -> None:
    with pytest.raises(SpecError, match="kernel"):
        buildspec_for({"name": "x", "packages": ["-linux-image-amd64"]}, pc)


def test_genpack_password_field_becomes_a_hash_field(pc: HardwareProfile) -> None:
    spec = buildspec_for({"name": "x", "users": [{"name": "op", "password": "$6$salt$hash"}]}, pc)
    assert spec.users[0]["password_hash"] == "$6$salt$hash"
    with pytest.raises(SpecError, match="crypt"):
        buildspec_for({"name": "x", "users": [{"name": "op", "password": "plaintext"}]}, pc)


WIFI_FIRMWARE = {"firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"}


def test_a_board_with_wifi_gets_its_radios_firmware(pc: HardwareProfile) -> None:
    spec = buildspec_for({"name": "x"}, pc)
    assert set(spec.firmware_packages) >= WIFI_FIRMWARE
    assert {"firmware-realtek", "intel-microcode"} <= set(spec.firmware_packages)


def test_the_pi_gets_its_radios_firmware(rpi: HardwareProfile) -> None:
    spec = buildspec_for({"name": "x"}, rpi)
    assert spec.firmware_packages == ("firmware-brcm80211", "raspi-firmware")


def test_a_board_without_wifi_carries_none_of_its_wifi_firmware(pc: HardwareProfile) -> None:
    pc.capabilities = [cap for cap in pc.capabilities if cap != "wifi"]
    spec = buildspec_for({"name": "x"}, pc)
    assert not WIFI_FIRMWARE & set(spec.firmware_packages)
    assert "firmware-realtek" in spec.firmware_packages
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    kvm.wifi_packages = ["firmware-iwlwifi"]  # listed by mistake: still no radio, so none
    assert buildspec_for({"name": "x"}, kvm).firmware_packages == ()


def test_a_blueprint_can_leave_out_a_radios_firmware(pc: HardwareProfile) -> None:
    spec = buildspec_for({"name": "x", "packages": ["-firmware-atheros"]}, pc)
    assert "firmware-atheros" not in spec.firmware_packages
    assert "firmware-iwlwifi" in spec.firmware_packages


def test_wifi_firmware_also_listed_as_firmware_is_installed_once(pc: HardwareProfile) -> None:
    pc.firmware_packages = [*pc.firmware_packages, "firmware-misc-nonfree"]
    spec = buildspec_for({"name": "x"}, pc)
    assert spec.firmware_packages.count("firmware-misc-nonfree") == 1
    pc.capabilities = ["ethernet"]  # firmware_packages are the board's own: kept without Wi-Fi
    assert "firmware-misc-nonfree" in buildspec_for({"name": "x"}, pc).firmware_packages
