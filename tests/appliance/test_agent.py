"""The on-device agent's file writing, run against temporary paths instead of the device's."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from appliance import agent


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(agent, "INI_PATH", tmp_path / "boot/system.ini")
    monkeypatch.setattr(agent, "STATE", tmp_path / "run/genpack")
    monkeypatch.setattr(agent, "NETWORK_DIR", tmp_path / "run/systemd/network")
    monkeypatch.setattr(agent, "ENV_DIR", tmp_path / "run/genpack/env")
    monkeypatch.setattr(agent, "WPA_CONF", tmp_path / "run/genpack/wpa_supplicant.conf")
    monkeypatch.setattr(agent, "WIFI_STATE", tmp_path / "run/genpack/wifi.json")
    (tmp_path / "boot").mkdir()
    (tmp_path / "run/genpack").mkdir(parents=True)
    return tmp_path


def test_static_address_goes_to_one_interface_and_dhcp_to_the_rest(device: Path) -> None:
    notes = agent.apply_network(
        {"ip_address": "192.0.2.10/24", "ip_gateway": "192.0.2.1", "dns": ["192.0.2.53"],
         "interface": "enp1s0"}
    )  # fmt: skip
    static = (device / "run/systemd/network/10-genpack-static.network").read_text()
    assert "Name=enp1s0" in static
    assert "Address=192.0.2.10/24" in static
    assert "Gateway=192.0.2.1" in static
    assert "DNS=192.0.2.53" in static
    assert "DHCP=yes" in (device / "run/systemd/network/20-genpack-dhcp.network").read_text()
    assert notes == ["static address 192.0.2.10/24 on enp1s0"]


def test_without_an_address_every_wired_interface_uses_dhcp(device: Path) -> None:
    agent.apply_network({})
    assert not (device / "run/systemd/network/10-genpack-static.network").exists()
    assert (device / "run/systemd/network/20-genpack-dhcp.network").exists()


def test_factory_reset_key_is_set_back_to_no_keeping_notepad_encoding(device: Path) -> None:
    ini = device / "boot/system.ini"
    ini.write_bytes("\ufeffhostname = a\r\nfactory_reset = yes\r\n".encode("utf-16-le"))
    (device / "run/genpack/factory-reset-done").touch()
    notes: list[str] = []
    agent.finish_factory_reset(notes)
    raw = ini.read_bytes()
    assert raw.startswith(b"\xff\xfe")
    text = raw.decode("utf-16")
    assert re.search(r"factory_reset\s*=\s*no\r\n", text)
    assert "hostname = a\r\n" in text
    assert notes and "factory reset done" in notes[0]


def test_app_sections_become_environment_files(device: Path) -> None:
    agent.apply_app_sections({"kiosk": {"url": 'http://x/"q"', "fullscreen": True}})
    env = (device / "run/genpack/env/kiosk.env").read_text()
    assert 'URL="http://x/\\"q\\""' in env
    assert 'FULLSCREEN="yes"' in env


def fake_sys_net(root: Path, devices: dict[str, str]) -> Path:
    """/sys/class/net with `lo` and the given interfaces: "wired" (with link), "unplugged",
    "wifi" or "virtual" (no hardware behind it)."""
    net = root / "sys/class/net"
    (net / "lo").mkdir(parents=True)
    for name, kind in devices.items():
        (net / name).mkdir()
        if kind == "virtual":
            continue
        (net / name / "device").mkdir()
        (net / name / "type").write_text("1\n")
        (net / name / "carrier").write_text("0\n" if kind == "unplugged" else "1\n")
        if kind == "wifi":
            (net / name / "phy80211").mkdir()
    return net


UNITS = (
    "dev-vda.device loaded active plugged /dev/vda\n"
    "genpack-agent.service loaded active exited Apply system.ini\n"
    "getty@tty1.service loaded inactive dead Getty on tty1\n"
)
SHOW = (
    "Id=dev-vda.device\nInactiveExitTimestampMonotonic=1000000\n"
    "ActiveEnterTimestampMonotonic=63500000\n\n"
    "Id=genpack-agent.service\nInactiveExitTimestampMonotonic=9000000\n"
    "ActiveEnterTimestampMonotonic=14120000\n\n"
    "Id=getty@tty1.service\nInactiveExitTimestampMonotonic=0\nActiveEnterTimestampMonotonic=0\n"
)


@pytest.fixture
def status_device(device: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(agent, "STATUS_PATH", device / "boot/system-status.txt")
    monkeypatch.setattr(agent, "IMAGE_JSON", device / "image.json")
    monkeypatch.setattr(agent.os, "sync", lambda: None)
    # The device's kernel command line, consoles and power switch, never the test host's.
    (device / "cmdline").write_text("BOOT_IMAGE=(loop)/boot/kernel root=systemimg:auto quiet\n")
    monkeypatch.setattr(agent, "KERNEL_COMMAND_LINE", device / "cmdline")
    monkeypatch.setattr(agent, "CONSOLES", device / "console-active")
    monkeypatch.setattr(agent, "CONSOLE_DEVICE", device / "console")
    monkeypatch.setattr(agent, "POWEROFF_COMMAND", ("touch", str(device / "powered-off")))
    monkeypatch.setattr(agent, "BOOT_ANALYSIS_PATH", device / "boot/boot-analysis.txt")
    # systemd's answers, as a booted device gives them.
    monkeypatch.setattr(agent, "UNITS_COMMAND", ("printf", UNITS))
    monkeypatch.setattr(agent, "SHOW_COMMAND", ("printf", SHOW, "--"))
    return device


@pytest.mark.parametrize(
    ("devices", "note", "waits"),
    [
        ({}, "no network interface found", False),
        ({"docker0": "virtual"}, "no network interface found", False),
        ({"eth0": "unplugged"}, "eth0 = wired, no link (no cable?)", False),
        ({"eth0": "wired"}, "network not settled after 2 s", True),
    ],
)
def test_status_waits_only_for_interfaces_that_can_still_get_an_address(
    status_device: Path,
    monkeypatch: pytest.MonkeyPatch,
    devices: dict[str, str],
    note: str,
    waits: bool,
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, devices))
    monkeypatch.setattr(agent, "current_addresses", lambda: {})
    started = agent.time.monotonic()
    assert agent.command_status(settle_seconds=2) == 0
    waited = agent.time.monotonic() - started
    assert (waited >= 2) == waits
    assert note in (status_device / "boot/system-status.txt").read_text(encoding="utf-8-sig")


def test_status_is_written_at_once_and_again_when_the_address_arrives(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {"eth0": "wired"}))
    calls: list[int] = []
    written: list[str] = []
    real_replace = agent.os.replace

    def addresses() -> dict[str, list[str]]:
        calls.append(1)
        return {"eth0": ["10.0.2.15/24"]} if len(calls) > 3 else {}

    def replace(src: Path, dst: Path) -> None:
        written.append(Path(src).read_bytes().decode("utf-8-sig"))
        real_replace(src, dst)

    monkeypatch.setattr(agent, "current_addresses", addresses)
    monkeypatch.setattr(agent.os, "replace", replace)
    assert agent.command_status(settle_seconds=30) == 0
    assert len(written) == 2
    assert "network still starting" in written[0]
    assert "eth0 = wired, link up, no address yet" in written[0]
    assert "eth0 = wired, link up, 10.0.2.15/24" in written[1]
    assert "still starting" not in written[1] and "not settled" not in written[1]


SSID = 'Caf\u00e9 "net"'
WIFI_VALUES = {"wifi_ssid": SSID, "wifi_key": "secret password"}


@pytest.mark.parametrize(
    ("wifi", "line", "settled"),
    [
        ({"state": "joined"}, f'Wi-Fi, joined "{SSID}", 192.168.77.20/24', True),
        ({"state": "failed", "reason": "bad key"}, f'Wi-Fi, not joined "{SSID}": bad key', True),
        ({"state": "trying", "reason": "joining"}, "Wi-Fi, joining", False),
        (None, "Wi-Fi, joining", False),
    ],
)  # fmt: skip
def test_wifi_interface_reports_the_join_and_waits_while_it_is_going_on(
    status_device: Path,
    monkeypatch: pytest.MonkeyPatch,
    wifi: dict | None,
    line: str,
    settled: bool,
) -> None:
    monkeypatch.setattr(
        agent, "SYS_NET", fake_sys_net(status_device, {"eth0": "wired", "wlan0": "wifi"})
    )
    if wifi is not None:
        agent.record_wifi(interface="wlan0", **wifi)
    addresses = {"eth0": ["10.0.2.15/24"], "wlan0": ["192.168.77.20/24"]}
    report, is_settled = agent.interface_report(WIFI_VALUES, addresses)
    assert report["wlan0"].startswith(line)
    assert report["eth0"] == "wired, link up, 10.0.2.15/24"
    assert is_settled is settled


def test_wifi_hardware_is_reported_as_unused_without_a_network_name(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {"wlan0": "wifi"}))
    report, settled = agent.interface_report({}, {})
    assert report == {"wlan0": "Wi-Fi, not used (no wifi_ssid in system.ini)"}
    assert settled


def test_wifi_without_hardware_is_reported_once_the_client_gave_up(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {"eth0": "wired"}))
    monkeypatch.setattr(agent, "settle_udev", lambda: None)
    agent.write(agent.STATE / "applied.json", '{"values": {"wifi_ssid": "x"}}')
    monkeypatch.setattr(agent, "INTERFACE_WAIT_SECONDS", 0)
    assert agent.command_wifi() == 0
    report, settled = agent.interface_report({"wifi_ssid": "x"}, {"eth0": ["10.0.2.15/24"]})
    assert report["wifi"].startswith("not joined: no Wi-Fi hardware")
    assert settled


def test_wifi_network_gets_dhcp_beside_ethernet_which_keeps_the_default_route(
    device: Path,
) -> None:
    agent.apply_network(WIFI_VALUES)
    wired = (device / "run/systemd/network/20-genpack-dhcp.network").read_text()
    wifi = (device / "run/systemd/network/30-genpack-wifi.network").read_text()
    assert "Name=en* eth*" in wired and "DHCP=yes" in wired
    assert "Type=wlan" in wifi and "DHCP=yes" in wifi
    metric = re.compile(r"RouteMetric=(\d+)")
    assert int(metric.search(wired).group(1)) < int(metric.search(wifi).group(1))


def test_without_wifi_settings_no_wifi_interface_is_configured(device: Path) -> None:
    agent.apply_network({})
    assert agent.apply_wifi({}) == []
    assert not (device / "run/systemd/network/30-genpack-wifi.network").exists()
    assert not (device / "run/genpack/wpa_supplicant.conf").exists()


def test_static_address_on_wifi_keeps_its_gateway_behind_ethernet(device: Path) -> None:
    agent.apply_network(
        {**WIFI_VALUES, "wifi_interface": "wlan1", "interface": "wlan1",
         "ip_address": "192.168.77.9/24", "ip_gateway": "192.168.77.1"}
    )  # fmt: skip
    static = (device / "run/systemd/network/10-genpack-static.network").read_text()
    assert "Name=wlan1" in static and "Gateway=192.168.77.1" in static and "Metric=600" in static
    assert "Name=wlan1" in (device / "run/systemd/network/30-genpack-wifi.network").read_text()


def test_wifi_only_device_puts_the_static_address_on_its_wifi(
    device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(device, {"wlan0": "wifi"}))
    monkeypatch.setattr(agent, "settle_udev", lambda: None)
    agent.apply_network({**WIFI_VALUES, "ip_address": "192.168.77.9/24"})
    static = (device / "run/systemd/network/10-genpack-static.network").read_text()
    assert "Name=wl*" in static


def test_wifi_configuration_is_root_only_and_names_the_regulatory_domain(device: Path) -> None:
    notes = agent.apply_wifi({**WIFI_VALUES, "wifi_country": "JP"})
    conf = device / "run/genpack/wpa_supplicant.conf"
    assert conf.stat().st_mode & 0o777 == 0o600
    assert "country=JP" in conf.read_text()
    assert "secret password" not in conf.read_text()
    assert notes == ["Wi-Fi regulatory domain: JP"]
    (notes,) = agent.apply_wifi(WIFI_VALUES)
    assert "regulatory domain not set" in notes and "world domain" in notes


def boot_test_device(device: Path, consoles: str = "tty0") -> None:
    (device / "cmdline").write_text(
        "BOOT_IMAGE=(loop)/boot/kernel root=systemimg:auto genpack.boottest=1\n"
    )
    (device / "console-active").write_text(consoles + "\n")


def test_without_the_boot_test_argument_status_neither_announces_nor_powers_off(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {}))
    assert agent.command_status(settle_seconds=2) == 0
    assert (status_device / "boot/system-status.txt").exists()
    assert not (status_device / "console").exists()
    assert not (status_device / "powered-off").exists()
    assert not (status_device / "boot/boot-analysis.txt").exists()


def test_boot_test_mode_waits_for_the_network_briefly_then_announces_and_powers_off(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boot_test_device(status_device)
    monkeypatch.setattr(agent, "BOOT_TEST_SETTLE_SECONDS", 1)
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {"eth0": "wired"}))
    monkeypatch.setattr(agent, "current_addresses", lambda: {})  # never gets an address
    started = agent.time.monotonic()
    assert agent.command_status() == 0  # the unit's default would wait 90 s
    assert agent.time.monotonic() - started < 10
    status = (status_device / "boot/system-status.txt").read_text(encoding="utf-8-sig")
    assert "network not settled after 1 s" in status
    assert (status_device / "console").read_text() == f"\n{agent.BOOT_TEST_MARKER}\n"
    assert (status_device / "powered-off").exists()
    # systemd's account of the boot, beside the status file, for the host to read back.
    analysis = (status_device / "boot/boot-analysis.txt").read_text()
    assert analysis.splitlines() == [
        "   62.500s dev-vda.device",
        "    5.120s genpack-agent.service",
    ]
    # ...which the host's reader takes as systemd-analyze blame rows.
    from image_builder.boottest import slowest_units

    assert slowest_units(analysis) == (("dev-vda.device", 62.5), ("genpack-agent.service", 5.12))


def test_boot_test_mode_notes_it_when_systemd_analyze_cannot_run(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boot_test_device(status_device)
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {}))
    monkeypatch.setattr(agent, "UNITS_COMMAND", ("/nonexistent/systemctl", "list-units"))
    assert agent.command_status(settle_seconds=1) == 0
    analysis = (status_device / "boot/boot-analysis.txt").read_text()
    assert analysis.startswith("systemd-analyze could not run: ")
    assert (status_device / "powered-off").exists()


def test_boot_test_mode_says_so_on_the_console_when_the_status_cannot_be_written(
    status_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boot_test_device(status_device)
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(status_device, {}))
    monkeypatch.setattr(agent, "STATUS_PATH", status_device / "no-such-dir/system-status.txt")
    assert agent.main(["agent.py", "status"]) == 1
    console = (status_device / "console").read_text()
    assert console.startswith("\ngenpack-boottest: status not written (FileNotFoundError: ")
    assert (status_device / "powered-off").exists()


def test_the_gettys_waited_for_are_the_serial_consoles_of_the_kernel(
    status_device: Path,
) -> None:
    boot_test_device(status_device, consoles="tty0 ttyS1")
    assert agent.console_gettys() == ["serial-getty@ttyS1.service"]
    boot_test_device(status_device, consoles="tty0")
    assert agent.console_gettys() == []
    assert agent.waiting_for_a_login(os.getpid()) is False  # pytest is no agetty
