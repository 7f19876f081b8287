"""The keys of system.ini, which values are secret, and the text patterns every part shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# Written next to system.ini on the boot partition; named so it sorts beside it in Explorer.
STATUS_FILE_NAME = "system-status.txt"
# Boot-test mode only (a copy of the image under QEMU): `systemd-analyze blame`, for the host.
BOOT_ANALYSIS_FILE_NAME = "boot-analysis.txt"
DEFAULT_ZONEINFO_DIR = Path("/usr/share/zoneinfo")
SECRET_MASK = "********"

NETWORK_KEYS = ("ip_address", "ip_gateway", "dns", "interface")
WIFI_KEYS = (
    "wifi_ssid",
    "wifi_key",
    "wifi_wpa3",
    "wifi_country",
    "wifi_hidden",
    "wifi_interface",
)
WIFI_BOOL_KEYS = ("wifi_wpa3", "wifi_hidden")
BOOL_KEYS = ("autologin", "factory_reset", "debug")
LIST_KEYS = ("ssh_pubkey", "dns", "ntp")
KNOWN_KEYS = (
    "hostname",
    "timezone",
    "locale",
    "ssh_pubkey",
    *NETWORK_KEYS,
    *WIFI_KEYS,
    "ntp",
    *BOOL_KEYS,
)
APP_SETTING_TYPES = frozenset({"string", "int", "bool", "choice"})

# Substrings of a key name (lowercased, "-" read as "_") that make its value a secret; the
# one list for system.ini, blueprint pages, manifests and build logs (image_builder/secrets.py).
_SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "passphrase",
    "private",
    "api_key",
    "apikey",
    "access_key",
    "auth_key",
    "credential",
    "psk",
)

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_KEY_NAME_RE = re.compile(_NAME + r"\Z")
# An indented line of this shape is a (mis-indented) setting, not a continuation: technicians
# indent keys to line them up, and an SSH key line never starts with "name =".
_SETTING_SHAPE_RE = re.compile(_NAME + r"[ \t]*=")
_SECTION_RE = re.compile(r"\[([^\]]*)\][ \t]*(?:[;#].*)?\Z")

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# What may never sit inside a value: every character some reader takes for a line end
# (CR, LF and all that str.splitlines() splits on: VT, FF, FS, GS, RS, NEL, U+2028, U+2029),
# the other C0/C1 controls, DEL and NUL, and lone surrogates (which cannot be written as UTF-8).
# A value holding one could end its line early and start another setting.
_LINE_BREAK_RE = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_LIST_SPLIT_RE = re.compile(r"[\s,]+")

# Key type -> number of length-prefixed strings in its blob (the type name included).
_SSH_KEY_TYPES: dict[str, int] = {
    "ssh-ed25519": 2,
    "ssh-rsa": 3,
    "ecdsa-sha2-nistp256": 3,
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3,
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,
}


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """True for keys whose value must never be shown (``wifi_key``, ``app.db_password``...)."""
    name = key.lower().rsplit(".", 1)[-1].replace("-", "_")
    return name == "wifi_key" or any(word in name for word in _SECRET_WORDS)


def _masked(values: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    return {
        key: SECRET_MASK if is_secret_key(prefix + key) and value not in ("", None) else value
        for key, value in values.items()
    }


def _masked_sections(sections: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    return {name: _masked(keys, prefix=name + ".") for name, keys in sections.items()}


def _snippet(text: str, limit: int = 40) -> str:
    """A printable, bounded echo of user text for problem messages (binary files happen)."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."
