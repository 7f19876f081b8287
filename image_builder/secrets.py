"""Which values are secrets, and how they are kept out of logs and metadata.

The one definition: users' ``password_hash`` (genpack spells it ``password``), system.ini keys
that ``is_secret_key`` names (``wifi_key``...), and the defaults of blueprint settings whose key
is secret by name (``db_password``, ``api_key``...). It applies to blueprint data (with its
``arch`` / ``variants`` layers) and to a BuildSpec's dict alike; the web masks pages with it, the
engine masks its log and writes the manifest's spec without them. The image itself still
carries what it must (the hash in /etc/shadow, the Wi-Fi key in system.ini).

Standard library only, like the rest of the engine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.system_ini import SECRET_MASK, is_secret_key
from appliance.system_ini.keys import _SECRET_WORDS as SECRET_WORDS

__all__ = [
    "MASK",
    "SECRET_WORDS",
    "Secret",
    "is_secret_key",
    "manifest_sources",
    "manifest_spec",
    "mask_secrets",
    "scrub_manifest",
    "secret_values",
    "secrets_in",
]

MASK = SECRET_MASK
USER_SECRET_FIELDS = ("password_hash", "password")
LAYER_GROUPS = ("arch", "variants")
# Explicit secrets shorter than this are not replaced in logs: replacing "yes" or "80"
# everywhere would wreck the log, and a value that short protects nothing anyway.
MIN_MASKED_LENGTH = 4

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Secret:
    """One secret value: where it is in the data (`path`), and a stable name for it (`label`),
    by user name / setting name rather than list position, e.g. ``users.alice.password_hash``."""

    path: Path
    label: str
    value: Any


def _layer_secrets(layer: Mapping[str, Any], path: Path, label: str) -> Iterator[Secret]:
    users = layer.get("users")
    if isinstance(users, (list, tuple)):
        for index, user in enumerate(users):
            if not isinstance(user, Mapping):
                continue
            for name in USER_SECRET_FIELDS:
                if user.get(name) not in (None, ""):
                    yield Secret(
                        (*path, "users", index, name),
                        f"{label}users.{user.get('name')}.{name}",
                        user[name],
                    )
    ini = layer.get("system_ini")
    if isinstance(ini, Mapping):
        for key, value in ini.items():
            if isinstance(key, str) and is_secret_key(key) and value not in (None, ""):
                yield Secret((*path, "system_ini", key), f"{label}system_ini.{key}", value)
    settings = layer.get("settings")
    if isinstance(settings, (list, tuple)):
        for index, setting in enumerate(settings):
            if (
                isinstance(setting, Mapping)
                and isinstance(setting.get("key"), str)
                and is_secret_key(setting["key"])
                and setting.get("default") not in (None, "")
            ):
                yield Secret(
                    (*path, "settings", index, "default"),
                    f"{label}settings.{setting.get('section')}.{setting['key']}.default",
                    setting["default"],
                )


def secrets_in(data: Mapping[str, Any]) -> list[Secret]:
    """Every secret value set in blueprint data or a spec dict (layers included)."""
    if not isinstance(data, Mapping):
        return []
    found = list(_layer_secrets(data, (), ""))
    for group in LAYER_GROUPS:
        layers = data.get(group)
        if isinstance(layers, Mapping):
            for name, layer in layers.items():
                if isinstance(layer, Mapping):
                    found += _layer_secrets(layer, (group, name), f"{group}.{name}.")
    return found


def secret_values(data: Mapping[str, Any]) -> list[str]:
    """The secret values of `data` as text, for masking a log."""
    values = []
    for secret in secrets_in(data):
        if isinstance(secret.value, bool) or not isinstance(secret.value, (str, int, float)):
            continue
        text = str(secret.value)
        if len(text) >= MIN_MASKED_LENGTH:
            values.append(text)
    return values


# --------------------------------------------------------------------------------------------
# The manifest: what was built, without what must stay secret
# --------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    summary = {key: entry[key] for key in ("path", "mode", "owner", "group") if key in entry}
    if "content" in entry or "content_b64" in entry:
        if "content" in entry:
            data = str(entry["content"]).encode("utf-8", errors="replace")
        else:
            try:
                data = base64.b64decode(entry["content_b64"], validate=True)
            except (binascii.Error, ValueError, TypeError):
                data = str(entry["content_b64"]).encode("utf-8", errors="replace")
        summary.update(size=len(data), sha256=_sha256(data))
    else:  # already a summary
        summary.update({key: entry[key] for key in ("size", "sha256") if key in entry})
    return summary


def _user_summary(user: Mapping[str, Any]) -> dict[str, Any]:
    summary = {key: value for key, value in user.items() if key not in USER_SECRET_FIELDS}
    summary["password_set"] = bool(
        user.get("password_set") or any(user.get(name) for name in USER_SECRET_FIELDS)
    )
    return summary


def _setting_summary(setting: Mapping[str, Any]) -> dict[str, Any]:
    summary = dict(setting)
    key = setting.get("key")
    if isinstance(key, str) and is_secret_key(key) and setting.get("default") not in (None, ""):
        summary["default"] = MASK
    return summary


def manifest_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec dict as the manifest records it (technicians download the manifest).

    Users without their password hash (``password_set`` says whether one is set); files and
    build files as path/mode/owner/group/size/sha256 without content; setup commands as a count
    and a SHA-256; secret settings' defaults masked. Applying it again changes nothing.
    """
    scrubbed = dict(spec)
    if isinstance(spec.get("users"), (list, tuple)):
        scrubbed["users"] = [
            _user_summary(user) if isinstance(user, Mapping) else user for user in spec["users"]
        ]
    # build_files (for the setup commands) carry contents as much as files do.
    for group in ("files", "build_files"):
        if isinstance(spec.get(group), (list, tuple)):
            scrubbed[group] = [
                _file_summary(entry) if isinstance(entry, Mapping) else {"path": str(entry)}
                for entry in spec[group]
            ]
    commands = spec.get("setup_commands")
    if isinstance(commands, (list, tuple)):
        listed = [str(command) for command in commands]
        scrubbed["setup_commands"] = {
            "count": len(listed),
            "sha256": _sha256(json.dumps(listed, ensure_ascii=False).encode("utf-8")),
        }
    if isinstance(spec.get("settings"), (list, tuple)):
        scrubbed["settings"] = [
            _setting_summary(setting) if isinstance(setting, Mapping) else setting
            for setting in spec["settings"]
        ]
    return scrubbed


