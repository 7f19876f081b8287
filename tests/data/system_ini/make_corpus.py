"""Write the shared system.ini sample corpus: ``NAME.ini`` + ``NAME.expected.json``.

Run ``python3 tests/data/system_ini/make_corpus.py`` after changing a case. Several samples
are byte-exact encodings (UTF-16 with BOM, CR-only, Windows-1252, binary garbage) that an
editor would silently "fix", so the files are generated, and a test checks they match.

The expectations are written here by hand, deliberately without importing the module under
test: the corpus is the contract both the web validator and the on-device agent must meet.

Expected JSON: ``capabilities``, ``values`` (exact), ``rejected`` (key -> a substring of the
reason), ``unknown`` (any order), ``network_fallback``; optionally ``app_settings`` (passed to
the validator), ``app_sections`` (exact) and ``problems`` (substrings that must each appear in
some parser problem; when absent the file must parse without problems).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ETHERNET = ["ethernet"]
WIFI = ["ethernet", "wifi"]


# -- deterministic SSH public keys (structurally valid; nobody holds their private halves) --


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _mpint(number: int) -> bytes:
    raw = number.to_bytes((number.bit_length() + 8) // 8, "big")  # leading 0 keeps it positive
    return _ssh_string(raw)


def _seed_bytes(seed: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


def ed25519_key(comment: str) -> str:
    blob = _ssh_string(b"ssh-ed25519") + _ssh_string(_seed_bytes(comment, 32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


def rsa_blob(seed: str) -> bytes:
    modulus = int.from_bytes(_seed_bytes(seed, 256), "big") | (1 << 2047) | 1
    return _ssh_string(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)


def rsa_key(comment: str) -> str:
    return f"ssh-rsa {base64.b64encode(rsa_blob(comment)).decode()} {comment}"


def ecdsa_key(comment: str) -> str:
    point = b"\x04" + _seed_bytes(comment, 64)
    blob = _ssh_string(b"ecdsa-sha2-nistp256") + _ssh_string(b"nistp256") + _ssh_string(point)
    return f"ecdsa-sha2-nistp256 {base64.b64encode(blob).decode()} {comment}"


ALICE = ed25519_key("alice@laptop")
BOB = rsa_key("bob@desk")
CAROL = ecdsa_key("carol")
DAVE = ed25519_key("dave@phone")
ERIN = ed25519_key("erin")
# Says ed25519 on the outside, holds an RSA key inside: a pasted-together line.
MALLORY = f"ssh-ed25519 {base64.b64encode(rsa_blob('mallory')).decode()} mallory"


# -- cases --


@dataclass
class Case:
    name: str
    text: str = ""
    expected: dict[str, object] = field(default_factory=dict)
    newline: str = "\n"
    encoding: str = "utf-8"  # utf-8, utf-8-sig, utf-16-le-bom, utf-16-be-bom, cp1252
    final_newline: bool = True
    raw: bytes | None = None  # exact bytes, for files no editor would write

    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        body = self.newline.join(lines) + (self.newline if self.final_newline and lines else "")
        if self.encoding == "utf-16-le-bom":
            return b"\xff\xfe" + body.encode("utf-16-le")
        if self.encoding == "utf-16-be-bom":
            return b"\xfe\xff" + body.encode("utf-16-be")
        return body.encode(self.encoding)


def expect(
    *,
    values: dict[str, object] | None = None,
    rejected: dict[str, str] | None = None,
    unknown: list[str] | None = None,
    network_fallback: bool = False,
    capabilities: list[str] | None = None,
    **extra: object,
) -> dict[str, object]:
    return {
        "capabilities": capabilities or ETHERNET,
        "values": values or {},
        "rejected": rejected or {},
        "unknown": unknown or [],
        "network_fallback": network_fallback,
        **extra,
    }


def garbage() -> bytes:
    """A PNG header and noise around one good line: the good line still applies.

    The noise holds no '=' or '[' so that what it parses into stays predictable.
    """
    noise = random.Random(1234)

    def chunk(size: int) -> bytes:
        return bytes(b for b in noise.randbytes(size) if b not in b"=[")

    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        + chunk(2000)
        + b"\nhostname=survivor\n\n"
        + chunk(2000)
    )


APP_SETTINGS = [
    {
        "section": "kiosk",
        "key": "url",
        "type": "string",
        "default": "http://localhost:8080/",
        "help": "Page the screen shows after start-up.",
    },
    {
        "section": "kiosk",
        "key": "rotate",
        "type": "choice",
        "default": "0",
        "choices": ["0", "90", "180", "270"],
        "help": "Screen rotation in degrees.",
    },
    {"section": "kiosk", "key": "idle_minutes", "type": "int", "default": 10, "help": "Idle."},
    {"section": "kiosk", "key": "show_cursor", "type": "bool", "default": False, "help": ""},
    {"section": "mqtt", "key": "broker", "type": "string", "default": "mqtt.local", "help": ""},
    {"section": "mqtt", "key": "port", "type": "int", "default": 1883, "help": "Broker port."},
]

CASES = [
    Case(
        "notepad_utf16le_crlf",
        "; Lobby kiosk - \u6771\u4eac office\nhostname=lobby-kiosk\ntimezone=Asia/Tokyo\n"
        "locale=ja_JP.UTF-8\nautologin=yes\n",
        expect(
            values={
                "hostname": "lobby-kiosk",
                "timezone": "Asia/Tokyo",
                "locale": "ja_JP.UTF-8",
                "autologin": True,
            }
        ),
        newline="\r\n",
        encoding="utf-16-le-bom",
    ),
    Case(
        "utf16be_bom",
        "hostname=big-endian\ndebug=no\n",
        expect(values={"hostname": "big-endian", "debug": False}),
        newline="\r\n",
        encoding="utf-16-be-bom",
    ),
    Case(
        "utf8_bom",
        "hostname=bom-test\nntp=ntp.nict.jp, 192.168.1.1\ndebug=On\n",
        expect(
            values={"hostname": "bom-test", "ntp": ["ntp.nict.jp", "192.168.1.1"], "debug": True}
        ),
        encoding="utf-8-sig",
    ),
    Case(
        "mac_cr_only",
        "hostname=old-mac\ntimezone=Europe/Berlin\nfactory_reset=no\n",
        expect(values={"hostname": "old-mac", "timezone": "Europe/Berlin", "factory_reset": False}),
        newline="\r",
    ),
    Case(
        "no_final_newline",
        "hostname=last-line\ndns=1.1.1.1",
        expect(values={"hostname": "last-line", "dns": ["1.1.1.1"]}),
        newline="\r\n",
        final_newline=False,
    ),
    Case(
        "mixed_case_keys",
        "HOSTNAME=Mixed-Case\nTimeZone=UTC\nAutoLogin=TRUE\nDeBuG=off\n",
        expect(
            values={
                "hostname": "Mixed-Case",
                "timezone": "UTC",
                "autologin": True,
                "debug": False,
            }
        ),
    ),
    Case(
        "comments",
        "; semicolon comment\n# hash comment\n   ; indented comment\nhostname=commented\n"
        ";timezone=Asia/Tokyo\n#locale=de_DE.UTF-8\n; wifi_key=not-a-setting\n\n",
        expect(values={"hostname": "commented"}),
    ),
    Case(
        "spaces_around_equals",
        "hostname   =   spaced\n\ttimezone\t=\tAmerica/New_York\nlocale= en_GB.UTF-8   \n"
        "  autologin =off\n",
        expect(
            values={
                "hostname": "spaced",
                "timezone": "America/New_York",
                "locale": "en_GB.UTF-8",
                "autologin": False,
            }
        ),
    ),
    Case("empty", "", expect()),
    Case("blank_lines_only", "\n  \n\t\n", expect(), newline="\r\n"),
    Case(
        "garbage_binary",
        expected=expect(values={"hostname": "survivor"}, problems=["not a setting"]),
        raw=garbage(),
    ),
    Case(
        "invalid_ip_dhcp_fallback",
        "hostname=shop-12\nip_address=192.168.1.300/24\nip_gateway=192.168.1.1\n"
        "dns=192.168.1.1 8.8.8.8\n",
        expect(
            values={"hostname": "shop-12"},
            rejected={
                "ip_address": "not a valid IP address",
                "ip_gateway": "ignored because ip_address was rejected",
                "dns": "ignored because ip_address was rejected",
            },
            network_fallback=True,
        ),
        newline="\r\n",
    ),
    Case(
        "ip_without_prefix",
        "ip_address=192.168.1.10\nip_gateway=192.168.1.1\n",
        expect(
            rejected={
                "ip_address": "needs a /prefix",
                "ip_gateway": "ignored because ip_address was rejected",
            },
            network_fallback=True,
        ),
    ),
    Case(
        "gateway_outside_subnet",
        "ip_address=192.168.10.20/24\nip_gateway=192.168.11.1\ndns=1.1.1.1\n",
        expect(
            rejected={
                "ip_gateway": "not in the network of ip_address",
                "ip_address": "ignored because ip_gateway was rejected",
                "dns": "ignored because ip_gateway was rejected",
            },
            network_fallback=True,
        ),
    ),
    Case(
        "gateway_without_address",
        "hostname=half-static\nip_gateway=192.168.1.1\n",
        expect(
            values={"hostname": "half-static"},
            rejected={"ip_gateway": "needs ip_address to be set too"},
            network_fallback=True,
        ),
    ),
    Case(
        "hostname_with_a_note",
        "hostname=kiosk-01 # lobby\ntimezone=Asia/Tokyo ; head office\n",
        expect(
            rejected={
                "hostname": "notes after a value are not allowed",
                "timezone": "notes after a value are not allowed",
            }
        ),
    ),
    Case(
        "hostname_with_a_hash",
        "hostname=kiosk#1\n",
        expect(rejected={"hostname": "'kiosk#1' has '#': a host name may contain only letters"}),
    ),
    Case(
        "dns_not_an_address",
        "dns=dns.google\n",
        expect(rejected={"dns": "must be IP addresses"}, network_fallback=True),
    ),
    Case(
        "static_ipv4",
        "ip_address = 10.1.2.3/16\nip_gateway = 10.1.0.1\ndns = 10.1.0.53, 10.1.0.54\n"
        "interface = eth1\n",
        expect(
            values={
                "ip_address": "10.1.2.3/16",
                "ip_gateway": "10.1.0.1",
                "dns": ["10.1.0.53", "10.1.0.54"],
                "interface": "eth1",
            }
        ),
    ),
    Case(
        "ipv6_static",
        "ip_address=2001:DB8:0:1:0:0:0:10/64\nip_gateway=fe80::1\n"
        "dns=2001:4860:4860::8888,2001:4860:4860::8844\ninterface=enp1s0\n",
        expect(
            values={
                "ip_address": "2001:db8:0:1::10/64",
                "ip_gateway": "fe80::1",
                "dns": ["2001:4860:4860::8888", "2001:4860:4860::8844"],
                "interface": "enp1s0",
            }
        ),
    ),
    Case(
        "ssh_keys_continuation",
        f"hostname=ssh-box\nssh_pubkey={ALICE}\n  {BOB}\n  ; carol's key, added 2024\n"
        f"\t{CAROL}\n{DAVE}\n    {MALLORY}\ntimezone=UTC\n",
        expect(
            values={
                "hostname": "ssh-box",
                "timezone": "UTC",
                "ssh_pubkey": [ALICE, BOB, CAROL, DAVE],
            },
            rejected={
                "ssh_pubkey": (
                    "key 5 of 5 says ssh-ed25519 at the start, but the key inside is ssh-rsa"
                ),
            },
        ),
        newline="\r\n",
    ),
    Case(
        "ssh_keys_on_their_own_lines",
        f'ssh_pubkey =\n    {ERIN}\n    "{ALICE}"\n\nautologin=0\n',
        expect(values={"ssh_pubkey": [ERIN, ALICE], "autologin": False}),
    ),
    Case(
        "wifi_on_no_wifi_profile",
        "hostname=wired-only\nwifi_ssid=Office\nwifi_key=correct horse battery\nwifi_country=JP\n",
        expect(
            values={"hostname": "wired-only"},
            rejected={
                "wifi_ssid": "this device has no Wi-Fi",
                "wifi_key": "this device has no Wi-Fi",
                "wifi_country": "this device has no Wi-Fi",
            },
        ),
    ),
    Case(
        "wifi_profile",
        "wifi_ssid=Caf\u00e9 Guest\nwifi_key=pa;ss #word 123\nwifi_country=de\n",
        expect(
            capabilities=WIFI,
            values={
                "wifi_ssid": "Caf\u00e9 Guest",
                "wifi_key": "pa;ss #word 123",
                "wifi_country": "DE",
            },
        ),
        newline="\r\n",
    ),
    Case(
        "wifi_bad_key",
        "wifi_ssid=Shop\nwifi_key=short\nwifi_country=XX\n",
        # A rejected key drops the network too: joining an open "Shop" instead is worse.
        expect(
            capabilities=WIFI,
            values={},
            rejected={
                "wifi_ssid": "wifi_key was rejected",
                "wifi_key": "8 to 63 characters",
                "wifi_country": "country code",
            },
        ),
    ),
    Case(
        "ansi_cp1252",
        "; \u201cANSI\u201d file saved by old Notepad\nwifi_ssid=Caf\u00e9\nhostname=ansi\n",
        expect(capabilities=WIFI, values={"wifi_ssid": "Caf\u00e9", "hostname": "ansi"}),
        newline="\r\n",
        encoding="cp1252",
    ),
    Case(
        "app_sections",
        "hostname=kiosk-7\n[Kiosk]\nURL = https://example.com/board\nrotate=90\n"
        "idle_minutes=ten\nshow_cursor=Yes\nextra_flag=1\n[mqtt]\n; port stays at its default\n"
        "[unused]\nx=1\n",
        expect(
            values={"hostname": "kiosk-7"},
            rejected={"kiosk.idle_minutes": "not a whole number"},
            unknown=["kiosk.extra_flag", "unused.x"],
            app_settings=APP_SETTINGS,
            app_sections={
                "kiosk": {
                    "url": "https://example.com/board",
                    "rotate": "90",
                    "idle_minutes": 10,
                    "show_cursor": True,
                    "extra_flag": "1",
                },
                "mqtt": {"broker": "mqtt.local", "port": 1883},
            },
        ),
    ),
    Case(
        "quoted_values",
        'hostname="quoted"\ntimezone = "Europe/London"\n'
        'ntp="0.pool.ntp.org 1.pool.ntp.org"\ndebug=""\n',
        expect(
            values={
                "hostname": "quoted",
                "timezone": "Europe/London",
                "ntp": ["0.pool.ntp.org", "1.pool.ntp.org"],
            }
        ),
    ),
    Case(
        "duplicate_keys",
        "hostname=first\nTimeZone=UTC\nhostname=second\ntimezone=Asia/Tokyo\n",
        expect(
            values={"hostname": "second", "timezone": "Asia/Tokyo"},
            problems=[
                "line 3: hostname is set again (also on line 1)",
                "line 4: timezone is set again (also on line 2)",
            ],
        ),
    ),
    Case(
        "bad_values",
        "hostname=this-host-name-is-much-too-long-for-any-dns-label-so-it-is-rejected-x\n"
        "timezone=asia/tokyo\nlocale=English\nautologin=maybe\ndebug=2\n"
        "ntp=pool.ntp.org bad_host!\nfactory_reset=YES\ncolour=blue\nhostnme=typo\n",
        expect(
            values={"factory_reset": True},
            rejected={
                "hostname": "at most 63",
                "timezone": "not a known time zone",
                "locale": "en_US.UTF-8",
                "autologin": "must be yes or no",
                "debug": "must be yes or no",
                "ntp": "'bad_host!' is not a host name or IP address",
            },
            unknown=["colour", "hostnme"],
        ),
    ),
    Case(
        "syntax_problems",
        "this line has no equals sign\nhostname=syntax-ok\n[broken section\nport=1\n[ok]\n"
        "= value without a name\n",
        expect(
            values={"hostname": "syntax-ok"},
            problems=[
                "line 1: not a setting",
                "line 3: not a valid [section] header",
                "line 4: ignored because the section header on line 3",
                "line 6: '' is not a valid setting name",
            ],
        ),
    ),
    Case(
        "all_keys",
        f"hostname=full-house\ntimezone=Europe/Paris\nlocale=fr_FR.UTF-8\nssh_pubkey={ALICE}\n"
        "ip_address=172.16.5.9/20\nip_gateway=172.16.0.1\ndns=172.16.0.2 172.16.0.3\n"
        "interface=eth0\nwifi_ssid=Atelier\nwifi_key="
        + "ab" * 32
        + "\nwifi_country=FR\nntp=ntp.example.org\nautologin=no\nfactory_reset=off\ndebug=true\n",
        expect(
            capabilities=WIFI,
            values={
                "hostname": "full-house",
                "timezone": "Europe/Paris",
                "locale": "fr_FR.UTF-8",
                "ssh_pubkey": [ALICE],
                "ip_address": "172.16.5.9/20",
                "ip_gateway": "172.16.0.1",
                "dns": ["172.16.0.2", "172.16.0.3"],
                "interface": "eth0",
                "wifi_ssid": "Atelier",
                "wifi_key": "ab" * 32,
                "wifi_country": "FR",
                "ntp": ["ntp.example.org"],
                "autologin": False,
                "factory_reset": False,
                "debug": True,
            },
        ),
        newline="\r\n",
    ),
]


def write_corpus(directory: Path) -> list[Path]:
    """Write every case into *directory*; return the paths written."""
    written: list[Path] = []
    for case in CASES:
        ini = directory / f"{case.name}.ini"
        ini.write_bytes(case.content())
        expected = directory / f"{case.name}.expected.json"
        expected.write_text(json.dumps(case.expected, indent=2, ensure_ascii=False) + "\n")
        written += [ini, expected]
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for path in write_corpus(target):
        print(path.name)
