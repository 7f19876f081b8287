"""Tests for appliance/system_ini/: the corpus, reading system.ini, and each key's checks.

No Django here: the package runs inside the appliance image too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.system_ini import (
    AppSetting,
    decode_ini_bytes,
    parse_ini,
    render_system_ini,
    validate_system_ini,
)
from tests.appliance.system_ini_corpus import (
    CORPUS,
    CORPUS_FILES,
    SYSTEM_ZONEINFO,
    WIFI,
    make_corpus,
)
from tests.appliance.system_ini_corpus import validate_text as _validate

# --------------------------------------------------------------------------------------------
# The shared corpus
# --------------------------------------------------------------------------------------------


def test_corpus_has_the_promised_samples():
    names = {path.stem for path in CORPUS_FILES}
    assert len(names) >= 20
    for path in CORPUS_FILES:
        assert path.with_suffix(".expected.json").exists(), path.name


def test_corpus_files_are_exactly_what_make_corpus_writes(tmp_path):
    written = make_corpus.write_corpus(tmp_path)
    for path in written:
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), (
            f"{path.name} is stale: run python3 tests/data/system_ini/make_corpus.py"
        )
    assert {p.name for p in written} == {
        p.name for p in CORPUS.iterdir() if p.suffix in {".ini", ".json"}
    }


ZONEINFO_MODES = [
    pytest.param(None, id="tz-pattern"),
    pytest.param(
        SYSTEM_ZONEINFO,
        id="tz-system",
        marks=pytest.mark.skipif(not SYSTEM_ZONEINFO.is_dir(), reason="no tzdata here"),
    ),
]


@pytest.mark.parametrize("zoneinfo_dir", ZONEINFO_MODES)
@pytest.mark.parametrize("ini_path", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus_file_gives_expected_result(ini_path: Path, zoneinfo_dir: Path | None):
    expected = json.loads(ini_path.with_suffix(".expected.json").read_text())
    settings = expected.get("app_settings")
    result = validate_system_ini(
        parse_ini(ini_path.read_bytes()),
        capabilities=frozenset(expected["capabilities"]),
        app_settings=[AppSetting(**s) for s in settings] if settings is not None else None,
        zoneinfo_dir=zoneinfo_dir,
    )

    assert result.values == expected["values"]
    assert set(result.rejected) == set(expected["rejected"])
    for key, fragment in expected["rejected"].items():
        assert fragment in result.rejected[key], (key, result.rejected[key])
    assert sorted(result.unknown) == sorted(expected["unknown"])
    assert result.network_fallback is expected["network_fallback"]
    if "app_sections" in expected:
        assert result.app_sections == expected["app_sections"]
    wanted_problems = expected.get("problems", [])
    if not wanted_problems:
        assert result.problems == []
    for fragment in wanted_problems:
        assert any(fragment in problem for problem in result.problems), (fragment, result.problems)


@pytest.mark.parametrize("ini_path", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus_file_survives_a_re_render_unchanged(ini_path: Path):
    """What the web renders from a file's applied values reads back to the same values."""
    expected = json.loads(ini_path.with_suffix(".expected.json").read_text())
    capabilities = frozenset(expected["capabilities"])
    first = _validate(ini_path.read_bytes(), capabilities=capabilities)
    again = _validate(
        render_system_ini(first.values, capabilities=capabilities), capabilities=capabilities
    )
    assert again.values == first.values
    assert again.rejected == {}


# --------------------------------------------------------------------------------------------
# Decoding and parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"hostname=a\r\nb=c\r\n",
        b"hostname=a\rb=c\r",
        b"hostname=a\nb=c\n",
        b"\xef\xbb\xbfhostname=a\r\nb=c\r\n",
        b"\xff\xfe" + "hostname=a\r\nb=c\r\n".encode("utf-16-le"),
        b"\xfe\xff" + "hostname=a\r\nb=c\r\n".encode("utf-16-be"),
    ],
    ids=["crlf", "cr", "lf", "utf8-bom", "utf16le-bom", "utf16be-bom"],
)
def test_decode_accepts_every_editor_encoding_and_line_end(raw: bytes):
    assert decode_ini_bytes(raw) == "hostname=a\nb=c\n"


