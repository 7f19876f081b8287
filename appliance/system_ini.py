"""Read, check and write ``system.ini``: the one settings file a field technician edits.

This single module is shared by the web app (checking what people type, rendering the file
into a downloaded image, reading a device's status file) and by the boot-time agent on the
appliance (applying the file, writing the status file back). Both sides run this exact code,
so what the web accepts is what the device applies. That is why it uses the Python standard
library only and runs on Python 3.11 (Debian bookworm inside the image) as well as 3.12+.

Behaviour follows ``SYSTEM_INI.md``; the shared sample corpus in ``tests/data/system_ini``
pins it down. In short:

- the file may come from Notepad, TextEdit or vi (any BOM / encoding / line ending);
- a bad value never stops the rest from applying: the key is rejected with a plain-English
  reason, and a rejected network setting makes the device fall back to DHCP;
- secrets (``wifi_key``, app settings that look like passwords) never appear in a repr,
  a status file or a rejection reason.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

__all__ = [
    "APP_SETTING_TYPES",
    "DEFAULT_ZONEINFO_DIR",
    "KNOWN_KEYS",
    "NETWORK_KEYS",
    "SECRET_MASK",
    "STATUS_FILE_NAME",
    "WIFI_KEYS",
    "AppSetting",
    "ParsedIni",
    "SystemIniResult",
    "decode_ini_bytes",
    "is_secret_key",
    "parse_ini",
    "parse_status_report",
    "render_system_ini",
    "rewrite_setting",
    "single_line_problem",
    "status_report",
    "validate_system_ini",
    "validate_values",
]

# Written next to system.ini on the boot partition; named so it sorts beside it in Explorer.
STATUS_FILE_NAME = "system-status.txt"
DEFAULT_ZONEINFO_DIR = Path("/usr/share/zoneinfo")
SECRET_MASK = "********"

NETWORK_KEYS = ("ip_address", "ip_gateway", "dns", "interface")
WIFI_KEYS = ("wifi_ssid", "wifi_key", "wifi_country")
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

# A binary file fed to the parser would otherwise produce thousands of identical complaints.
_MAX_PROBLEMS = 50
_TRUE_WORDS = frozenset({"1", "yes", "true", "on"})
_FALSE_WORDS = frozenset({"0", "no", "false", "off"})
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
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_TZ_RE = re.compile(r"[A-Z][A-Za-z0-9_+\-]{0,29}(?:/[A-Z][A-Za-z0-9_+\-]{0,29}){0,2}\Z")
_LOCALE_RE = re.compile(
    r"(?:C|POSIX|[a-z]{2,3}(?:_[A-Z]{2})?)(?:\.[A-Za-z0-9][A-Za-z0-9\-]*)?(?:@[A-Za-z0-9]+)?\Z"
)
_HEX64_RE = re.compile(r"[0-9A-Fa-f]{64}\Z")
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
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

# ISO 3166-1 alpha-2, officially assigned codes (249). Embedded rather than read from the
# image so the web side and the device agree even where tzdata's iso3166.tab is missing.
_COUNTRY_CODES_TEXT = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
_COUNTRY_CODES = frozenset(_COUNTRY_CODES_TEXT.split())


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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _decode(raw: bytes) -> tuple[str, bytes, str]:
    """Decode *raw* and say how it was encoded: ``(text, bom, codec)``; never raises.

    Without a BOM we try UTF-8, then Windows-1252 (what Notepad's "ANSI" means on a Western
    Windows), then latin-1, which accepts any byte sequence.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            # A BOM followed by broken data (a truncated copy): keep what can be read.
            return raw[len(bom) :].decode(codec, errors="replace"), bom, codec
    for codec in ("utf-8", "cp1252"):
        try:
            return raw.decode(codec), b"", codec
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), b"", "latin-1"


