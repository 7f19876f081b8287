"""The check of each known key: text in, typed value out, or a reason a technician can act on."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .keys import _LINE_BREAK_RE, _LIST_SPLIT_RE, _SSH_KEY_TYPES, _UNSAFE_RE, _snippet

_TRUE_WORDS = frozenset({"1", "yes", "true", "on"})
_FALSE_WORDS = frozenset({"0", "no", "false", "off"})

_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_TZ_RE = re.compile(r"[A-Z][A-Za-z0-9_+\-]{0,29}(?:/[A-Z][A-Za-z0-9_+\-]{0,29}){0,2}\Z")
_LOCALE_RE = re.compile(
    r"(?:C|POSIX|[a-z]{2,3}(?:_[A-Z]{2})?)(?:\.[A-Za-z0-9][A-Za-z0-9\-]*)?(?:@[A-Za-z0-9]+)?\Z"
)
_HEX64_RE = re.compile(r"[0-9A-Fa-f]{64}\Z")

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


# --------------------------------------------------------------------------------------------
# Checks for the known keys. Each takes the text from the file and returns the typed value,
# or raises _Invalid with a reason a technician can act on.
# --------------------------------------------------------------------------------------------


_HOSTNAME_ALLOWED = "a host name may contain only letters a-z, digits and hyphens, e.g. kiosk-01"


def _check_hostname(value: str) -> str:
    if len(value) > 63:
        raise _Invalid(f"is {len(value)} characters long; a host name can have at most 63")
    if stray := re.search(r"[^A-Za-z0-9-]", value):
        char = stray.group()
        what = "a space" if char == " " else f"'{_snippet(char)}'"
        raise _Invalid(f"'{_snippet(value)}' has {what}: {_HOSTNAME_ALLOWED}")
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
        raise _Invalid("is cut short (copy the whole line from the .pub file again)")
    length = int.from_bytes(blob[offset : offset + 4], "big")
    end = offset + 4 + length
    if end > len(blob):
        raise _Invalid("is cut short (copy the whole line from the .pub file again)")
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
        raise _Invalid(f"says {key_type} at the start, but the key inside is {inner}")
    if len(fields) != _SSH_KEY_TYPES[key_type]:
        raise _Invalid("is damaged (copy the whole line from the .pub file again)")
    if key_type.endswith("ed25519") or key_type.startswith("sk-ssh-ed25519"):
        if len(fields[1]) != 32:
            raise _Invalid("is damaged (copy the whole line from the .pub file again)")
    elif "ecdsa" in key_type:
        curve = key_type.split("@", 1)[0].rsplit("-", 1)[-1]
        if fields[1] != curve.encode():
            raise _Invalid("is damaged: its curve does not match the key type at the start")
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
        raise _Invalid(
            f"is damaged: the long part after {parts[0]} is not a key "
            "(copy the whole line from the .pub file again)"
        ) from None
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
        raise _Invalid("a gateway needs ip_address to be set too; without it DHCP is used")
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
