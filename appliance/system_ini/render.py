"""Writing system.ini: the whole file from values, or one key changed in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .app_settings import AppSetting
from .checks import single_line_problem
from .keys import (
    _LIST_SPLIT_RE,
    _SECTION_RE,
    _SETTING_SHAPE_RE,
    _UNSAFE_RE,
    KNOWN_KEYS,
    STATUS_FILE_NAME,
    WIFI_KEYS,
)
from .reader import _decode, _normalise_newlines, _read_lines

# --------------------------------------------------------------------------------------------
# Rendering the file a technician sees
# --------------------------------------------------------------------------------------------

# key -> (plain-words explanation, example shown when the key is unset)
_KEY_DOCS: dict[str, tuple[str, str]] = {
    "hostname": (
        "Name of this device on the network: letters, digits and hyphens, at most 63.",
        "kiosk-01",
    ),
    "timezone": ("Time zone, as Region/City.", "Asia/Tokyo"),
    "locale": ("Language and character set of messages.", "en_US.UTF-8"),
    "ssh_pubkey": (
        "Public SSH keys allowed to log in. Put each extra key on its own line\n"
        "starting with a space.",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... you@your-laptop",
    ),
    "ip_address": (
        "Fixed address with /prefix. Leave it commented out to get an address\n"
        "automatically (DHCP). If a network setting is wrong, the device uses DHCP.",
        "192.168.1.10/24",
    ),
    "ip_gateway": ("Router address, in the same network as ip_address.", "192.168.1.1"),
    "dns": ("DNS servers (IP addresses), separated by spaces or commas.", "192.168.1.1 1.1.1.1"),
    "interface": (
        "Interface that gets the fixed address (default: the first wired one).\n"
        "Name the Wi-Fi interface here to give the fixed address to Wi-Fi.",
        "eth0",
    ),
    "wifi_ssid": (
        "Name of the Wi-Fi network to join. Ethernet keeps working beside it.",
        "MyNetwork",
    ),
    "wifi_key": (
        "Wi-Fi password (8 to 63 characters, or 64 hex digits). Leave it empty\n"
        "for an open network.",
        "my wifi password",
    ),
    "wifi_wpa3": ("yes = the network uses WPA3 (SAE) instead of WPA2.", "no"),
    "wifi_country": (
        "Country the device is used in (two letters), for the Wi-Fi channels\n"
        "and power allowed there. Without it only the channels allowed\n"
        "everywhere are used.",
        "JP",
    ),
    "wifi_hidden": ("yes = the network does not announce its name.", "no"),
    "wifi_interface": ("Wi-Fi interface to use (default: the first one).", "wlan0"),
    "ntp": ("Time servers, separated by spaces or commas.", "pool.ntp.org"),
    "autologin": ("yes = log in automatically on the local screen.", "no"),
    "factory_reset": (
        "yes = wipe every change made on this device at the next boot, then this\n"
        "setting turns itself back to no.",
        "no",
    ),
    "debug": ("yes = show detailed messages while starting up.", "no"),
}

_HEADER = (
    "system.ini - settings of this appliance, read every time it starts.",
    "Edit it with any text editor (Notepad, TextEdit, vi), save, put the card back",
    "and restart the device. Lines starting with ; are notes: remove the ; in front",
    "of a setting to use it. A wrong value is skipped and reported in",
    f"{STATUS_FILE_NAME}, which the device writes next to this file.",
)


def _quote_if_needed(text: str) -> str:
    """Quote values whose edges the parser would otherwise strip."""
    needs = text != text.strip() or (len(text) >= 2 and text[0] == text[-1] == '"')
    return f'"{text}"' if needs else text


def _value_text(key: str, text: str) -> str:
    problem = single_line_problem(text)
    if problem:
        # Never write it: the rest of the value would be read as another setting.
        raise ValueError(f"the value of {key} {problem}")
    return text


def _reads_back_as_one_item(item: str) -> bool:
    """An SSH key on a continuation line must not be taken for a comment, a setting or a
    [section] header, nor lose quotes or spaces at its edges."""
    return (
        item != ""
        and _quote_if_needed(item) == item
        and item[0] not in ";#"
        and not _SETTING_SHAPE_RE.match(item)
        and not _SECTION_RE.match(item)
    )


def _format_value(key: str, value: object) -> str:
    """Text for ``key=...``, written from the value itself.

    Values are expected to be validated; this refuses (``ValueError``) anything that would
    read back as something else, above all a line break that would smuggle in a setting.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        items = [_value_text(key, str(item)) for item in value]
        if key == "ssh_pubkey":
            if not all(_reads_back_as_one_item(item) for item in items):
                raise ValueError(f"an item of {key} would not read back as one SSH key")
            # Several SSH keys: one per line, continuation lines indented.
            return "\r\n  ".join(items)
        if not all(item and not _LIST_SPLIT_RE.search(item) and '"' not in item for item in items):
            raise ValueError(f"an item of {key} is empty or holds a separator")
        return " ".join(items)
    return _quote_if_needed(_value_text(key, str(value)))