def manifest_sources(lines: Iterable[Any]) -> list[Any]:
    """apt source lines without the password of a mirror URL (http://user:password@host/)."""
    return [
        URL_CREDENTIALS_RE.sub(lambda m: m.group(1) + MASK, line) if isinstance(line, str) else line
        for line in lines
    ]


def scrub_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A published manifest with its spec scrubbed (for manifests written before the fix)."""
    if isinstance(manifest.get("spec"), Mapping):
        scrubbed = {**manifest, "spec": manifest_spec(manifest["spec"])}
        if isinstance(manifest.get("sources"), list):
            scrubbed["sources"] = manifest_sources(manifest["sources"])
        return scrubbed
    return manifest_spec(manifest)  # a bare spec (what the test engine writes)


# --------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------


def _words_pattern(words: Iterable[str]) -> str:
    # "api_key" also matches api-key, apikey, API_KEY.
    return "|".join(re.escape(word).replace("_", "[_-]?") for word in words)


_WORDS = _words_pattern((*SECRET_WORDS, "wifi_key"))
# crypt(3) hashes ($1$, $5$, $6$, $y$, $2b$, $gy$, $7$ ...) anywhere in a line.
CRYPT_HASH_RE = re.compile(r"\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5)\$[^\s'\":;]+")
_VALUE = r"(\"[^\"]*\"|'[^']*'|\S+)"
# name=value, name: value, "name": "value", with compound names (db_password, API-KEY,
# access_token, client_secret, private_key...). A colon needs a space or quote after it, so
# dpkg's "passwd:amd64" stays readable.
SECRET_ASSIGNMENT_RE = re.compile(
    rf"(?i)((?<![\w.-])[\w.-]*(?:{_WORDS})[\w.-]*[\"']?)(\s*=\s*|\s*:(?:\s+|(?=[\"'])))" + _VALUE
)
# --password VALUE, --api-key VALUE (the "=" form is an assignment above).
SECRET_OPTION_RE = re.compile(rf"(?i)((?<![\w-])--[\w-]*(?:{_WORDS})[\w-]*)(\s+)(?!-)" + _VALUE)
# mysql -pSECRET, mysqldump -u root -pSECRET (-p glued to the password; -P is the port).
MYSQL_PASSWORD_RE = re.compile(
    r"((?i:\b(?:mysql\w*|mariadb[\w-]*))\b[^\n]*?\s-p)(?=\S)(\"[^\"]*\"|'[^']*'|\S+)"
)
SSHPASS_RE = re.compile(r"(\bsshpass\b[^\n]*?\s-p\s*)(\"[^\"]*\"|'[^']*'|\S+)")
# scheme://user:password@host
URL_CREDENTIALS_RE = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(?=@)")
AUTHORIZATION_RE = re.compile(
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest)\s+)?)"
    r"([^\s\"']+)"
)
SQL_IDENTIFIED_RE = re.compile(r"(?i)(\bidentified\s+by\s+(?:password\s+)?)" + _VALUE)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide password hashes, credentials in the usual shapes, and the named secret values."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = CRYPT_HASH_RE.sub(MASK, text)
    text = URL_CREDENTIALS_RE.sub(lambda m: m.group(1) + MASK, text)
    text = AUTHORIZATION_RE.sub(lambda m: m.group(1) + MASK, text)
    text = MYSQL_PASSWORD_RE.sub(lambda m: m.group(1) + MASK, text)
    text = SSHPASS_RE.sub(lambda m: m.group(1) + MASK, text)
    text = SQL_IDENTIFIED_RE.sub(lambda m: m.group(1) + MASK, text)
    text = SECRET_OPTION_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return SECRET_ASSIGNMENT_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
