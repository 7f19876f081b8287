"""Validating system.ini: a parsed file (the device's case) or a mapping of values (the web's)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from .app_settings import AppSetting
from .checks import (
    _TEXT_CHECKS,
    _check_dns,
    _check_interface,
    _check_ip_address,
    _check_ip_gateway,
    _check_ntp,
    _check_ssh_keys,
    _check_timezone,
    _Invalid,
    _parse_bool,
    _require_one_line,
    _split_list,
)
from .keys import (
    _LIST_SPLIT_RE,
    BOOL_KEYS,
    DEFAULT_ZONEINFO_DIR,
    KNOWN_KEYS,
    NETWORK_KEYS,
    WIFI_BOOL_KEYS,
    WIFI_KEYS,
    _masked,
    _masked_sections,
    _snippet,
)
from .reader import ParsedIni

# --------------------------------------------------------------------------------------------
# Validation
#
# Two ways in, one set of rules: validate_system_ini() reads a parsed file (the device's
# case), validate_values() a mapping of values (the web's case: a form, a blueprint's
# defaults). They differ only in how a value arrives -- always as text from a file; as text,
# a bool or a list of items from the web -- so the checks below take either.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SystemIniResult:
    """What a device does with a system.ini, and what it tells the technician about it.

    ``values``: known top-level keys that apply, typed and JSON-serialisable (``str``,
    ``bool``, ``list[str]``). ``rejected``: key (``section.key`` for app settings) -> reason.
    A key may be in both when part of it applies (one bad SSH key among good ones).
    ``unknown``: keys this image does not know (ignored). ``app_sections``: section ->
    key -> typed value, declared defaults filled in. ``network_fallback``: a static network
    setting was rejected, so the device uses DHCP. ``problems``: lines the parser ignored.
    """

    values: dict[str, object] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    app_sections: dict[str, dict[str, object]] = field(default_factory=dict)
    network_fallback: bool = False
    problems: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"SystemIniResult(values={_masked(self.values)!r}, rejected={self.rejected!r}, "
            f"unknown={self.unknown!r}, app_sections={_masked_sections(self.app_sections)!r}, "
            f"network_fallback={self.network_fallback!r}, problems={self.problems!r})"
        )


def _given(top: Mapping[str, str], keys: Iterable[str]) -> dict[str, str]:
    """The keys that carry a value: an empty value means "use the image's default".

    Values are not stripped again: the parser already did, and what is left (inside quotes)
    was meant, like spaces at the edge of a Wi-Fi password.
    """
    return {key: top[key] for key in keys if top.get(key, "").strip()}


def _blank(value: object) -> bool:
    """Unset in a mapping of values: nothing, empty text, or a list of empty items."""
    if value is None or value == "":
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, str) and not item.strip() for item in value)
    return False


def _text(value: object) -> str:
    """A single-line value as text; one from the web must already be text."""
    if not isinstance(value, str):
        raise _Invalid("must be text")
    _require_one_line(value)
    if not value.strip():
        # The device reads a value of only spaces as "not set"; say so rather than drop it.
        raise _Invalid("is only spaces; leave it empty to use the image's default")
    return value


def _items(key: str, value: object, from_file: bool) -> list[str]:
    """The items of ``ssh_pubkey``, ``dns`` or ``ntp``.

    In a file a list is text: SSH keys one per line, servers split at spaces or commas. From
    the web it is a list, and each item is checked on its own: an item holding a separator
    would be written as several items -- or, with a line break, as another setting.
    """
    if from_file:
        text = str(value)
        if key == "ssh_pubkey":
            return [line.strip() for line in text.split("\n") if line.strip()]
        return _split_list(text)
    if isinstance(value, str):
        # A blueprint may write servers as one text ("1.1.1.1 8.8.8.8"); an SSH key is one.
        _require_one_line(value)
        value = [value] if key == "ssh_pubkey" else _split_list(value)
    if not isinstance(value, (list, tuple)):
        raise _Invalid("must be a list")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _Invalid("must be a list of text items")
        item = _require_one_line(item).strip()
        if key != "ssh_pubkey" and _LIST_SPLIT_RE.search(item):
            raise _Invalid(f"'{_snippet(item)}' holds more than one entry; give each its own")
        if item:
            items.append(item)
    if not items:
        # Not blank (see _blank) yet nothing in it, like " , ": say so rather than drop it.
        raise _Invalid("has no entries; leave it empty to use the image's default")
    return items


def _reason(
    exc: _Invalid, value: object, from_file: bool, check: Callable[[str], object] | None = None
) -> str:
    """The rejection reason, plus a hint when a note after the value is the likely culprit:
    only when the value without the note would pass ``check`` (``kiosk-01 # lobby``), not for
    a value that is wrong anyway (``kiosk #1``, ``kiosk-01 ; 2`` are names, not notes)."""
    text = value if isinstance(value, str) else ""
    # " # lobby" or " ;old" reads as a note; "kiosk #1" numbers a name.
    note = re.search(r"\s[#;](?!\d)", text)
    if from_file and check is not None and note is not None and note.start() > 0:
        cut = note.start()
        try:
            check(text[:cut].rstrip())
        except _Invalid:
            return str(exc)
        return f"{exc} (notes after a value are not allowed: put them on their own line)"
    return str(exc)


def _check_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return _parse_bool(_text(str(value) if isinstance(value, int) else value))


def _check_simple(key: str, value: object, zoneinfo_dir: Path | None, from_file: bool) -> object:
    if key in BOOL_KEYS:
        return _check_bool(value)
    if key == "ntp":
        return _check_ntp(_items(key, value, from_file))
    if key == "timezone":
        return _check_timezone(_text(value), zoneinfo_dir)
    return _TEXT_CHECKS[key](_text(value))


def _validate_simple(
    given: Mapping[str, object],
    zoneinfo_dir: Path | None,
    values: dict[str, object],
    rejected: dict[str, str],
    from_file: bool,
) -> None:
    for key in ("hostname", "timezone", "locale", "ntp", *BOOL_KEYS):
        if key not in given:
            continue
        try:
            values[key] = _check_simple(key, given[key], zoneinfo_dir, from_file)
        except _Invalid as exc:
            rejected[key] = _reason(
                exc,
                given[key],
                from_file,
                lambda text, key=key: _check_simple(key, text, zoneinfo_dir, from_file),
            )


def _validate_ssh(
    given: Mapping[str, object],
    values: dict[str, object],
    rejected: dict[str, str],
    from_file: bool,
) -> None:
    if "ssh_pubkey" not in given:
        return
    try:
        keys = _items("ssh_pubkey", given["ssh_pubkey"], from_file)
    except _Invalid as exc:
        rejected["ssh_pubkey"] = str(exc)
        return
    good, bad = _check_ssh_keys(keys)
    if good:
        values["ssh_pubkey"] = good
    if bad:
        rejected["ssh_pubkey"] = "; ".join(bad)


def _check_network_key(
    key: str, value: object, checked: Mapping[str, object], from_file: bool
) -> object:
    if key == "dns":
        return _check_dns(_items(key, value, from_file))
    text = _text(value)
    if key == "ip_address":
        return _check_ip_address(text)
    if key == "ip_gateway":
        own = checked.get("ip_address")
        return _check_ip_gateway(text, own if isinstance(own, str) else None)
    return _check_interface(text)


def _validate_network(
    given: Mapping[str, object],
    values: dict[str, object],
    rejected: dict[str, str],
    from_file: bool,
) -> bool:
    """Apply the network keys all together or not at all; return True on DHCP fallback.

    Half a static configuration (an address without its gateway, on the wrong interface)
    can leave a device unreachable; DHCP on wired Ethernet is the safe place to land.
    """
    checked: dict[str, object] = {}
    failed: dict[str, str] = {}
    for key in (k for k in NETWORK_KEYS if k in given):
        if "ip_address" in failed and key in ("ip_gateway", "dns"):
            failed[key] = "ignored because ip_address was rejected"
            continue
        try:
            checked[key] = _check_network_key(key, given[key], checked, from_file)
        except _Invalid as exc:
            failed[key] = _reason(
                exc,
                given[key],
                from_file,
                lambda text, key=key: _check_network_key(key, text, checked, from_file),
            )
    if not failed:
        values.update(checked)
        return False
    cause = next(iter(failed))
    for key in checked:
        failed[key] = f"ignored because {cause} was rejected; the device uses DHCP instead"
    rejected.update({key: failed[key] for key in NETWORK_KEYS if key in failed})
    return True


def _check_wifi_value(key: str, value: object) -> object:
    if key in WIFI_BOOL_KEYS:
        return _check_bool(value)
    if key == "wifi_interface":
        return _check_interface(_text(value))
    return _TEXT_CHECKS[key](_text(value))


def _validate_wifi(
    given: Mapping[str, object],
    capabilities: frozenset[str],
    values: dict[str, object],
    rejected: dict[str, str],
) -> None:
    """The Wi-Fi keys; they mean something only together with a network name (wifi_ssid)."""
    present = [key for key in WIFI_KEYS if key in given]
    if "wifi" not in capabilities:
        rejected.update({key: "this device has no Wi-Fi" for key in present})
        return
    checked: dict[str, object] = {}
    for key in present:
        try:
            checked[key] = _check_wifi_value(key, given[key])
        except _Invalid as exc:
            rejected[key] = str(exc)
    if "wifi_ssid" not in checked:
        # The others are settings for a network that is named later (a blueprint's default
        # country, the technician's SSID per device): kept, they do nothing until then. A
        # password for no network is a mistake worth saying.
        if "wifi_key" in checked:
            checked.pop("wifi_key")
            rejected["wifi_key"] = (
                "ignored because wifi_ssid was rejected"
                if "wifi_ssid" in given
                else "ignored because no Wi-Fi network name is set (wifi_ssid)"
            )
        values.update(checked)
        return
    if "wifi_key" in rejected:
        # Joining an open network instead of the one meant would be worse than not joining.
        because = "ignored because wifi_key was rejected"
        rejected.update({key: because for key, value in checked.items() if value is not False})
        return
    if checked.get("wifi_wpa3"):
        key = checked.get("wifi_key")
        if not key:
            rejected["wifi_wpa3"] = "WPA3 needs the network's password (wifi_key)"
            checked.pop("wifi_wpa3")
        elif isinstance(key, str) and _is_raw_psk(key):
            # For WPA2, 64 hex digits are the key itself; WPA3 (SAE) always needs the password.
            rejected["wifi_wpa3"] = (
                "WPA3 needs the network's password, not a 64-hex-digit key; "
                "the device tries WPA2 with that key instead"
            )
            checked.pop("wifi_wpa3")
    values.update(checked)


def _is_raw_psk(key: str) -> bool:
    return len(key) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in key)


def _validate_known(
    given: Mapping[str, object],
    capabilities: frozenset[str],
    zoneinfo_dir: str | PathLike[str] | None,
    from_file: bool,
) -> tuple[dict[str, object], dict[str, str], bool]:
    """Check the known top-level keys: ``(values in KNOWN_KEYS order, rejected, fallback)``."""
    zone_dir = Path(zoneinfo_dir) if zoneinfo_dir is not None else None
    if zone_dir is not None and not zone_dir.is_dir():
        zone_dir = None
    values: dict[str, object] = {}
    rejected: dict[str, str] = {}
    _validate_simple(given, zone_dir, values, rejected, from_file)
    _validate_ssh(given, values, rejected, from_file)
    network_fallback = _validate_network(given, values, rejected, from_file)
    _validate_wifi(given, capabilities, values, rejected)
    ordered = {key: values[key] for key in KNOWN_KEYS if key in values}
    return ordered, rejected, network_fallback


def _declared(app_settings: Sequence[AppSetting]) -> dict[str, dict[str, AppSetting]]:
    declared: dict[str, dict[str, AppSetting]] = {}
    for setting in app_settings:
        declared.setdefault(setting.section, {})[setting.key] = setting
    return declared


def _validate_app_sections(
    parsed: ParsedIni,
    app_settings: Sequence[AppSetting] | None,
    rejected: dict[str, str],
    unknown: list[str],
) -> dict[str, dict[str, object]]:
    if app_settings is None:
        # Nothing declared is known (e.g. a tool reading a file on its own): keep it all as text.
        return {name: dict(keys) for name, keys in parsed.sections.items()}
    declared = _declared(app_settings)
    sections: dict[str, dict[str, object]] = {}
    for name, settings in declared.items():
        written = parsed.sections.get(name, {})
        section: dict[str, object] = {}
        for key, setting in settings.items():
            text = written.get(key, "").strip()
            if text:
                try:
                    section[key] = setting.coerce(text)
                    continue
                except _Invalid as exc:
                    rejected[setting.name] = f"{exc}; using the default instead"
            if setting.default is not None:
                section[key] = setting.default
        for key, text in written.items():
            if key not in settings:
                section[key] = text
                unknown.append(f"{name}.{key}")
        sections[name] = section
    for name, keys in parsed.sections.items():
        if name not in declared:
            unknown.extend(f"{name}.{key}" for key in keys)
    return sections


def _validate_app_values(
    app_values: Mapping[str, Mapping[str, object]],
    app_settings: Sequence[AppSetting],
    rejected: dict[str, str],
    unknown: list[str],
) -> dict[str, dict[str, object]]:
    """The declared settings' values from a mapping; undeclared ones are unknown, not kept."""
    given = {
        str(name).lower(): {str(key).lower(): value for key, value in keys.items()}
        for name, keys in app_values.items()
    }
    sections: dict[str, dict[str, object]] = {}
    for name, settings in _declared(app_settings).items():
        chosen = given.get(name, {})
        section: dict[str, object] = {}
        for key, setting in settings.items():
            value = chosen.get(key)
            if not _blank(value):
                try:
                    section[key] = setting.check(value)
                    continue
                except _Invalid as exc:
                    rejected[setting.name] = f"{exc}; using the default instead"
            if setting.default is not None:
                section[key] = setting.default
        unknown.extend(f"{name}.{key}" for key in chosen if key not in settings)
        sections[name] = section
    for name, keys in given.items():
        if name not in sections:
            unknown.extend(f"{name}.{key}" for key in keys)
    return sections


def validate_system_ini(
    parsed: ParsedIni,
    *,
    capabilities: frozenset[str] = frozenset({"ethernet"}),
    app_settings: list[AppSetting] | None = None,
    zoneinfo_dir: str | PathLike[str] | None = DEFAULT_ZONEINFO_DIR,
) -> SystemIniResult:
    """Check every value of a parsed system.ini; bad keys are rejected, the rest apply.

    ``capabilities`` come from the hardware profile (Wi-Fi keys need ``"wifi"``).
    ``app_settings`` are the blueprint's declared settings; ``None`` keeps all sections as
    text. ``zoneinfo_dir`` is where time zones are looked up; when it is ``None`` or missing
    (a web container without tzdata) a conservative name pattern is used instead.
    """
    given = _given(parsed.top, KNOWN_KEYS)
    values, rejected, network_fallback = _validate_known(
        given, capabilities, zoneinfo_dir, from_file=True
    )
    unknown = [key for key in parsed.top if key not in KNOWN_KEYS]
    app_sections = _validate_app_sections(parsed, app_settings, rejected, unknown)
    return SystemIniResult(
        values=values,
        rejected=rejected,
        unknown=unknown,
        app_sections=app_sections,
        network_fallback=network_fallback,
        problems=list(parsed.problems),
    )


def validate_values(
    values: Mapping[str, object],
    *,
    capabilities: frozenset[str],
    app_settings: Sequence[AppSetting] = (),
    app_values: Mapping[str, Mapping[str, object]] | None = None,
    zoneinfo_dir: str | PathLike[str] | None = DEFAULT_ZONEINFO_DIR,
) -> SystemIniResult:
    """Check system.ini values given as data (the web's case), by the rules of the device.

    ``values`` maps top-level keys to text, a bool (``autologin``...) or, for ``ssh_pubkey``,
    ``dns`` and ``ntp``, a list of items; empty values mean "not set". ``app_values`` maps
    ``section -> key -> value`` for the declared ``app_settings`` (defaults fill the rest).
    Every text and every list item must be a single line: a line break or control character
    of any kind is rejected with a reason, so :func:`render_system_ini` can write the result
    with each value on its own line and nothing else. Other arguments and the result are
    those of :func:`validate_system_ini`; ``problems`` is always empty.
    """
    given = {key: value for key, value in values.items() if key in KNOWN_KEYS}
    given = {key: value for key, value in given.items() if not _blank(value)}
    checked, rejected, network_fallback = _validate_known(
        given, frozenset(capabilities), zoneinfo_dir, from_file=False
    )
    unknown = [str(key) for key in values if key not in KNOWN_KEYS]
    app_sections = _validate_app_values(app_values or {}, app_settings, rejected, unknown)
    return SystemIniResult(
        values=checked,
        rejected=rejected,
        unknown=unknown,
        app_sections=app_sections,
        network_fallback=network_fallback,
    )