def _normalise_newlines(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def decode_ini_bytes(raw: bytes) -> str:
    """Turn the bytes of a system.ini into text with ``\\n`` line ends; never raises.

    Accepts UTF-8 with or without BOM, UTF-16 LE/BE with BOM (Notepad's "Unicode"),
    falls back to Windows-1252 / latin-1, and maps CRLF (Windows), CR (old Mac) and LF to LF.
    """
    return _normalise_newlines(_decode(raw)[0])


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ParsedIni:
    """The raw key/value content of a system.ini, before any value is checked.

    ``top`` holds keys written before any ``[section]``; ``sections`` the app sections, by
    lowercase name. Key names are lowercased. ``lines`` maps ``(section, key)`` to the line the
    key starts on, with ``""`` as the section of top-level keys. ``problems`` lists lines that
    were ignored or overridden, with their line numbers.
    """

    top: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"ParsedIni(top={_masked(self.top)!r}, "
            f"sections={_masked_sections(self.sections)!r}, "
            f"lines={self.lines!r}, problems={self.problems!r})"
        )


def _unquote(value: str) -> str:
    """Strip one pair of double quotes: the way to keep leading/trailing spaces in a value."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _snippet(text: str, limit: int = 40) -> str:
    """A printable, bounded echo of user text for problem messages (binary files happen)."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def _starts_with_ssh_key_type(stripped: str) -> bool:
    return stripped.split(None, 1)[0] in _SSH_KEY_TYPES


