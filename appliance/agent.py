#!/usr/bin/python3
"""On-device system.ini agent, installed as /usr/lib/genpack/agent.py beside system_ini/.

`agent.py apply`  (genpack-agent.service, early, before networkd/timesyncd/getty start):
    reads system.ini from the boot partition, validates it with the shared module and writes
    the runtime configuration into /run (networkd, timesyncd, getty drop-ins, app env files)
    and /etc (hostname, timezone, locale, authorized_keys) of the overlay root.
`agent.py wifi`   (genpack-wifi.service, when system.ini names a Wi-Fi network):
    runs wpa_supplicant on the Wi-Fi interface and records how the join goes (joined, wrong
    key, network not found...) in /run/genpack/wifi.json for the status file.
`agent.py status` (genpack-status.service, after the network came up):
    writes system-status.txt next to system.ini at once, and again once the network settled
    (every interface has an address or a reason why not, or a bounded time passed), so a
    technician who pulls the card sees what happened without a screen.

Boot-test mode (`genpack.boottest=1` on the kernel command line, set by the image service's
boot test on a copy of the image): the status command waits for the network only briefly, then
for the serial console's login prompt, says so on the console (BOOT_TEST_MARKER) and powers
the machine off, so the host reads the status file back without logging in. Without the
argument nothing changes.

Runs on the image's Python (3.11 on bookworm), standard library only. Every failure is
caught and reported: the device must boot whatever the technician typed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import system_ini
from system_ini.wifi import CONTROL_DIR, wifi_event, wpa_supplicant_conf

BOOT = Path("/run/initramfs/boot")
INI_PATH = BOOT / "system.ini"
STATUS_PATH = BOOT / system_ini.STATUS_FILE_NAME
BOOT_ANALYSIS_PATH = BOOT / system_ini.BOOT_ANALYSIS_FILE_NAME
IMAGE_JSON = Path("/usr/lib/genpack/image.json")
STATE = Path("/run/genpack")
NETWORK_DIR = Path("/run/systemd/network")
SYS_NET = Path("/sys/class/net")
UDEVADM = Path("/usr/bin/udevadm")
ENV_DIR = STATE / "env"
LOWER = Path("/run/initramfs/ro")
WPA_CONF = STATE / "wpa_supplicant.conf"
WIFI_STATE = STATE / "wifi.json"
# Route metrics: Ethernet wins the default route when both links are up (NetworkManager's
# numbers); a Wi-Fi-only device still has its route.
WIRED_METRIC, WIFI_METRIC = 100, 600
INTERFACE_WAIT_SECONDS = 30
SETTLE_SECONDS = 90
BOOT_TEST_ARGUMENT = "genpack.boottest=1"
# A Raspberry Pi under QEMU has no network device at all: the boot test waits no longer.
BOOT_TEST_SETTLE_SECONDS = 20
BOOT_TEST_GETTY_SECONDS = 60
# The host's boot test (image_builder/boottest.py) waits for these lines on the serial console.
BOOT_TEST_MARKER = "genpack-boottest: status written"
BOOT_TEST_FAILURE = "genpack-boottest: status not written"
# In the status file when apply did not leave its result (the boot test fails on it).
AGENT_FAILED_NOTE = "the settings agent did not run or failed; see journalctl -u genpack-agent"
KERNEL_COMMAND_LINE = Path("/proc/cmdline")
CONSOLES = Path("/sys/class/tty/console/active")
CONSOLE_DEVICE = Path("/dev/console")
POWEROFF_COMMAND = ("systemctl", "poweroff", "--no-block")
# systemd-analyze blame refuses while the boot is still running (this agent is part of it):
# the same numbers, activating → active per unit, come from the manager's timestamps.
UNITS_COMMAND = ("systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager")
SHOW_COMMAND = (
    "systemctl", "show", "--property=Id,InactiveExitTimestampMonotonic,"
    "ActiveEnterTimestampMonotonic", "--",
)  # fmt: skip


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


def is_wireless(name: str) -> bool:
    return (SYS_NET / name / "phy80211").exists()


def wired_interfaces() -> list[str]:
    """Physical Ethernet interfaces, sorted: these get DHCP or the static address."""
    names = []
    for entry in sorted(SYS_NET.iterdir()):
        if entry.name == "lo" or is_wireless(entry.name):
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


def wireless_interfaces() -> list[str]:
    return sorted(entry.name for entry in SYS_NET.iterdir() if is_wireless(entry.name))


def settle_udev() -> None:
    """udev renames NICs (eth0 -> enp0s3) early; wait for it before picking "the first"."""
    if UDEVADM.exists():
        subprocess.run(["udevadm", "settle", "--timeout=10"], check=False)


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


def route_metric_lines(metric: int) -> list[str]:
    return ["", "[DHCPv4]", f"RouteMetric={metric}", "", "[IPv6AcceptRA]", f"RouteMetric={metric}"]


def static_interface(values: dict) -> str:
    """``interface``, else the first wired NIC; a Wi-Fi-only device puts it on its Wi-Fi."""
    if values.get("interface"):
        return str(values["interface"])
    settle_udev()
    wired = wired_interfaces()
    if wired:
        return wired[0]
    if values.get("wifi_ssid"):
        return str(values.get("wifi_interface") or "wl*")
    return "en* eth*"


def apply_network(values: dict) -> list[str]:
    """systemd-networkd files in /run: the static address on one interface, DHCP on the rest.

    Wired NICs (and the Wi-Fi interface, when system.ini names a network) get DHCP unless
    they carry the static address; a rejected static setting was dropped by validation, so
    the device lands on DHCP wherever it is connected.
    """
    notes = []
    NETWORK_DIR.mkdir(parents=True, exist_ok=True)
    dns = [f"DNS={server}" for server in values.get("dns") or []]
    wifi = bool(values.get("wifi_ssid"))
    address = values.get("ip_address")
    if address:
        interface = static_interface(values)
        wireless = is_wireless(interface) or interface.startswith("wl")
        lines = ["[Match]", f"Name={interface}", "", "[Network]", f"Address={address}", *dns]
        if values.get("ip_gateway"):
            metric = WIFI_METRIC if wireless else WIRED_METRIC
            lines += ["", "[Route]", f"Gateway={values['ip_gateway']}", f"Metric={metric}"]
        write(NETWORK_DIR / "10-genpack-static.network", "\n".join(lines) + "\n")
        notes.append(f"static address {address} on {interface}")
    dhcp = ["[Match]", "Name=en* eth*", "", "[Network]", "DHCP=yes", *dns]
    write(
        NETWORK_DIR / "20-genpack-dhcp.network",
        "\n".join([*dhcp, *route_metric_lines(WIRED_METRIC)]) + "\n",
    )
    if wifi:
        match = f"Name={values['wifi_interface']}" if values.get("wifi_interface") else "Type=wlan"
        lines = ["[Match]", match, "", "[Network]", "DHCP=yes", *dns]
        write(
            NETWORK_DIR / "30-genpack-wifi.network",
            "\n".join([*lines, *route_metric_lines(WIFI_METRIC)]) + "\n",
        )
    return notes


def apply_wifi(values: dict) -> list[str]:
    """The client's configuration (root only: it holds the key); genpack-wifi.service runs it."""
    if not values.get("wifi_ssid"):
        return []
    write(WPA_CONF, wpa_supplicant_conf(values), 0o600)
    if values.get("wifi_country"):
        return [f"Wi-Fi regulatory domain: {values['wifi_country']}"]
    return [
        "Wi-Fi regulatory domain not set (wifi_country is empty): the world domain applies, "
        "so some channels and transmit power are not used"
    ]


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
        notes += apply_wifi(values)
    except Exception as error:
        failed["wifi_ssid"] = f"could not write the Wi-Fi configuration: {error}"
    try:
        apply_app_sections(result.app_sections)
    except Exception as error:
        notes.append(f"could not write app settings: {error}")
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