def test_decode_falls_back_to_windows_1252_then_latin1():
    assert decode_ini_bytes("Caf\u00e9 \u201cx\u201d".encode("cp1252")) == "Caf\u00e9 \u201cx\u201d"
    # 0x81 is undefined in Windows-1252: latin-1 still reads it instead of failing.
    assert decode_ini_bytes(b"a\x81b\xff") == "a\x81b\xff"


def test_decode_survives_a_truncated_utf16_file():
    assert decode_ini_bytes(b"\xff\xfeh\x00i\x00\x00").startswith("hi")


def test_parse_lowercases_keys_and_sections_and_records_line_numbers():
    parsed = parse_ini("HostName=a\n\n[My-App]\nPort = 80\n")
    assert parsed.top == {"hostname": "a"}
    assert parsed.sections == {"my-app": {"port": "80"}}
    assert parsed.lines == {("", "hostname"): 1, ("my-app", "port"): 4}


def test_parse_keeps_semicolons_and_hashes_inside_values():
    assert parse_ini("wifi_key = a;b #c\n").top == {"wifi_key": "a;b #c"}


def test_parse_quotes_keep_spaces_at_the_edges():
    assert parse_ini('wifi_key = "  spaced  "\n').top == {"wifi_key": "  spaced  "}


def test_parse_indented_setting_is_a_setting_not_a_continuation():
    parsed = parse_ini("hostname = a\n    timezone = UTC\n")
    assert parsed.top == {"hostname": "a", "timezone": "UTC"}


def test_parse_blank_line_ends_a_multi_line_value():
    parsed = parse_ini("ssh_pubkey = k1\n  k2\n\n  k3\n")
    assert parsed.top == {"ssh_pubkey": "k1\nk2"}
    assert "starts with a space" in parsed.problems[0]


def test_parse_indented_section_header_is_still_a_header():
    parsed = parse_ini("hostname=a\n  [app]\nx=1\n")
    assert parsed.top == {"hostname": "a"}
    assert parsed.sections == {"app": {"x": "1"}}


def test_parse_ssh_key_without_ssh_pubkey_above_is_a_problem():
    parsed = parse_ini(f"hostname=a\n\n{make_corpus.ALICE}\n")
    assert parsed.top == {"hostname": "a"}
    assert "looks like an SSH key" in parsed.problems[0]


def test_parse_unindented_ssh_key_continues_only_ssh_pubkey():
    parsed = parse_ini(f"hostname=a\n{make_corpus.CAROL}\n")
    assert parsed.top == {"hostname": "a"}
    assert "looks like an SSH key" in parsed.problems[0]


def test_parse_caps_the_number_of_problems():
    parsed = parse_ini("junk\n" * 500)
    assert len(parsed.problems) == 51
    assert parsed.problems[-1] == "... and 450 more lines with problems"


def test_parse_problem_messages_do_not_echo_lines_that_may_hold_secrets():
    parsed = parse_ini("wifi_key: hunter2hunter2\n")
    assert parsed.top == {}
    assert "hunter2" not in " ".join(parsed.problems)


