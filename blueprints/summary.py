"""A blueprint revision in plain words, for its page: what the appliance contains, who can log
in, which files it carries and how it joins the network. Secrets never appear: a password is
"set", the Wi-Fi password is "set (hidden)", a secret setting's default is masked."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.system_ini import validate_values
from blueprints.secrets import settings_masked
from hardware_profiles.models import HardwareProfile

Data = dict[str, Any]


@dataclass(frozen=True)
class Fact:
    """One line of the summary: a label and what it means, in words."""

    label: str
    text: str


@dataclass(frozen=True)
class UserSummary:
    name: str
    comment: str = ""
    groups: tuple[str, ...] = ()
    password: bool = False
    ssh_keys: int = 0

    @property
    def login(self) -> str:
        ways = []
        if self.password:
            ways.append("a password (set, not shown)")
        if self.ssh_keys:
            ways.append(f"{self.ssh_keys} SSH key{'s' if self.ssh_keys != 1 else ''}")
        return "Logs in with " + " and ".join(ways) if ways else "No password or SSH key"


@dataclass(frozen=True)
class FileSummary:
    path: str
    mode: str
    owner: str
    size: str
    uploaded: bool


@dataclass(frozen=True)
class LayerSummary:
    """An `arch` or `variants` layer: what it adds or removes, in one line each."""

    kind: str  # "Architecture" or "Variant"
    name: str
    facts: tuple[Fact, ...]


@dataclass
class BlueprintSummary:
    packages: list[str] = field(default_factory=list)
    packages_left_out: list[str] = field(default_factory=list)
    buildtime_packages: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    services_left_out: list[str] = field(default_factory=list)
    users: list[UserSummary] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    build_files: int = 0
    setup_commands: int = 0
    settings: list[dict[str, Any]] = field(default_factory=list)
    network: list[Fact] = field(default_factory=list)
    device: list[Fact] = field(default_factory=list)
    layers: list[LayerSummary] = field(default_factory=list)


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _split(items: list[str]) -> tuple[list[str], list[str]]:
    """Entries, and the "-name" entries that remove one (a profile's package, a unit)."""
    return [i for i in items if not i.startswith("-")], [i[1:] for i in items if i[:1] == "-"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _size(byte_count: int) -> str:
    if byte_count < 1024:
        return _plural(byte_count, "byte")
    if byte_count < 1024 * 1024:
        return f"{byte_count / 1024:.1f} KiB"
    return f"{byte_count / 1024 / 1024:.1f} MiB"


def _file(raw: dict[str, Any]) -> FileSummary:
    uploaded = "content_b64" in raw
    if uploaded:
        try:
            size = len(base64.b64decode(str(raw["content_b64"]), validate=False))
        except (binascii.Error, ValueError):
            size = 0
    else:
        size = len(str(raw.get("content", "")).encode("utf-8", "surrogatepass"))
    owner = str(raw.get("owner", "root"))
    group = str(raw.get("group", owner))
    return FileSummary(
        path=str(raw.get("path", "")),
        mode=str(raw.get("mode", "0644")),
        owner=owner if group == owner else f"{owner}:{group}",
        size=_size(size),
        uploaded=uploaded,
    )


def _user(raw: Any) -> UserSummary:
    if isinstance(raw, str):
        return UserSummary(name=raw)
    if not isinstance(raw, dict):
        return UserSummary(name="?")
    groups = [raw["initial_group"]] if isinstance(raw.get("initial_group"), str) else []
    groups += _strings(raw.get("additional_groups"))
    return UserSummary(
        name=str(raw.get("name", "?")),
        comment=str(raw.get("comment") or ""),
        groups=tuple(groups),
        password=any(raw.get(key) not in (None, "") for key in ("password_hash", "password")),
        ssh_keys=len(_strings(raw.get("ssh_keys"))),
    )


def _listed(items: Sequence[str]) -> str:
    return ", ".join(items)


def network_facts(
    values: dict[str, Any], targets: Sequence[HardwareProfile], *, name: str = ""
) -> list[Fact]:
    """The default system.ini's network settings as sentences a product manager reads;
    `name` is the blueprint's, which the image takes as its host name unless one is set."""
    has_wifi = any(profile.has_wifi for profile in targets)
    # The device's own rules read the values (lists, yes/no...) the way the image will.
    checked = validate_values(values, capabilities=frozenset({"ethernet", "wifi"})).values
    hostname = checked.get("hostname")
    facts = [Fact("Host name", str(hostname) if hostname else f"{name} (the blueprint's name)")]
    address = checked.get("ip_address")
    interface = checked.get("interface")
    if address:
        where = f"on {interface}" if interface else "on the first wired port"
        wired = f"Fixed address {address} {where}"
        gateway = checked.get("ip_gateway")
        wired += f", gateway {gateway}" if gateway else ", no gateway (this network only)"
    else:
        wired = "Automatic address from the network (DHCP)"
    facts.append(Fact("Wired network", wired))
    dns = _strings(checked.get("dns"))
    if dns:
        facts.append(Fact("DNS servers", _listed(dns)))
    else:
        facts.append(
            Fact("DNS servers", "none set: names will not resolve" if address else "from DHCP")
        )
    facts.append(Fact("Wi-Fi", _wifi_words(values, checked, has_wifi)))
    ntp = _strings(checked.get("ntp"))
    facts.append(Fact("Time servers", _listed(ntp) if ntp else "Debian's defaults"))
    return facts


def _wifi_words(values: dict[str, Any], checked: dict[str, Any], has_wifi: bool) -> str:
    ssid = checked.get("wifi_ssid")
    if not has_wifi:
        kept = any(key.startswith("wifi_") for key in values)
        return (
            "None of the targets has Wi-Fi; the Wi-Fi settings are kept for one that has"
            if kept
            else "None of the targets has Wi-Fi"
        )
    if not ssid:
        country = checked.get("wifi_country")
        words = "Not set up; a technician can name a network in system.ini"
        return f"{words} (country {country})" if country else words
    words = f"Joins “{ssid}”"
    words += " with a password (set, not shown)" if checked.get("wifi_key") else ", open network"
    extras = []
    if checked.get("wifi_wpa3"):
        extras.append("WPA3")
    if checked.get("wifi_hidden"):
        extras.append("hidden network")
    if checked.get("wifi_country"):
        extras.append(f"country {checked['wifi_country']}")
    if checked.get("wifi_interface"):
        extras.append(f"on {checked['wifi_interface']}")
    return f"{words} ({', '.join(extras)})" if extras else words


def device_facts(values: dict[str, Any]) -> list[Fact]:
    """The other defaults of system.ini: time zone, language, logins, switches."""
    checked = validate_values(values, capabilities=frozenset({"ethernet", "wifi"})).values
    keys = _strings(checked.get("ssh_pubkey"))
    facts = [
        Fact("Time zone", str(checked.get("timezone") or "UTC (default)")),
        Fact("Language", str(checked.get("locale") or "the image's default")),
        Fact(
            "SSH keys for all devices",
            _plural(len(keys), "key") + " in system.ini" if keys else "none",
        ),
    ]
    switches = [
        ("autologin", "Console logs in by itself"),
        ("debug", "Verbose boot messages"),
        ("factory_reset", "Wipes its changes at next boot"),
    ]
    on = [words for key, words in switches if checked.get(key)]
    if on:
        facts.append(Fact("Switched on", "; ".join(on)))
    return facts


def _layer_facts(layer: dict[str, Any]) -> tuple[Fact, ...]:
    facts = []
    for key, label in (("packages", "Packages"), ("services", "Services")):
        added, removed = _split(_strings(layer.get(key)))
        if added:
            facts.append(Fact(f"{label} added", _listed(added)))
        if removed:
            facts.append(Fact(f"{label} left out", _listed(removed)))
    for key, label in (("users", "Users"), ("files", "Files")):
        items = layer.get(key)
        if isinstance(items, list) and items:
            names = [
                _user(item).name if key == "users" else _file(item).path
                for item in items
                if isinstance(item, str | dict)
            ]
            facts.append(Fact(f"{label} added", _listed(names)))
    if layer.get("setup_commands"):
        facts.append(Fact("Setup commands", _plural(len(layer["setup_commands"]), "command")))
    return tuple(facts)


def blueprint_summary(data: Data, targets: Sequence[HardwareProfile]) -> BlueprintSummary:
    """`data` (a stored, checked revision) for people; secrets stay out."""
    packages, packages_left_out = _split(_strings(data.get("packages")))
    services, services_left_out = _split(_strings(data.get("services")))
    ini = data.get("system_ini") if isinstance(data.get("system_ini"), dict) else {}
    layers = [
        LayerSummary(kind=kind, name=str(name), facts=_layer_facts(layer))
        for group, kind in (("arch", "Architecture"), ("variants", "Variant"))
        for name, layer in (data.get(group) or {}).items()
        if isinstance(layer, dict)
    ]
    return BlueprintSummary(
        packages=packages,
        packages_left_out=packages_left_out,
        buildtime_packages=_strings(data.get("buildtime_packages")),
        services=services,
        services_left_out=services_left_out,
        users=[_user(user) for user in data.get("users") or []],
        groups=[g if isinstance(g, str) else str(g.get("name")) for g in data.get("groups") or []],
        files=[_file(item) for item in data.get("files") or [] if isinstance(item, dict)],
        build_files=len(data.get("build_files") or []),
        setup_commands=len(data.get("setup_commands") or []),
        settings=settings_masked(data.get("settings") or []),
        network=network_facts(ini, targets, name=str(data.get("name", ""))),
        device=device_facts(ini),
        layers=layers,
    )


__all__ = ["BlueprintSummary", "Fact", "blueprint_summary", "network_facts"]
