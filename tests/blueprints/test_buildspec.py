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