# --------------------------------------------------------------------------------------------
# Validation of single keys
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("hostname=-kiosk", "must not start or end with a hyphen"),
        ("hostname=kiosk.lan", "has '.': a host name may contain only letters a-z"),
        ("hostname=kiosk_1", "has '_'"),
        ("locale=en-US", "en_US.UTF-8"),
        ("timezone=../../etc/passwd", "not a known time zone"),
        ("interface=eth0:1", "not a valid network interface name"),
        ("interface=averyveryverylongname0", "too long"),
        ("ntp=-bad-.example", "not a host name"),
    ],
)
def test_invalid_value_is_rejected_with_a_reason(line: str, fragment: str):
    result = _validate(line)
    key = line.split("=")[0]
    assert key not in result.values
    assert fragment in result.rejected[key]


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("192.168.1.0/24", "network's own address"),
        ("192.168.1.255/24", "broadcast address"),
        ("127.0.0.5/8", "cannot be used"),
        ("2001:db8::/64", "network's own address"),
        ("192.168.1.10/33", "not a valid IP address"),
    ],
)
def test_unusable_static_address_falls_back_to_dhcp(address: str, fragment: str):
    result = _validate(f"ip_address={address}\n")
    assert fragment in result.rejected["ip_address"]
    assert result.network_fallback is True
    assert result.values == {}


@pytest.mark.parametrize("address", ["10.0.0.0/31", "10.0.0.1/31", "10.0.0.7/32"])
def test_point_to_point_prefixes_accept_every_address(address: str):
    assert _validate(f"ip_address={address}\n").values == {"ip_address": address}


def test_hash_in_a_hostname_says_what_a_hostname_may_contain():
    reason = _validate("hostname=kiosk #1\n").rejected["hostname"]
    assert reason == (
        "'kiosk #1' has a space: a host name may contain only letters a-z, digits and "
        "hyphens, e.g. kiosk-01"
    )
    reason = _validate("hostname=kiosk#1\n").rejected["hostname"]
    assert reason.startswith("'kiosk#1' has '#': a host name may contain only letters a-z")
    assert "notes after a value" not in reason


def test_note_after_a_good_value_gets_the_hint():
    reason = _validate("hostname=kiosk-01 # lobby\n").rejected["hostname"]
    assert reason.endswith("(notes after a value are not allowed: put them on their own line)")
    reason = _validate("ip_address=10.0.0.2/24 ; office\n").rejected["ip_address"]
    assert "notes after a value are not allowed" in reason


def test_bad_value_with_a_note_gets_no_hint():
    reason = _validate("ip_address=10.0.0.300/24 ; office\n").rejected["ip_address"]
    assert "notes after a value" not in reason


def test_ipv6_gateway_may_be_link_local_but_not_ipv4():
    result = _validate("ip_address=10.0.0.2/24\nip_gateway=fe80::1\n")
    assert "is IPv6 but ip_address is IPv4" in result.rejected["ip_gateway"]


def test_bad_interface_with_static_address_falls_back_to_dhcp():
    result = _validate("ip_address=10.0.0.2/24\ninterface=eth 0\n")
    assert result.network_fallback is True
    assert "ignored because interface was rejected" in result.rejected["ip_address"]


def test_dns_with_dhcp_applies_without_a_static_address():
    result = _validate("dns=9.9.9.9 , 149.112.112.112\n")
    assert result.values == {"dns": ["9.9.9.9", "149.112.112.112"]}
    assert result.network_fallback is False


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("1", True),
        ("YES", True),
        ("True", True),
        ("on", True),
        ("0", False),
        ("No", False),
        ("FALSE", False),
        ("Off", False),
    ],
)
def test_booleans_accept_every_documented_spelling(word: str, value: bool):
    assert _validate(f"debug={word}\n").values == {"debug": value}


def test_empty_value_means_use_the_image_default():
    result = _validate("hostname=\nip_address=\nwifi_ssid=\n")
    assert result.values == {} and result.rejected == {} and not result.network_fallback


def test_timezone_is_checked_against_the_zoneinfo_directory_when_there_is_one(tmp_path):
    (tmp_path / "Asia").mkdir()
    (tmp_path / "Asia" / "Tokyo").write_bytes(b"TZif2" + bytes(40))
    (tmp_path / "Asia" / "NotAZone").write_bytes(b"# a table, not a zone\n")
    with_dir = {"zoneinfo_dir": tmp_path}
    assert _validate("timezone=Asia/Tokyo", **with_dir).values == {"timezone": "Asia/Tokyo"}
    assert (
        "not a known time zone"
        in _validate("timezone=Mars/Olympus", **with_dir).rejected["timezone"]
    )
    assert "timezone" in _validate("timezone=Asia/NotAZone", **with_dir).rejected
    hint = _validate("timezone=asia/tokyo", **with_dir).rejected["timezone"]
    assert "did you mean Asia/Tokyo?" in hint


