"""The on-device agent's file writing, run against temporary paths instead of the device's."""

from __future__ import annotations

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


def fake_sys_net(root: Path, devices: dict[str, bool]) -> Path:
    """/sys/class/net with `lo` and the given interfaces (True: backed by hardware)."""
    net = root / "sys/class/net"
    (net / "lo").mkdir(parents=True)
    for name, hardware in devices.items():
        (net / name).mkdir()
        if hardware:
            (net / name / "device").mkdir()
    return net


@pytest.mark.parametrize(
    ("devices", "note"),
    [
        ({}, "no network interface found"),
        ({"docker0": False}, "no network interface found"),
        ({"eth0": True}, "no network address after 2 s"),
    ],
)
def test_status_is_written_without_waiting_when_there_is_no_network_interface(
    device: Path, monkeypatch: pytest.MonkeyPatch, devices: dict[str, bool], note: str
) -> None:
    monkeypatch.setattr(agent, "SYS_NET", fake_sys_net(device, devices))
    monkeypatch.setattr(agent, "STATUS_PATH", device / "boot/system-status.txt")
    monkeypatch.setattr(agent, "IMAGE_JSON", device / "image.json")
    monkeypatch.setattr(agent, "current_addresses", lambda: {})
    monkeypatch.setattr(agent.os, "sync", lambda: None)
    started = agent.time.monotonic()
    assert agent.command_status(wait_seconds=2) == 0
    waited = agent.time.monotonic() - started
    assert (waited >= 2) == bool(devices.get("eth0"))
    assert note in (device / "boot/system-status.txt").read_text(encoding="utf-8-sig")