# --------------------------------------------------------------------------------------------
# Wi-Fi: wpa_supplicant under the agent, its events kept for the status file
# --------------------------------------------------------------------------------------------


def record_wifi(**state: object) -> None:
    write(WIFI_STATE, json.dumps(state), 0o600)


def wait_for_wireless(name: str | None, seconds: float) -> str | None:
    """The named Wi-Fi interface, else the first one, once udev has named it."""
    deadline = time.monotonic() + seconds
    while True:
        settle_udev()
        found = wireless_interfaces()
        if name in found or (not name and found):
            return name or found[0]
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)


def attach(interface: str, client: subprocess.Popen) -> socket.socket | None:
    """Listen to the client's events (ATTACH on its control socket), from its first scan on."""
    server = Path(CONTROL_DIR) / interface
    local = STATE / f"wifi-monitor-{os.getpid()}"
    local.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(local))
    deadline = time.monotonic() + 15
    while client.poll() is None and time.monotonic() < deadline:
        try:
            sock.connect(str(server))
            sock.settimeout(2)
            sock.send(b"ATTACH")
            if sock.recv(4096).startswith(b"OK"):
                sock.settimeout(1)
                return sock
        except OSError:
            pass
        time.sleep(0.1)
    sock.close()
    return None


def command_wifi() -> int:
    """Run wpa_supplicant for the network system.ini names; exit when it exits."""
    state = json.loads((STATE / "applied.json").read_text()).get("values", {})
    wanted = state.get("wifi_interface")
    interface = wait_for_wireless(wanted, INTERFACE_WAIT_SECONDS)
    if interface is None:
        reason = (
            f"no Wi-Fi hardware: there is no interface {wanted}"
            if wanted
            else "no Wi-Fi hardware: no wireless interface found (no driver or firmware?)"
        )
        record_wifi(interface=wanted or "", state="failed", reason=reason)
        print(f"genpack-agent: {reason}")
        return 0
    record_wifi(interface=interface, state="trying", reason="joining")
    client = subprocess.Popen(
        ["wpa_supplicant", "-i", interface, "-c", str(WPA_CONF), "-D", "nl80211,wext"]
    )
    sock = attach(interface, client)
    current = {"state": "trying", "reason": "joining"}
    while client.poll() is None:
        if sock is None:
            time.sleep(1)
            continue
        try:
            line = sock.recv(4096).decode("utf-8", "replace")
        except TimeoutError:
            continue
        except OSError:
            sock = None
            continue
        event = wifi_event(line)
        if event is None:
            continue
        if event.state == "trying" and current["state"] == "failed":
            continue  # a retry after a failure: the failure is still the news
        if event.state != current["state"] or event.reason != current["reason"]:
            current = {"state": event.state, "reason": event.reason}
            record_wifi(interface=interface, **current)
    return client.returncode or 0