def _comment_lines(text: str) -> list[str]:
    # Comments hold blueprint text (help, choices, name): every kind of line break starts a
    # new comment line, and no control character reaches the file.
    return [f"; {_UNSAFE_RE.sub(' ', line)}".rstrip() for line in text.splitlines() or [""]]


def _setting_lines(key: str, value: object, comment: str, example: str) -> list[str]:
    lines = _comment_lines(comment)
    if value is None or value == "" or value == []:
        lines.append(f";{key}={example}")
    else:
        lines.append(f"{key}={_format_value(key, value)}")
    return lines


def _app_comment(setting: AppSetting) -> str:
    hints = {
        "int": "A whole number.",
        "bool": "yes or no.",
        "choice": f"One of: {', '.join(setting.choices)}.",
        "string": "",
    }
    return " ".join(part for part in (setting.help.strip(), hints[setting.type]) if part)


def _render_app_sections(
    app_settings: Sequence[AppSetting], app_values: Mapping[str, Mapping[str, object]]
) -> list[str]:
    lines: list[str] = []
    by_section: dict[str, list[AppSetting]] = {}
    for setting in app_settings:
        by_section.setdefault(setting.section, []).append(setting)
    for section, settings in by_section.items():
        lines += ["", f"[{section}]"]
        chosen = {k.lower(): v for k, v in app_values.get(section, {}).items()}
        for setting in settings:
            value = chosen.get(setting.key, setting.default)
            lines += _setting_lines(setting.key, value, _app_comment(setting) or setting.key, "")
    return lines


def render_system_ini(
    values: Mapping[str, object],
    *,
    capabilities: frozenset[str],
    app_settings: list[AppSetting] | None = None,
    header: str = "",
    app_values: Mapping[str, Mapping[str, object]] | None = None,
) -> str:
    """Write the system.ini a technician opens, with CRLF line ends for Notepad.

    ``values`` are top-level values in the form :func:`validate_system_ini` returns
    (unset keys are shown commented out as examples; Wi-Fi keys only with ``"wifi"`` in
    ``capabilities``). ``app_settings`` become ``[section]`` blocks with their help as
    comments, valued from ``app_values[section][key]`` or the declared default. ``header``
    is extra text (image, build) put in the opening comment. Values are expected to have
    been validated (:func:`validate_values`): one holding a line break of any kind or a
    control character, or a list item that would read back as something else, raises
    ``ValueError`` rather than being written as a second setting. Encode the result as UTF-8
    (``utf-8-sig`` if very old Notepad versions must show non-ASCII text right).
    """
    lines = _comment_lines("\n".join((*_HEADER, *(["", *header.splitlines()] if header else []))))
    for key in KNOWN_KEYS:
        if key in WIFI_KEYS and "wifi" not in capabilities:
            continue
        comment, example = _KEY_DOCS[key]
        lines += ["", *_setting_lines(key, values.get(key), comment, example)]
    lines += _render_app_sections(app_settings or [], app_values or {})
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------------------------
# Rewriting one key in place (factory_reset=yes -> no after the wipe)
# --------------------------------------------------------------------------------------------


def rewrite_setting(raw: bytes, key: str, value: str) -> bytes:
    """Set a top-level ``key`` in the file's bytes, keeping everything else as it was.

    The device uses this to turn ``factory_reset`` back to ``no`` without losing the
    technician's comments, encoding or line ends. The key's line (with its continuation
    lines) is replaced where :func:`parse_ini` found it; a missing key is added before the
    first ``[section]``, or at the end.
    """
    text, bom, codec = _decode(raw)
    newline = "\n" if "\n" in text and "\r\n" not in text else "\r\n"
    if "\r" in text and "\n" not in text:
        newline = "\r"
    lines = _normalise_newlines(text).split("\n")
    reader = _read_lines(lines)
    new_line = f"{key.lower()}={_quote_if_needed(value)}"
    start = reader.lines.get(("", key.lower()))
    if start is not None:
        lines[start - 1 : reader.ends[("", key.lower())]] = [new_line]
    elif reader.first_section_line is not None:
        lines.insert(reader.first_section_line - 1, new_line)
    elif lines[-1] == "":
        lines.insert(len(lines) - 1, new_line)  # keep the final newline final
    else:
        lines.append(new_line)
    out = newline.join(lines)
    try:
        return bom + out.encode(codec)
    except UnicodeEncodeError:
        return b"\xef\xbb\xbf" + out.encode("utf-8")