def test_timezone_uses_the_name_pattern_without_a_zoneinfo_directory(tmp_path):
    missing = tmp_path / "no-tzdata"
    assert _validate("timezone=Mars/Olympus", zoneinfo_dir=missing).values == {
        "timezone": "Mars/Olympus"
    }
    assert "timezone" in _validate("timezone=Tokyo time", zoneinfo_dir=missing).rejected


def test_wifi_key_of_64_hex_digits_is_a_raw_psk():
    result = _validate(f"wifi_ssid=x\nwifi_key={'0f' * 32}\n", capabilities=WIFI)
    assert result.values["wifi_key"] == "0f" * 32


def test_wifi_key_without_an_ssid_is_rejected():
    result = _validate("wifi_key=longenough\n", capabilities=WIFI)
    assert "wifi_ssid" in result.rejected["wifi_key"]
    assert "wifi_key" not in result.values


def test_wifi_reasons_never_contain_the_password():
    result = _validate("wifi_ssid=x\nwifi_key=s\u00e9cret-password\n", capabilities=WIFI)
    assert "wifi_key" in result.rejected
    assert "cret-password" not in result.rejected["wifi_key"]


def test_dsa_and_unknown_ssh_key_types_are_rejected_with_advice():
    result = _validate("ssh_pubkey=ssh-dss AAAAB3NzaC1kc3M= old\n  foo-key AAAA x\n")
    reason = result.rejected["ssh_pubkey"]
    assert "key 1 of 2 DSA keys are no longer accepted" in reason
    assert "key 2 of 2 does not start with a key type" in reason
    assert "ssh_pubkey" not in result.values


def test_ssh_key_with_broken_base64_is_rejected_in_plain_words():
    broken = make_corpus.ALICE.replace("AAAA", "AA!A", 1)
    reason = _validate(f"ssh_pubkey={broken}").rejected["ssh_pubkey"]
    assert reason == (
        "the key is damaged: the long part after ssh-ed25519 is not a key "
        "(copy the whole line from the .pub file again)"
    )


def test_ssh_key_reasons_read_after_their_label():
    # "the key its key data ..." read as one sentence: every reason follows "the key" / "key N".
    kind, blob, _ = make_corpus.BOB.split()
    reason = _validate(f"ssh_pubkey={kind} {blob[:100]}\n  {make_corpus.MALLORY}").rejected[
        "ssh_pubkey"
    ]
    assert "key 1 of 2 is " in reason
    assert "key 2 of 2 says ssh-ed25519 at the start, but the key inside is ssh-rsa" in reason
    assert "its key data" not in reason


def test_ssh_key_cut_short_is_rejected():
    kind, blob, _ = make_corpus.BOB.split()
    short = kind + " " + blob[:100]
    reason = _validate(f"ssh_pubkey={short}").rejected["ssh_pubkey"]
    assert "cut short" in reason or "base64" in reason


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_keys_made_by_real_ssh_keygen_are_accepted(tmp_path, kind: str):
    key_file = tmp_path / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tech@site", "-f", str(key_file)],
        check=True,
    )
    public = (tmp_path / "id.pub").read_text().strip()
    assert _validate(f"ssh_pubkey={public}\n").values == {"ssh_pubkey": [public]}


def test_note_after_a_value_gets_a_hint_in_the_reason():
    reason = _validate("hostname = kiosk ; lobby screen\n").rejected["hostname"]
    assert "put them on their own line" in reason


def test_unknown_top_level_keys_are_reported_not_applied():
    result = _validate("hostnme=x\nhostname=y\n")
    assert result.unknown == ["hostnme"]
    assert result.values == {"hostname": "y"}