# --------------------------------------------------------------------------------------------
# The status file
# --------------------------------------------------------------------------------------------


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
    return sorted(
        entry.name
        for entry in SYS_NET.iterdir()
        if (entry / "device").exists() or is_wireless(entry.name)
    )


def has_carrier(name: str) -> bool:
    try:
        return (SYS_NET / name / "carrier").read_text().strip() == "1"
    except OSError:  # reading carrier of an interface that is down fails
        return False


def wifi_state() -> dict:
    try:
        return json.loads(WIFI_STATE.read_text())
    except (OSError, ValueError):
        return {}


def interface_report(values: dict, addresses: dict[str, list[str]]) -> tuple[dict[str, str], bool]:
    """One plain line per interface, and whether every one of them has its final answer."""
    wifi = wifi_state() if values.get("wifi_ssid") else {}
    report: dict[str, str] = {}
    settled = True
    for name in network_devices():
        addrs = ", ".join(addresses.get(name, []))
        if is_wireless(name):
            if not values.get("wifi_ssid"):
                report[name] = "Wi-Fi, not used (no wifi_ssid in system.ini)"
                continue
            if wifi.get("interface") not in (None, "", name):
                report[name] = "Wi-Fi, not used (another Wi-Fi interface is)"
                continue
            ssid = str(values["wifi_ssid"])
            if wifi.get("state") == "joined":
                report[name] = f'Wi-Fi, joined "{ssid}", ' + (addrs or "no address yet")
                settled = settled and bool(addrs)
            elif wifi.get("state") == "failed":
                report[name] = f'Wi-Fi, not joined "{ssid}": {wifi.get("reason")}'
            else:
                report[name] = f'Wi-Fi, joining "{ssid}"...'
                settled = False
        elif has_carrier(name):
            report[name] = "wired, link up, " + (addrs or "no address yet")
            settled = settled and bool(addrs)
        else:
            report[name] = "wired, no link (no cable?)"
    if values.get("wifi_ssid") and wifi.get("state") == "failed" and not wifi.get("interface"):
        report["wifi"] = f"not joined: {wifi.get('reason')}"
    elif values.get("wifi_ssid") and not wifi:
        settled = False  # the Wi-Fi service has not looked for its interface yet
    return report, settled