class _IniReader:
    """Line-by-line state machine behind :func:`parse_ini`."""

    def __init__(self) -> None:
        self.top: dict[str, str] = {}
        self.sections: dict[str, dict[str, str]] = {}
        self.lines: dict[tuple[str, str], int] = {}
        self.problems: list[str] = []
        self.extra_problems = 0
        # None = inside a broken section header: its keys are ignored, not misfiled.
        self.section: str | None = ""
        self.broken_header_line = 0
        # The key that a continuation line would extend; None after a blank line or header.
        self.current: tuple[str, str] | None = None
        # For rewrite_setting(): last physical line of each value, first header line.
        self.ends: dict[tuple[str, str], int] = {}
        self.first_section_line: int | None = None

    def problem(self, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.extra_problems += 1

    def feed(self, number: int, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self.current = None
            return
        if stripped[0] in ";#":
            # A comment does not end a value, so a note may sit between two SSH keys.
            return
        if self.is_continuation(line, stripped):
            self.extend_value(number, stripped)
        elif stripped[0] == "[":
            self.start_section(number, stripped)
        else:
            self.read_setting(number, line, stripped)

    def is_continuation(self, line: str, stripped: str) -> bool:
        if self.current is None or _SETTING_SHAPE_RE.match(stripped):
            return False
        if _SECTION_RE.match(stripped):
            return False
        # An unindented SSH key right under ssh_pubkey is what people write; accept it.
        under_ssh = self.current[1] == "ssh_pubkey" and _starts_with_ssh_key_type(stripped)
        return line[0] in " \t" or under_ssh

    def extend_value(self, number: int, stripped: str) -> None:
        assert self.current is not None
        self.ends[self.current] = number
        section, key = self.current
        target = self.top if section == "" else self.sections[section]
        piece = _unquote(stripped)
        target[key] = f"{target[key]}\n{piece}" if target[key] else piece

    def start_section(self, number: int, stripped: str) -> None:
        self.current = None
        if self.first_section_line is None:
            self.first_section_line = number
        match = _SECTION_RE.match(stripped)
        name = match.group(1).strip().lower() if match else ""
        if not name or _CONTROL_RE.search(name):
            self.problem(
                f"line {number}: not a valid [section] header; the lines below it are ignored"
            )
            self.section = None
            self.broken_header_line = number
            return
        self.section = name
        self.sections.setdefault(name, {})

    def read_setting(self, number: int, line: str, stripped: str) -> None:
        self.current = None
        # Base64 padding puts "=" in some SSH keys: recognise them before splitting at "=".
        if "=" not in stripped or _starts_with_ssh_key_type(stripped):
            self.problem(f"line {number}: {self.why_not_a_setting(line, stripped)}; line ignored")
            return
        if self.section is None:
            self.problem(
                f"line {number}: ignored because the section header on line "
                f"{self.broken_header_line} is not valid"
            )
            return
        raw_name, _, raw_value = stripped.partition("=")
        name = raw_name.strip()
        if not _KEY_NAME_RE.match(name):
            self.problem(
                f"line {number}: '{_snippet(name)}' is not a valid setting name; line ignored"
            )
            return
        self.store(number, name.lower(), _unquote(raw_value.strip()))

    @staticmethod
    def why_not_a_setting(line: str, stripped: str) -> str:
        if _starts_with_ssh_key_type(stripped):
            return "looks like an SSH key but is not right under 'ssh_pubkey ='"
        if line[0] in " \t":
            return "starts with a space but there is no setting right above it to continue"
        return "not a setting (expected name = value)"

    def store(self, number: int, key: str, value: str) -> None:
        section = self.section or ""
        target = self.top if section == "" else self.sections[section]
        first_line = self.lines.get((section, key))
        if first_line is not None:
            where = f"[{section}] " if section else ""
            self.problem(
                f"line {number}: {where}{key} is set again (also on line {first_line}); "
                "the last one counts"
            )
        target[key] = value
        self.lines[(section, key)] = number
        self.ends[(section, key)] = number
        self.current = (section, key)

    def result(self) -> ParsedIni:
        problems = list(self.problems)
        if self.extra_problems:
            problems.append(f"... and {self.extra_problems} more lines with problems")
        return ParsedIni(self.top, self.sections, self.lines, problems)


def parse_ini(raw: bytes | str) -> ParsedIni:
    """Parse system.ini content (bytes as read from the card, or text); never raises.

    Rules (shared by web and device): ``;``/``#`` comment lines; ``name = value`` with any
    spacing and key names in any case (lowercased); values may be wrapped in double quotes;
    a line starting with whitespace continues the previous value (joined with ``\\n``);
    a blank line ends a value; the last of duplicate keys wins. No inline comments: ``;`` and
    ``#`` are legal inside Wi-Fi passwords.
    """
    text = decode_ini_bytes(raw) if isinstance(raw, bytes) else _normalise_newlines(raw)
    return _read_lines(text.split("\n")).result()


def _read_lines(lines: Iterable[str]) -> _IniReader:
    reader = _IniReader()
    for number, line in enumerate(lines, start=1):
        reader.feed(number, line)
    return reader


# --------------------------------------------------------------------------------------------
# App settings (declared by a blueprint)
# --------------------------------------------------------------------------------------------


class _Invalid(ValueError):
    """A value was rejected; ``str(exc)`` is the reason shown to a technician."""


def single_line_problem(text: str) -> str | None:
    """Why ``text`` cannot be (part of) one value line of system.ini, or ``None`` if it can.

    Names the offending character by its code, never the text itself (it may be a secret).
    """
    match = _UNSAFE_RE.search(text)
    if match is None:
        return None
    char = match.group()
    if _LINE_BREAK_RE.match(char):
        what = "a line break"
    elif "\ud800" <= char <= "\udfff":
        what = "a broken character"
    else:
        what = "a control character"
    return f"contains {what} (U+{ord(char):04X}); it must be a single line of plain text"


def _require_one_line(text: str) -> str:
    problem = single_line_problem(text)
    if problem:
        raise _Invalid(problem)
    return text


def _parse_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise _Invalid("must be yes or no (also accepted: 1/0, true/false, on/off)")


@dataclass(frozen=True, repr=False)
class AppSetting:
    """A setting a blueprint declares for its own services, shown in its own ``[section]``.

    ``type`` is one of ``string``, ``int``, ``bool``, ``choice``; ``default`` is coerced to
    that type (a ``ValueError`` explains a default that does not fit, for blueprint forms);
    ``choices`` is required for ``choice``. Section and key are stored lowercase.
    """

    section: str
    key: str
    type: str = "string"
    default: object = None
    help: str = ""
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, name in (("section", self.section), ("key", self.key)):
            if not isinstance(name, str) or not _KEY_NAME_RE.match(name):
                raise ValueError(f"setting {label} {name!r}: use letters, digits, _ . or -")
        if self.type not in APP_SETTING_TYPES:
            raise ValueError(f"setting type {self.type!r}: use one of {sorted(APP_SETTING_TYPES)}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"setting {self.section}.{self.key}: a choice needs choices")
        for choice in self.choices:
            # A choice is a value the file may hold, so the same one-line rule applies.
            problem = single_line_problem(str(choice))
            if problem or not str(choice).strip():
                raise ValueError(
                    f"setting {self.section}.{self.key}: choice {_snippet(str(choice))!r} "
                    f"{problem or 'is empty'}"
                )
        # Frozen dataclass: normalise through object.__setattr__ once, at construction.
        object.__setattr__(self, "section", self.section.lower())
        object.__setattr__(self, "key", self.key.lower())
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        object.__setattr__(self, "default", self._coerced_default())

    def _coerced_default(self) -> object:
        if self.default is None:
            return None
        # Blueprints may store defaults typed (8080, True) or as text ("8080", "yes").
        default = self.default
        if not isinstance(default, (bool, int, str)):
            default = str(default)
        try:
            return self.check(default)
        except _Invalid as exc:
            raise ValueError(f"default of {self.name}: {exc}") from None

    def __repr__(self) -> str:
        default = SECRET_MASK if is_secret_key(self.name) and self.default else self.default
        return (
            f"AppSetting(section={self.section!r}, key={self.key!r}, type={self.type!r}, "
            f"default={default!r}, help={self.help!r}, choices={self.choices!r})"
        )

    @property
    def name(self) -> str:
        """``section.key``: how the setting is named in ``unknown`` and ``rejected``."""
        return f"{self.section}.{self.key}"

    def coerce(self, value: str) -> object:
        """Turn the text from system.ini into this setting's type.

        Raises a ``ValueError`` whose message is the reason shown to the technician.
        """
        shown = SECRET_MASK if is_secret_key(self.name) else f"'{_snippet(value)}'"
        if self.type == "int":
            if not _INT_RE.match(value):
                raise _Invalid(f"{shown} is not a whole number")
            return int(value)
        if self.type == "bool":
            return _parse_bool(value)
        if self.type == "choice":
            for choice in self.choices:
                if choice.lower() == value.lower():
                    return choice
            raise _Invalid(f"{shown} is not one of: {', '.join(self.choices)}")
        return _require_one_line(value)

    def check(self, value: object) -> object:
        """Like :meth:`coerce`, for a value given as data (the web's case) rather than text.

        Text is coerced after the one-line check, without spaces at its edges (as the device
        reads it); a bool or a whole number is taken as it is when the type fits. Raises a
        ``ValueError`` whose message is the reason.
        """
        if isinstance(value, bool):
            if self.type == "bool":
                return value
            value = "yes" if value else "no"
        elif isinstance(value, int):
            if self.type == "int":
                return value
            value = str(value)
        if not isinstance(value, str):
            raise _Invalid("must be text")
        # The device strips what it reads, so spaces at the edges would not survive the file.
        stripped = _require_one_line(value).strip()
        if value and not stripped:
            raise _Invalid("is only spaces")
        return self.coerce(stripped)


# --------------------------------------------------------------------------------------------
# Checks for the known keys. Each takes the text from the file and returns the typed value,
# or raises _Invalid with a reason a technician can act on.
# --------------------------------------------------------------------------------------------


def _check_hostname(value: str) -> str:
    if len(value) > 63:
        raise _Invalid(f"is {len(value)} characters long; a host name can have at most 63")
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise _Invalid(
            f"'{_snippet(value)}' may contain only letters a-z, digits and hyphens "
            "(no dots, spaces or underscores)"
        )
    if not _LABEL_RE.match(value):
        raise _Invalid(f"'{value}' must not start or end with a hyphen")
    return value


def _zone_exists(name: str, zoneinfo_dir: Path) -> bool:
    path = zoneinfo_dir / name
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"TZif"
    except OSError:
        return False


def _zone_spelled_differently(name: str, zoneinfo_dir: Path) -> str | None:
    """Find ``Asia/Tokyo`` when someone wrote ``asia/tokyo``, to suggest it."""
    wanted = name.lower()
    for path in zoneinfo_dir.rglob("*"):
        candidate = path.relative_to(zoneinfo_dir).as_posix()
        if candidate.lower() == wanted and _TZ_RE.match(candidate):
            return candidate
    return None


def _check_timezone(value: str, zoneinfo_dir: Path | None) -> str:
    # The pattern applies in both modes so web (maybe without tzdata) and device agree on
    # shape, and so a name like "../../etc/passwd" never reaches the filesystem.
    shaped = _TZ_RE.match(value) is not None
    if shaped and (zoneinfo_dir is None or _zone_exists(value, zoneinfo_dir)):
        return value
    better = _zone_spelled_differently(value, zoneinfo_dir) if zoneinfo_dir else None
    hint = f"; did you mean {better}?" if better else ""
    raise _Invalid(
        f"'{_snippet(value)}' is not a known time zone (use a name like Asia/Tokyo{hint})"
    )


def _check_locale(value: str) -> str:
    if not _LOCALE_RE.match(value):
        raise _Invalid(f"'{_snippet(value)}' does not look like a locale such as en_US.UTF-8")
    return value


def _read_ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise _Invalid("its key data is cut short (copy the whole line again)")
    length = int.from_bytes(blob[offset : offset + 4], "big")
    end = offset + 4 + length
    if end > len(blob):
        raise _Invalid("its key data is cut short (copy the whole line again)")
    return blob[offset + 4 : end], end


def _ssh_blob_fields(blob: bytes) -> list[bytes]:
    fields: list[bytes] = []
    offset = 0
    while offset < len(blob):
        value, offset = _read_ssh_string(blob, offset)
        fields.append(value)
    return fields


def _check_ssh_blob(key_type: str, blob: bytes) -> None:
    fields = _ssh_blob_fields(blob)
    if not fields or fields[0] != key_type.encode():
        inner = _snippet(fields[0].decode("latin-1")) if fields else "nothing"
        raise _Invalid(f"says {key_type} but its key data is a {inner} key")
    if len(fields) != _SSH_KEY_TYPES[key_type]:
        raise _Invalid("its key data is damaged (copy the whole line again)")
    if key_type.endswith("ed25519") or key_type.startswith("sk-ssh-ed25519"):
        if len(fields[1]) != 32:
            raise _Invalid("its key data is damaged (copy the whole line again)")
    elif "ecdsa" in key_type:
        curve = key_type.split("@", 1)[0].rsplit("-", 1)[-1]
        if fields[1] != curve.encode():
            raise _Invalid("its key data is damaged (the curve does not match the key type)")
    elif key_type == "ssh-rsa":
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < 1024:
            raise _Invalid(f"RSA key of {bits} bits is too short; OpenSSH needs at least 1024")


def _check_one_ssh_key(line: str) -> str:
    parts = line.split(None, 2)
    if parts[0] == "ssh-dss":
        raise _Invalid("DSA keys are no longer accepted by OpenSSH; use an ssh-ed25519 key")
    if parts[0] not in _SSH_KEY_TYPES:
        raise _Invalid(
            f"does not start with a key type such as ssh-ed25519 or ssh-rsa "
            f"(starts with '{_snippet(parts[0], 20)}')"
        )
    if len(parts) < 2:
        raise _Invalid("has a key type but no key data")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid("its key data is not valid base64 (copy the whole line again)") from None
    _check_ssh_blob(parts[0], blob)
    return " ".join(parts)


def _check_ssh_keys(keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return ``(good keys, reasons for bad ones)``: one bad key must not lock out the rest."""
    good: list[str] = []
    bad: list[str] = []
    for number, key in enumerate(keys, start=1):
        try:
            good.append(_check_one_ssh_key(_require_one_line(key)))
        except _Invalid as exc:
            label = f"key {number} of {len(keys)}" if len(keys) > 1 else "the key"
            bad.append(f"{label} {exc}")
    return good, bad


def _check_ip_address(value: str) -> str:
    if "/" not in value:
        raise _Invalid(f"'{_snippet(value)}' needs a /prefix, e.g. 192.168.1.10/24")
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        raise _Invalid(f"'{_snippet(value)}' is not a valid IP address with /prefix") from None
    address, network = interface.ip, interface.network
    if address.is_loopback or address.is_multicast or address.is_unspecified:
        raise _Invalid(f"'{value}' cannot be used as a device's own address")
    host_bits = network.max_prefixlen - network.prefixlen
    if host_bits >= 2 and address == network.network_address:
        raise _Invalid(f"'{value}' is the network's own address, not a device address")
    if address.version == 4 and host_bits >= 2 and address == network.broadcast_address:
        raise _Invalid(f"'{value}' is the network's broadcast address, not a device address")
    return str(interface)


def _check_ip_gateway(value: str, own: str | None) -> str:
    if own is None:
        raise _Invalid("a gateway needs a static ip_address as well; without one DHCP is used")
    try:
        gateway = ipaddress.ip_address(value)
    except ValueError:
        hint = " (write it without /prefix)" if "/" in value else ""
        raise _Invalid(f"'{_snippet(value)}' is not a valid IP address{hint}") from None
    interface = ipaddress.ip_interface(own)
    if gateway.version != interface.version:
        raise _Invalid(
            f"'{value}' is IPv{gateway.version} but ip_address is IPv{interface.version}"
        )
    if gateway == interface.ip:
        raise _Invalid(f"'{value}' is the device's own address")
    # IPv6 routers are usually reached by their link-local address, outside the prefix.
    if not (gateway in interface.network or (gateway.version == 6 and gateway.is_link_local)):
        raise _Invalid(f"'{value}' is not in the network of ip_address ({interface.network})")
    return str(gateway)


def _split_list(value: str) -> list[str]:
    return [item for item in _LIST_SPLIT_RE.split(value) if item]


def _check_dns(items: Sequence[str]) -> list[str]:
    servers: list[str] = []
    for item in items:
        # Outside the try: the reason for a control character must not become "not an IP".
        _require_one_line(item)
        try:
            servers.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise _Invalid(f"DNS servers must be IP addresses; '{_snippet(item)}' is not") from None
    return servers


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and all(_LABEL_RE.match(label) for label in labels)


def _check_ntp(items: Sequence[str]) -> list[str]:
    servers: list[str] = []
    for item in items:
        _require_one_line(item)
        try:
            servers.append(str(ipaddress.ip_address(item)))
        except ValueError:
            if not _is_host_name(item):
                raise _Invalid(f"'{_snippet(item)}' is not a host name or IP address") from None
            servers.append(item)
    return servers


def _check_interface(value: str) -> str:
    # The kernel's dev_valid_name(): under 16 bytes, not "." or "..", no "/", ":" or spaces.
    if len(value.encode()) > 15:
        raise _Invalid(f"'{_snippet(value)}' is too long for a network interface name (max 15)")
    if value in {".", ".."} or not re.fullmatch(r"[^\s/:]+", value) or not value.isprintable():
        raise _Invalid(f"'{_snippet(value)}' is not a valid network interface name, e.g. eth0")
    return value


def _check_wifi_ssid(value: str) -> str:
    if len(value.encode()) > 32:
        raise _Invalid("a Wi-Fi network name can be at most 32 bytes long")
    return _require_one_line(value)


def _check_wifi_key(value: str) -> str:
    # Never echo the key itself: this reason ends up in the status file and in logs.
    if _HEX64_RE.match(value):
        return value
    if not all(" " <= ch <= "~" for ch in value):
        raise _Invalid("may contain only plain ASCII letters, digits, spaces and punctuation")
    if not 8 <= len(value) <= 63:
        raise _Invalid(f"must be 8 to 63 characters (or 64 hex digits); this one has {len(value)}")
    return value


def _check_wifi_country(value: str) -> str:
    code = value.upper()
    if code not in _COUNTRY_CODES:
        raise _Invalid(f"'{_snippet(value)}' is not a two-letter country code such as JP or DE")
    return code


_TEXT_CHECKS: dict[str, Callable[[str], object]] = {
    "hostname": _check_hostname,
    "locale": _check_locale,
    "wifi_ssid": _check_wifi_ssid,
    "wifi_key": _check_wifi_key,
    "wifi_country": _check_wifi_country,
}


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


def _reason(exc: _Invalid, value: object, from_file: bool) -> str:
    """The rejection reason, plus a hint when a trailing comment is the likely culprit."""
    text = value if isinstance(value, str) else ""
    if from_file and (" ;" in text or " #" in text):
        return f"{exc} (notes after a value are not allowed: put them on their own line)"
    return str(exc)


def _check_simple(key: str, value: object, zoneinfo_dir: Path | None, from_file: bool) -> object:
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        return _parse_bool(_text(str(value) if isinstance(value, int) else value))
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
            rejected[key] = _reason(exc, given[key], from_file)


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
            failed[key] = _reason(exc, given[key], from_file)
    if not failed:
        values.update(checked)
        return False
    cause = next(iter(failed))
    for key in checked:
        failed[key] = f"ignored because {cause} was rejected; the device uses DHCP instead"
    rejected.update({key: failed[key] for key in NETWORK_KEYS if key in failed})
    return True


def _validate_wifi(
    given: Mapping[str, object],
    capabilities: frozenset[str],
    values: dict[str, object],
    rejected: dict[str, str],
) -> None:
    present = [key for key in WIFI_KEYS if key in given]
    if "wifi" not in capabilities:
        rejected.update({key: "this device has no Wi-Fi" for key in present})
        return
    for key in present:
        try:
            values[key] = _TEXT_CHECKS[key](_text(given[key]))
        except _Invalid as exc:
            rejected[key] = str(exc)
    if "wifi_key" in given and "wifi_ssid" not in values:
        values.pop("wifi_key", None)
        rejected["wifi_key"] = (
            "ignored because wifi_ssid was rejected"
            if "wifi_ssid" in given
            else "wifi_key is set but wifi_ssid (the network name) is not"
        )


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
    "interface": ("Wired interface that gets the fixed address (default: the first one).", "eth0"),
    "wifi_ssid": ("Name of the Wi-Fi network to join.", "MyNetwork"),
    "wifi_key": ("Wi-Fi password (8 to 63 characters).", "my wifi password"),
    "wifi_country": ("Country the device is used in (two letters), for Wi-Fi rules.", "JP"),
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
    notes: Sequence[str] = (),
) -> str:
    """Format the status file (CRLF line ends) a device writes next to system.ini.

    ``result`` is what :func:`validate_system_ini` returned on the device; ``image`` the
    appliance name (``/.genpack/artifact``, maybe with the profile); ``build`` the build id;
    ``time`` defaults to now (UTC); ``addresses`` maps interface -> addresses it got;
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
    ``summary``) as strings; ``applied`` and ``rejected`` as ``{key: text}``; ``addresses``
    as ``{interface: [address, ...]}``; ``unknown``, ``problems`` and ``notes`` as lists.
    Never raises; a damaged file gives whatever could be read.
    """
    body = decode_ini_bytes(text) if isinstance(text, bytes) else _normalise_newlines(text)
    report: dict[str, object] = {
        "applied": {},
        "rejected": {},
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
