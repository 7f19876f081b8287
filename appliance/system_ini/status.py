"""The status file a device writes next to system.ini, and reading it back on the web."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from .keys import _SECTION_RE, SECRET_MASK, is_secret_key
from .reader import _normalise_newlines, decode_ini_bytes
from .validate import SystemIniResult

# --------------------------------------------------------------------------------------------
# The status file the device writes back
# --------------------------------------------------------------------------------------------

_STATUS_TITLE = "Appliance status - written by the device after reading system.ini"
_STATUS_SECTIONS = {
    "applied": "settings in use",
    "rejected": "settings that were skipped, and why",
    "unknown": "settings this image does not know (check the spelling)",
    "problems": "lines of system.ini that could not be read",
    "notes": "other messages from the device",
    "interfaces": "each network interface: link, Wi-Fi network joined, address, or why not",
    "addresses": "network addresses the device has",
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _ssh_key_label(key: str) -> str:
    """``ssh-ed25519 alice@laptop``: enough to recognise a key without its long base64."""
    parts = key.split(None, 2)
    if len(parts) > 2:
        return f"{parts[0]} {parts[2]}"
    return f"{parts[0]} ...{parts[-1][-12:]}"


def _display_value(key: str, value: object) -> str:
    if is_secret_key(key):
        return SECRET_MASK
    if key == "ssh_pubkey" and isinstance(value, list):
        plural = "s" if len(value) != 1 else ""
        return f"{len(value)} key{plural}: " + "; ".join(_ssh_key_label(k) for k in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return _one_line(value)


def _network_line(result: SystemIniResult) -> str:
    if result.network_fallback:
        return "DHCP (a static network setting was rejected, see [rejected])"
    if "ip_address" in result.values:
        return f"static {result.values['ip_address']}"
    return "DHCP"


def status_report(
    result: SystemIniResult,
    *,
    image: str,
    build: str,
    time: datetime | str | None = None,
    addresses: Mapping[str, Sequence[str]] | None = None,
    interfaces: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Format the status file (CRLF line ends) a device writes next to system.ini.

    ``result`` is what :func:`validate_system_ini` returned on the device; ``image`` the
    appliance name (``/.genpack/artifact``, maybe with the profile); ``build`` the build id;
    ``time`` defaults to now (UTC); ``addresses`` maps interface -> addresses it got;
    ``interfaces`` maps interface -> one line about it ("Wi-Fi, joined ...", "wired, no link");
    ``notes`` are extra messages (e.g. "factory reset done"). Secret values are masked.
    Read it back with :func:`parse_status_report`. Write it as ``utf-8-sig``.
    """
    when = time if time is not None else datetime.now(UTC)
    stamp = when.isoformat(timespec="seconds") if isinstance(when, datetime) else str(when)
    applied = {key: _display_value(key, value) for key, value in result.values.items()}
    for section, keys in result.app_sections.items():
        for key, value in keys.items():
            applied[f"{section}.{key}"] = _display_value(f"{section}.{key}", value)
    lines = [
        _STATUS_TITLE,
        f"image: {_one_line(image)}",
        f"build: {_one_line(build)}",
        f"time: {stamp}",
        f"network: {_network_line(result)}",
        f"summary: {len(applied)} applied, {len(result.rejected)} rejected, "
        f"{len(result.unknown)} unknown",
    ]
    pairs = {
        "applied": applied,
        "rejected": result.rejected,
        "interfaces": dict(interfaces or {}),
        "addresses": {name: ", ".join(addrs) for name, addrs in (addresses or {}).items()},
    }
    items = {"unknown": result.unknown, "problems": result.problems, "notes": list(notes)}
    for section, explanation in _STATUS_SECTIONS.items():
        lines += ["", f"[{section}]", f"; {explanation}"]
        if section in pairs:
            lines += [f"{key} = {_one_line(value)}" for key, value in pairs[section].items()]
        else:
            lines += [_one_line(item) for item in items[section]]
    return "\r\n".join(lines) + "\r\n"


def parse_status_report(text: str | bytes) -> dict[str, object]:
    """Read a status file back: header fields (``image``, ``build``, ``time``, ``network``,
    ``summary``) as strings; ``applied``, ``rejected`` and ``interfaces`` as
    ``{key: text}``; ``addresses``
    as ``{interface: [address, ...]}``; ``unknown``, ``problems`` and ``notes`` as lists.
    Never raises; a damaged file gives whatever could be read.
    """
    body = decode_ini_bytes(text) if isinstance(text, bytes) else _normalise_newlines(text)
    report: dict[str, object] = {
        "applied": {},
        "rejected": {},
        "interfaces": {},
        "addresses": {},
        "unknown": [],
        "problems": [],
        "notes": [],
    }
    section: str | None = None
    for line in body.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(";") or stripped == _STATUS_TITLE:
            continue
        header = _SECTION_RE.match(stripped)
        if header:
            section = header.group(1).strip().lower()
            continue
        _read_status_line(report, section, stripped)
    return report


def _read_status_line(report: dict[str, object], section: str | None, stripped: str) -> None:
    if section is None:
        name, sep, value = stripped.partition(":")
        if sep:
            report[name.strip().lower()] = value.strip()
        return
    target = report.get(section)
    if isinstance(target, list):
        target.append(stripped)
    elif isinstance(target, dict):
        # Keys never contain "=", values (reasons) may: split at the first one.
        key, _, value = stripped.partition("=")
        if section == "addresses":
            target[key.strip()] = [a.strip() for a in value.split(",") if a.strip()]
        else:
            target[key.strip()] = value.strip()