def write_status(state: dict, info: dict, notes: list[str]) -> None:
    values = state.get("values", {})
    addresses = current_addresses()
    interfaces, _ = interface_report(values, addresses)
    if not network_devices():
        notes = [*notes, "no network interface found (no Ethernet driver loaded, no Wi-Fi)"]
    result = system_ini.SystemIniResult(
        values=values,
        rejected=state.get("rejected", {}),
        unknown=state.get("unknown", []),
        app_sections=state.get("app_sections", {}),
        network_fallback=state.get("network_fallback", False),
        problems=state.get("problems", []),
    )
    image = info.get("artifact", "unknown")
    if info.get("profile"):
        image = f"{image} ({info['profile']})"
    text = system_ini.status_report(
        result,
        image=image,
        build=info.get("build", "unknown"),
        addresses=addresses,
        interfaces=interfaces,
        notes=[*notes, f"hostname: {socket.gethostname()}"],
    )
    tmp = STATUS_PATH.with_name("system-status.tmp")
    tmp.write_bytes(text.encode("utf-8-sig"))
    os.replace(tmp, STATUS_PATH)
    os.sync()


def network_settled(values: dict) -> bool:
    return interface_report(values, current_addresses())[1]


def command_status(settle_seconds: float = SETTLE_SECONDS) -> int:
    boot_test = boot_test_requested()
    if boot_test:
        settle_seconds = min(settle_seconds, BOOT_TEST_SETTLE_SECONDS)
    info = load_image_info()
    try:
        state = json.loads((STATE / "applied.json").read_text())
    except (OSError, ValueError):
        state = {"notes": [AGENT_FAILED_NOTE]}
    notes = list(state.get("notes", []))
    values = state.get("values", {})
    # At once (a Pi with no cable and no Wi-Fi needs this file most), then once settled.
    deadline = time.monotonic() + settle_seconds
    settled = network_settled(values)
    if not settled:
        write_status(state, info, [*notes, "network still starting: written again once settled"])
    while not settled and time.monotonic() < deadline:
        time.sleep(1)
        settled = network_settled(values)
    if not settled:
        notes.append(f"network not settled after {settle_seconds:g} s")
    write_status(state, info, notes)
    print(f"genpack-agent: wrote {STATUS_PATH} (network {'settled' if settled else 'not settled'})")
    if boot_test:
        finish_boot_test(BOOT_TEST_MARKER)
    return 0


# --------------------------------------------------------------------------------------------
# Boot-test mode
# --------------------------------------------------------------------------------------------


def boot_test_requested() -> bool:
    try:
        return BOOT_TEST_ARGUMENT in KERNEL_COMMAND_LINE.read_text().split()
    except OSError:
        return False


def console_gettys() -> list[str]:
    """The serial gettys systemd's getty generator starts on the kernel's consoles."""
    try:
        names = CONSOLES.read_text().split()
    except OSError:
        return []
    return [f"serial-getty@{name}.service" for name in names if not re.fullmatch(r"tty\d+", name)]


