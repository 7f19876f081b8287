#!/usr/bin/python3
"""On-device system.ini agent, installed as /usr/lib/genpack/agent.py beside system_ini/.

`agent.py apply`  (genpack-agent.service, early, before networkd/timesyncd/getty start):
    reads system.ini from the boot partition, validates it with the shared module and writes
    the runtime configuration into /run (networkd, timesyncd, getty drop-ins, app env files)
    and /etc (hostname, timezone, locale, authorized_keys) of the overlay root.
`agent.py status` (genpack-status.service, after the network came up):
    writes system-status.txt next to system.ini, so a technician who pulls the card sees what
    happened without a screen.

Runs on the image's Python (3.11 on bookworm), standard library only. Every failure is
caught and reported: the device must boot whatever the technician typed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import system_ini

BOOT = Path("/run/initramfs/boot")
INI_PATH = BOOT / "system.ini"
STATUS_PATH = BOOT / system_ini.STATUS_FILE_NAME
IMAGE_JSON = Path("/usr/lib/genpack/image.json")
STATE = Path("/run/genpack")
NETWORK_DIR = Path("/run/systemd/network")
SYS_NET = Path("/sys/class/net")
ENV_DIR = STATE / "env"
LOWER = Path("/run/initramfs/ro")


def load_image_info() -> dict:
    try:
        return json.loads(IMAGE_JSON.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def app_settings(info: dict) -> list[system_ini.AppSetting] | None:
    declared = info.get("settings") or []
    settings = []
    for item in declared:
        try:
            settings.append(system_ini.AppSetting(**item))
        except (TypeError, ValueError) as error:
            print(f"genpack-agent: ignoring setting declaration {item!r}: {error}")
    return settings or None


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".genpack-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def wired_interfaces() -> list[str]:
    """Physical Ethernet interfaces, sorted: these get DHCP or the static address."""
    names = []
    for entry in sorted(SYS_NET.iterdir()):
        if entry.name == "lo" or (entry / "wireless").exists():
            continue
        if not (entry / "device").exists():  # virtual (bridge, veth...)
            continue
        try:
            if (entry / "type").read_text().strip() != "1":  # ARPHRD_ETHER
                continue
        except OSError:
            continue
        names.append(entry.name)
    return names


def apply_hostname(name: str) -> None:
    write(Path("/etc/hostname"), name + "\n")
    hosts = Path("/etc/hosts")
    lines = [
        line
        for line in (hosts.read_text().splitlines() if hosts.exists() else [])
        if not line.startswith("127.0.1.1")
    ]
    lines.insert(1 if lines else 0, f"127.0.1.1\t{name}")
    write(hosts, "\n".join(lines) + "\n")
    socket.sethostname(name)


def apply_timezone(zone: str) -> None:
    localtime = Path("/etc/localtime")
    target = f"/usr/share/zoneinfo/{zone}"
    if localtime.is_symlink() or localtime.exists():
        localtime.unlink()
    localtime.symlink_to(target)
    write(Path("/etc/timezone"), zone + "\n")


def apply_locale(locale: str) -> None:
    write(Path("/etc/locale.conf"), f"LANG={locale}\n")
    write(Path("/etc/default/locale"), f"LANG={locale}\n")


def apply_ssh_keys(keys: list[str], info: dict) -> None:
    """Baked-in keys (from the image) plus the keys from system.ini, rewritten every boot."""
    user = info.get("ssh_user") or "root"
    home = Path(info.get("ssh_home") or "/root")
    relative = home.relative_to("/") / ".ssh" / "authorized_keys"
    baked = (LOWER / relative).read_text().splitlines() if (LOWER / relative).exists() else []
    target = home / ".ssh" / "authorized_keys"
    lines = list(dict.fromkeys([*baked, *keys]))
    write(target, "\n".join(lines) + "\n", 0o600)
    os.chmod(target.parent, 0o700)
    subprocess.run(["chown", "-R", f"{user}:", str(target.parent)], check=False)


def apply_network(values: dict) -> list[str]:
    """systemd-networkd files in /run: static address on one wired NIC, DHCP on the rest."""
    notes = []
    NETWORK_DIR.mkdir(parents=True, exist_ok=True)
    dns = [f"DNS={server}" for server in values.get("dns") or []]
    address = values.get("ip_address")
    if address:
        interface = values.get("interface")
        if not interface:
            # udev renames NICs (eth0 -> enp0s3) early; wait for it before picking "the first".
            if shutil.which("udevadm"):
                subprocess.run(["udevadm", "settle", "--timeout=10"], check=False)
            wired = wired_interfaces()
            interface = wired[0] if wired else "en* eth*"
        lines = ["[Match]", f"Name={interface}", "", "[Network]", f"Address={address}", *dns]
        if values.get("ip_gateway"):
            lines.append(f"Gateway={values['ip_gateway']}")
        write(NETWORK_DIR / "10-genpack-static.network", "\n".join(lines) + "\n")
        notes.append(f"static address {address} on {interface}")
    dhcp = ["[Match]", "Name=en* eth*", "", "[Network]", "DHCP=yes", *dns]
    write(NETWORK_DIR / "20-genpack-dhcp.network", "\n".join(dhcp) + "\n")
    return notes


def apply_ntp(servers: list[str]) -> None:
    conf = Path("/run/systemd/timesyncd.conf.d/genpack.conf")
    write(conf, "[Time]\nNTP=" + " ".join(servers) + "\n")


def apply_autologin(enabled: bool) -> bool:
    """Getty drop-ins; returns True when systemd must re-read its units."""
    if not enabled:
        return False
    for unit, extra in (("getty@.service", "--noclear"), ("serial-getty@.service", "--keep-baud")):
        baud = " 115200,57600,38400,9600" if extra == "--keep-baud" else ""
        write(
            Path(f"/run/systemd/system/{unit}.d/genpack-autologin.conf"),
            "[Service]\nExecStart=\n"
            f"ExecStart=-/sbin/agetty --autologin root {extra}{baud} %I $TERM\n",
        )
    return True


def apply_app_sections(sections: dict[str, dict[str, object]]) -> None:
    ENV_DIR.mkdir(parents=True, exist_ok=True)
    for section, values in sections.items():
        lines = []
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "yes" if value else "no"
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key.upper().replace("-", "_").replace(".", "_")}="{text}"')
        write(ENV_DIR / f"{section}.env", "\n".join(lines) + "\n", 0o600)


def finish_factory_reset(notes: list[str]) -> None:
    """The initramfs wiped the writable layer; set the key back so it does not wipe again."""
    marker = STATE / "factory-reset-done"
    if not marker.exists():
        return
    raw = INI_PATH.read_bytes()
    INI_PATH.write_bytes(system_ini.rewrite_setting(raw, "factory_reset", "no"))
    os.sync()
    notes.append("factory reset done: the writable layer was wiped; factory_reset set back to no")


def command_apply() -> int:
    info = load_image_info()
    STATE.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    raw = b""
    try:
        raw = INI_PATH.read_bytes()
    except FileNotFoundError:
        notes.append("no system.ini on the boot partition: image defaults used")
    except OSError as error:
        notes.append(f"system.ini unreadable ({error.strerror}): image defaults used")
    parsed = system_ini.parse_ini(raw)
    result = system_ini.validate_system_ini(
        parsed,
        capabilities=frozenset(info.get("capabilities") or ["ethernet"]),
        app_settings=app_settings(info),
    )
    values = dict(result.values)
    steps = [
        ("hostname", lambda v: apply_hostname(v)),
        ("timezone", lambda v: apply_timezone(v)),
        ("locale", lambda v: apply_locale(v)),
        ("ssh_pubkey", lambda v: apply_ssh_keys(list(v), info)),
        ("ntp", lambda v: apply_ntp(list(v))),
    ]
    failed: dict[str, str] = {}
    for key, apply in steps:
        if values.get(key):
            try:
                apply(values[key])
            except Exception as error:  # one bad key must not stop the others
                failed[key] = f"could not apply: {error}"
    try:
        notes += apply_network(values)
    except Exception as error:
        failed["ip_address"] = f"could not write network configuration: {error}"
    try:
        apply_app_sections(result.app_sections)
    except Exception as error:
        notes.append(f"could not write app settings: {error}")
    if values.get("wifi_ssid"):
        # Not implemented yet: the engine installs no Wi-Fi client (wpa_supplicant/iwd).
        for key in ("wifi_ssid", "wifi_key", "wifi_country"):
            if key in values:
                failed[key] = "this image has no Wi-Fi client yet; use Ethernet"
                values.pop(key)
    reload_needed = apply_autologin(bool(values.get("autologin")))
    if values.get("debug"):
        subprocess.run(["systemd-analyze", "log-level", "debug"], check=False)
        notes.append("debug logging on")
    try:
        finish_factory_reset(notes)
    except Exception as error:
        notes.append(f"could not reset factory_reset in system.ini: {error}")
    reason_file = STATE / "transient-reason"
    if reason_file.exists():
        notes.append(
            f"transient mode ({reason_file.read_text().strip()}): changes are lost at power-off"
        )
    state = {
        "values": values,
        "rejected": {**result.rejected, **failed},
        "unknown": list(result.unknown),
        "app_sections": result.app_sections,
        "network_fallback": result.network_fallback,
        "problems": list(result.problems),
        "notes": notes,
    }
    write(STATE / "applied.json", json.dumps(state, default=str), 0o600)
    if reload_needed:
        subprocess.run(["systemctl", "daemon-reload", "--no-block"], check=False)
    print(f"genpack-agent: applied {sorted(values)}; rejected {sorted(state['rejected'])}")
    return 0


def current_addresses() -> dict[str, list[str]]:
    output = subprocess.run(
        ["ip", "-j", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    addresses: dict[str, list[str]] = {}
    for link in json.loads(output or "[]"):
        if link.get("ifname") == "lo":
            continue
        for item in link.get("addr_info", []):
            if item.get("scope") == "global":
                addresses.setdefault(link["ifname"], []).append(
                    f"{item['local']}/{item['prefixlen']}"
                )
    return addresses


def network_devices() -> list[str]:
    """Interfaces backed by hardware (Ethernet, Wi-Fi, USB adapters), loopback left out."""
    return sorted(entry.name for entry in SYS_NET.iterdir() if (entry / "device").exists())


def command_status(wait_seconds: int = 30) -> int:
    info = load_image_info()
    try:
        state = json.loads((STATE / "applied.json").read_text())
    except (OSError, ValueError):
        state = {
            "notes": ["the settings agent did not run or failed; see journalctl -u genpack-agent"]
        }
    notes = list(state.get("notes", []))
    # A Pi with no cable and no Wi-Fi configured yet has no interface to wait for: the
    # technician needs this file most exactly then.
    devices = network_devices()
    deadline = time.monotonic() + (wait_seconds if devices else 0)
    addresses = current_addresses()
    while not addresses and time.monotonic() < deadline:
        time.sleep(1)
        addresses = current_addresses()
    result = system_ini.SystemIniResult(
        values=state.get("values", {}),
        rejected=state.get("rejected", {}),
        unknown=state.get("unknown", []),
        app_sections=state.get("app_sections", {}),
        network_fallback=state.get("network_fallback", False),
        problems=state.get("problems", []),
    )
    if not devices:
        notes.append("no network interface found (no Ethernet driver loaded, no Wi-Fi)")
    elif not addresses:
        notes.append(f"no network address after {wait_seconds} s")
    image = info.get("artifact", "unknown")
    if info.get("profile"):
        image = f"{image} ({info['profile']})"
    text = system_ini.status_report(
        result,
        image=image,
        build=info.get("build", "unknown"),
        addresses=addresses,
        notes=[*notes, f"hostname: {socket.gethostname()}"],
    )
    tmp = STATUS_PATH.with_name("system-status.tmp")
    tmp.write_bytes(text.encode("utf-8-sig"))
    os.replace(tmp, STATUS_PATH)
    os.sync()
    print(f"genpack-agent: wrote {STATUS_PATH}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "apply"
    try:
        if command == "apply":
            return command_apply()
        if command == "status":
            return command_status()
    except Exception:
        traceback.print_exc()
        return 1
    print(f"usage: {argv[0]} apply|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
