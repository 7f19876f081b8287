"""Wi-Fi from system.ini, end to end: a real join over simulated radios in a booted PC image.

The PC image carries a dormant test access point (boards.with_test_access_point): with a
hostapd.conf on the boot partition it loads mac80211_hwsim with two radios, moves the second
into its own network namespace and runs hostapd (WPA2) and a DHCP server there. system.ini,
written with mtools as a technician's card would be, names that network; the appliance joins
from the first radio, and the status file on the FAT partition must say how it went.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.system_ini import SECRET_MASK, render_system_ini, validate_values
from image_builder import BuildResult
from image_builder.image_tools import read_boot_file, read_status, write_boot_file, write_system_ini

from .test_boot import boot_and_login, shell

pytestmark = pytest.mark.slow

# A space, quotes and non-ASCII letters: what breaks naive configuration writers.
AP_SSID = 'Caf\u00e9 "\u00dcn\u00ef" net'
AP_KEY = 'p@ss "word" #1;'
AP_SUBNET = "192.168.77."
WIFI = frozenset({"ethernet", "wifi"})


def hostapd_conf(passphrase: str, ssid: str = AP_SSID) -> bytes:
    """The access point derives its key from the passphrase itself: an independent check of
    the key the appliance's configuration carries."""
    lines = [
        "interface=wlan1",
        "driver=nl80211",
        "hw_mode=g",
        "channel=6",
        f"ssid2={ssid.encode().hex()}",
        "utf8_ssid=1",
        "wpa=2",
        "wpa_key_mgmt=WPA-PSK",
        "rsn_pairwise=CCMP",
        f"wpa_passphrase={passphrase}",
    ]
    return ("\n".join(lines) + "\n").encode()


def technician_system_ini(key: str, **extra: str) -> str:
    values = {"hostname": "wifi-unit", "wifi_ssid": AP_SSID, "wifi_key": key, **extra}
    result = validate_values(values, capabilities=WIFI)
    assert result.rejected == {}
    return render_system_ini(result.values, capabilities=WIFI)


def wired_line(status: dict) -> str:
    (line,) = [text for text in status["interfaces"].values() if text.startswith("wired")]
    return line


def test_appliance_joins_the_wifi_network_named_in_system_ini(
    disk_copy: Path, tmp_path: Path, minimal_build: BuildResult
) -> None:
    write_boot_file(disk_copy, "test-ap.conf", hostapd_conf(AP_KEY))
    # Ethernet keeps a static address beside Wi-Fi. (QEMU's restricted user network offers
    # no gateway by DHCP; the wrong-key test below covers DHCP on Ethernet.)
    wired = {"ip_address": "10.0.2.15/24", "ip_gateway": "10.0.2.2", "dns": "10.0.2.3"}
    write_system_ini(disk_copy, technician_system_ini(AP_KEY, wifi_country="DE", **wired))
    vm = boot_and_login(disk_copy, tmp_path / "console.log")
    try:
        assert "test-ap: access point up" in vm.text
        # The access point's radio is in its own namespace: the join crossed the air.
        assert "wlan1" not in shell(vm, "ip -br link")
        assert AP_SUBNET in shell(vm, "ip -br addr show wlan0")
        # Both links have a default route; Ethernet's wins.
        routes = shell(vm, "ip route show default").splitlines()
        assert len(routes) == 2, routes
        assert "via 10.0.2.2" in routes[0] and "wlan0" not in routes[0], routes
        assert "via 192.168.77.1 dev wlan0" in routes[1], routes
        # The key in system.ini is readable by root only.
        denied, _ = vm.run("setpriv --reuid=65534 --regid=65534 --clear-groups "
                           "cat /run/initramfs/boot/system.ini")  # fmt: skip
        assert denied != 0
        vm.poweroff()
    finally:
        vm.close()

    status = read_status(disk_copy)
    assert status is not None
    line = status["interfaces"]["wlan0"]
    assert line.startswith(f'Wi-Fi, joined "{AP_SSID}", {AP_SUBNET}'), line
    assert "10.0.2.15/24" in wired_line(status)
    assert status["network"] == "static 10.0.2.15/24"
    assert status["applied"]["wifi_ssid"] == AP_SSID
    assert status["applied"]["wifi_key"] == SECRET_MASK
    assert status["rejected"] == {}
    assert "Wi-Fi regulatory domain: DE" in status["notes"]
    raw = read_boot_file(disk_copy, "system-status.txt") or b""
    assert AP_KEY.encode() not in raw


def test_wrong_wifi_key_is_named_in_the_status_file_and_ethernet_keeps_working(
    disk_copy: Path, tmp_path: Path, minimal_build: BuildResult
) -> None:
    write_boot_file(disk_copy, "test-ap.conf", hostapd_conf("the real password"))
    write_system_ini(disk_copy, technician_system_ini(AP_KEY))
    vm = boot_and_login(disk_copy, tmp_path / "console.log")
    try:
        assert "test-ap: access point up" in vm.text
        assert "10.0.2.15/24" in shell(vm, "ip -br addr")
        vm.poweroff()
    finally:
        vm.close()

    status = read_status(disk_copy)
    assert status is not None
    line = status["interfaces"]["wlan0"]
    assert line.startswith(f'Wi-Fi, not joined "{AP_SSID}": wrong key'), line
    assert "10.0.2.15/24" in wired_line(status)
    assert any("regulatory domain not set" in note for note in status["notes"])


def test_a_network_out_of_range_is_named_as_not_found(
    disk_copy: Path, tmp_path: Path, minimal_build: BuildResult
) -> None:
    write_boot_file(disk_copy, "test-ap.conf", hostapd_conf(AP_KEY, ssid="somebody else"))
    write_system_ini(disk_copy, technician_system_ini(AP_KEY, wifi_hidden="yes"))
    vm = boot_and_login(disk_copy, tmp_path / "console.log")
    try:
        vm.poweroff()
    finally:
        vm.close()
    status = read_status(disk_copy)
    assert status is not None
    line = status["interfaces"]["wlan0"]
    assert line.startswith(f'Wi-Fi, not joined "{AP_SSID}": network not found'), line


WIFI_CLIENT = {"wpasupplicant", "wireless-regdb"}


def test_wifi_boards_list_client_regulatory_database_and_firmware_others_none(
    minimal_build: BuildResult, kvm_build: BuildResult, rpi_build: BuildResult
) -> None:
    def installed(result: BuildResult) -> set[str]:
        return set(json.loads(result.artifact("manifest").path.read_text())["packages"])

    pc, kvm, pi = installed(minimal_build), installed(kvm_build), installed(rpi_build)
    # PC: Intel, Realtek, Atheros/Qualcomm; MediaTek's is in firmware-misc-nonfree on bookworm.
    pc_firmware = {"firmware-iwlwifi", "firmware-realtek", "firmware-atheros"}
    assert WIFI_CLIENT | pc_firmware | {"firmware-misc-nonfree"} <= pc
    assert WIFI_CLIENT | {"firmware-brcm80211"} <= pi
    # The KVM guest has no radio: no client, no regulatory database, no firmware at all.
    assert not kvm & WIFI_CLIENT
    assert not {name for name in kvm if name.startswith("firmware-")}