def unit_main_pid(unit: str) -> int:
    result = subprocess.run(
        ["systemctl", "show", "--property=MainPID", "--value", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(result.stdout.strip() or 0)
    except ValueError:
        return 0


def waiting_for_a_login(pid: int) -> bool:
    """agetty has printed its prompt and reads the user name. Under Type=idle systemd's child
    waits as "(agetty)" before it runs agetty; once it runs, agetty blocks in the tty's read."""
    proc = Path(f"/proc/{pid}")
    try:
        if proc.joinpath("comm").read_text().strip() != "agetty":
            return False
        wchan = proc.joinpath("wchan").read_text().strip()
    except OSError:
        return False
    # Without kernel symbols wchan reads "0": then "agetty runs" is the best we can know.
    return wchan in ("0", "") or any(
        word in wchan for word in ("read", "wait_woken", "poll", "select")
    )


LOGIN_PROMPT_GRACE_SECONDS = 3.0


def wait_for_login_prompts(seconds: float) -> None:
    """Until each serial console shows its login prompt (or `seconds` passed): the boot test
    measures the time to that prompt, so the machine must not power off before it."""
    deadline = time.monotonic() + seconds
    unsure = False
    for unit in console_gettys():
        while time.monotonic() < deadline:
            pid = unit_main_pid(unit)
            if pid and waiting_for_a_login(pid):
                unsure = unsure or not blocked_in_read(pid)
                break
            time.sleep(0.2)
    if unsure:
        # Without kernel symbols (the cloud kernel) "agetty runs" may come just before its
        # prompt reaches the console: give it that moment (a CI boot powered off without it).
        time.sleep(LOGIN_PROMPT_GRACE_SECONDS)


def blocked_in_read(pid: int) -> bool:
    """The kernel names where agetty waits (it has symbols): the prompt is out."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip() not in ("0", "")
    except OSError:
        return False


def say_on_console(line: str) -> None:
    print(line, flush=True)
    try:
        with CONSOLE_DEVICE.open("a", encoding="utf-8") as console:
            console.write(f"\n{line}\n")
    except OSError as error:
        print(f"genpack-agent: cannot write to {CONSOLE_DEVICE}: {error}")


def unit_start_times(show_output: str) -> list[tuple[str, float]]:
    """(unit, seconds from activating to active) from `systemctl show` blocks, slowest
    first: what systemd-analyze blame prints once the boot has finished."""
    rows = []
    for block in show_output.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        try:
            started = int(fields.get("InactiveExitTimestampMonotonic", "0"))
            active = int(fields.get("ActiveEnterTimestampMonotonic", "0"))
        except ValueError:
            continue
        if started and active >= started and fields.get("Id"):
            rows.append((fields["Id"], (active - started) / 1e6))
    return sorted(rows, key=lambda row: -row[1])


def boot_analysis() -> str:
    """Lines as systemd-analyze blame writes them ("  5.120s genpack-agent.service")."""
    listed = subprocess.run(UNITS_COMMAND, capture_output=True, text=True, timeout=60)
    units = [line.split()[0] for line in listed.stdout.splitlines() if line.split()]
    if not units:
        return f"systemctl list-units: {listed.stderr.strip() or 'no units'}\n"
    shown = subprocess.run([*SHOW_COMMAND, *units], capture_output=True, text=True, timeout=60)
    rows = unit_start_times(shown.stdout)
    return "".join(f"{seconds:9.3f}s {unit}\n" for unit, seconds in rows)


def record_boot_analysis() -> None:
    """systemd's own account of the boot (how long each unit took to start) beside the
    status file, where the host's boot test reads it back after the power-off."""
    try:
        text = boot_analysis()
    except (OSError, subprocess.SubprocessError) as error:
        text = f"systemd-analyze could not run: {error}\n"
    try:
        write(BOOT_ANALYSIS_PATH, text)
    except OSError as error:
        print(f"genpack-agent: cannot write the boot analysis: {error}")


def finish_boot_test(line: str) -> None:
    wait_for_login_prompts(BOOT_TEST_GETTY_SECONDS)
    record_boot_analysis()
    say_on_console(line)
    subprocess.run(list(POWEROFF_COMMAND), check=False)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "apply"
    try:
        if command == "apply":
            return command_apply()
        if command == "status":
            return command_status()
        if command == "wifi":
            return command_wifi()
    except Exception as error:
        import traceback  # only on failure: its imports cost a second at boot under emulation

        traceback.print_exc()
        if command == "status" and boot_test_requested():
            finish_boot_test(f"{BOOT_TEST_FAILURE} ({type(error).__name__}: {error})")
        return 1
    print(f"usage: {argv[0]} apply|wifi|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
