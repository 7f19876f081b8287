"""Tests for appliance/system_ini/: the system.ini package shared by web and device.

No Django here: the module runs inside the appliance image too, so these tests import nothing
but it (and pytest/hypothesis).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.system_ini import (
    SECRET_MASK,
    AppSetting,
    ParsedIni,
    SystemIniResult,
    decode_ini_bytes,
    parse_ini,
    parse_status_report,
    render_system_ini,
    rewrite_setting,
    single_line_problem,
    status_report,
    validate_system_ini,
    validate_values,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "system_ini"
CORPUS_FILES = sorted(CORPUS.glob("*.ini"))
SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")
ETHERNET = frozenset({"ethernet"})
WIFI = frozenset({"ethernet", "wifi"})


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


make_corpus = _load_make_corpus()


def _validate(raw: bytes | str, **kwargs) -> SystemIniResult:
    kwargs.setdefault("zoneinfo_dir", None)
    return validate_system_ini(parse_ini(raw), **kwargs)


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
        ("hostname=kiosk.lan", "no dots"),
        ("hostname=kiosk_1", "underscores"),
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


def test_ssh_key_with_broken_base64_is_rejected():
    broken = make_corpus.ALICE.replace("AAAA", "AA!A", 1)
    assert "not valid base64" in _validate(f"ssh_pubkey={broken}").rejected["ssh_pubkey"]


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


# --------------------------------------------------------------------------------------------
# App settings
# --------------------------------------------------------------------------------------------


def test_app_setting_rejects_a_default_that_does_not_fit_its_type():
    with pytest.raises(ValueError, match="not a whole number"):
        AppSetting("app", "port", "int", "eighty")
    with pytest.raises(ValueError, match="choices"):
        AppSetting("app", "mode", "choice", "a")
    with pytest.raises(ValueError, match="setting type"):
        AppSetting("app", "x", "float")


def test_app_setting_coerces_text_defaults_and_lowercases_names():
    setting = AppSetting("App", "Enabled", "bool", "YES")
    assert (setting.section, setting.key, setting.default) == ("app", "enabled", True)


def test_choice_setting_matches_case_insensitively_and_keeps_the_declared_spelling():
    settings = [AppSetting("app", "mode", "choice", "Fast", choices=("Fast", "Quiet"))]
    result = _validate("[app]\nmode=quiet\n", app_settings=settings)
    assert result.app_sections == {"app": {"mode": "Quiet"}}


def test_sections_are_kept_as_text_when_no_settings_are_declared():
    result = _validate("[app]\nport=80\n")
    assert result.app_sections == {"app": {"port": "80"}}
    assert result.unknown == []


def test_app_string_setting_must_be_one_line():
    settings = [AppSetting("app", "motd", "string", "hi")]
    result = _validate("[app]\nmotd = line one\n  line two\n", app_settings=settings)
    assert "single line" in result.rejected["app.motd"]
    assert result.app_sections == {"app": {"motd": "hi"}}


# --------------------------------------------------------------------------------------------
# Rendering and round trips
# --------------------------------------------------------------------------------------------

FULL_VALUES: dict[str, object] = json.loads((CORPUS / "all_keys.expected.json").read_text())[
    "values"
]
KIOSK_SETTINGS = [AppSetting(**s) for s in make_corpus.APP_SETTINGS]


def test_render_uses_crlf_and_explains_every_key():
    text = render_system_ini({}, capabilities=ETHERNET, header="Kiosk 1.2, build 42")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert "; Kiosk 1.2, build 42" in text
    assert ";ip_address=192.168.1.10/24\r\n" in text
    lines = text.split("\r\n")
    for index, line in enumerate(lines):
        if line.startswith(";hostname=") or line.startswith(";debug="):
            assert lines[index - 1].startswith("; "), "every key has a comment above it"


def test_render_leaves_wifi_keys_out_without_a_radio():
    assert "wifi_" not in render_system_ini(FULL_VALUES, capabilities=ETHERNET)
    assert "wifi_ssid=Atelier" in render_system_ini(FULL_VALUES, capabilities=WIFI)


def test_render_of_unset_keys_reads_back_as_nothing_set():
    text = render_system_ini({}, capabilities=WIFI, app_settings=[])
    result = _validate(text, capabilities=WIFI)
    assert result.values == {} and result.rejected == {} and result.unknown == []
    assert result.problems == []


def test_render_then_parse_then_validate_gives_back_the_same_values():
    text = render_system_ini(FULL_VALUES, capabilities=WIFI)
    assert _validate(text, capabilities=WIFI).values == FULL_VALUES


def test_round_trip_keeps_several_ssh_keys_and_awkward_wifi_passwords():
    values = {
        "ssh_pubkey": [make_corpus.ALICE, make_corpus.BOB, make_corpus.CAROL],
        "wifi_ssid": " lead space",
        "wifi_key": '"quoted both ends"',
    }
    text = render_system_ini(values, capabilities=WIFI)
    assert _validate(text, capabilities=WIFI).values == values


def test_round_trip_of_app_sections_fills_in_declared_defaults():
    app_values = {"kiosk": {"url": "https://x.example/", "show_cursor": True}}
    text = render_system_ini(
        {"hostname": "k"},
        capabilities=ETHERNET,
        app_settings=KIOSK_SETTINGS,
        app_values=app_values,
    )
    assert "[kiosk]\r\n; Page the screen shows after start-up.\r\nurl=https://x.example/" in text
    assert "; Screen rotation in degrees. One of: 0, 90, 180, 270.\r\nrotate=0" in text
    result = _validate(text, app_settings=KIOSK_SETTINGS)
    assert result.app_sections == {
        "kiosk": {
            "url": "https://x.example/",
            "rotate": "0",
            "idle_minutes": 10,
            "show_cursor": True,
        },
        "mqtt": {"broker": "mqtt.local", "port": 1883},
    }
    assert result.unknown == [] and result.rejected == {}


@pytest.mark.parametrize(
    "values",
    [{"wifi_ssid": "x\nfactory_reset=yes"}, {"ssh_pubkey": ["a\r\nfactory_reset=yes"]}],
)
def test_render_refuses_a_value_that_would_smuggle_in_another_setting(values):
    with pytest.raises(ValueError, match="line break"):
        render_system_ini(values, capabilities=WIFI)


# --------------------------------------------------------------------------------------------
# Secrets, status file, rewriting
# --------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_a_repr():
    settings = [AppSetting("db", "password", "string", "pg-secret-1")]
    raw = "wifi_ssid=x\nwifi_key=hunter2hunter2\n[db]\npassword=pg-secret-2\n"
    parsed = parse_ini(raw)
    result = validate_system_ini(parsed, capabilities=WIFI, app_settings=settings)
    for text in (repr(parsed), repr(result), str(result)):
        assert "hunter2" not in text and "pg-secret" not in text
        assert SECRET_MASK in text
    assert isinstance(parsed, ParsedIni)
    assert "pg-secret" not in repr(settings)


def _status_for(raw: str, **kwargs) -> str:
    result = _validate(raw, capabilities=WIFI, **kwargs)
    return status_report(
        result,
        image="kiosk (raspberrypi4)",
        build="2024-06-01.7",
        time="2024-06-01T10:00:00+09:00",
        addresses={"eth0": ["192.168.1.23/24", "fe80::2/64"], "wlan0": []},
        notes=["data partition grown to 29.7 GiB"],
    )


def test_status_report_reads_back_with_applied_rejected_and_addresses():
    text = _status_for(
        "hostname=shop-1\nip_address=10.0.0.300/8\nwifi_ssid=Shop\nwifi_key=hunter2hunter2\n"
        f"ssh_pubkey={make_corpus.ALICE}\n  {make_corpus.MALLORY}\ncolour=red\nnonsense line\n"
    )
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    report = parse_status_report(text)
    assert report["image"] == "kiosk (raspberrypi4)"
    assert report["build"] == "2024-06-01.7"
    assert report["time"] == "2024-06-01T10:00:00+09:00"
    assert report["network"].startswith("DHCP")
    assert report["applied"] == {
        "hostname": "shop-1",
        "ssh_pubkey": "1 key: ssh-ed25519 alice@laptop",
        "wifi_ssid": "Shop",
        "wifi_key": SECRET_MASK,
    }
    assert set(report["rejected"]) == {"ip_address", "ssh_pubkey"}
    assert "not a valid IP address" in report["rejected"]["ip_address"]
    assert report["unknown"] == ["colour"]
    assert report["problems"] == ["line 8: not a setting (expected name = value); line ignored"]
    assert report["notes"] == ["data partition grown to 29.7 GiB"]
    assert report["addresses"] == {"eth0": ["192.168.1.23/24", "fe80::2/64"], "wlan0": []}


def test_status_report_never_shows_secrets():
    settings = [AppSetting("db", "password", "int", 1)]
    text = _status_for(
        "wifi_ssid=x\nwifi_key=hunter2hunter2\n[db]\npassword=hunter3\n", app_settings=settings
    )
    assert "hunter" not in text
    assert parse_status_report(text.encode("utf-8-sig"))["applied"]["db.password"] == SECRET_MASK


def test_status_report_says_static_when_the_static_address_applied():
    text = _status_for("ip_address=10.0.0.5/8\n")
    assert parse_status_report(text)["network"] == "static 10.0.0.5/8"


def test_rewrite_setting_turns_factory_reset_off_and_keeps_encoding_and_comments():
    original = "; my notes\r\nFactory_Reset = YES\r\nhostname=a\r\n[app]\r\nx=1\r\n"
    raw = b"\xff\xfe" + original.encode("utf-16-le")
    rewritten = rewrite_setting(raw, "factory_reset", "no")
    assert rewritten.startswith(b"\xff\xfe")
    assert decode_ini_bytes(rewritten) == "; my notes\nfactory_reset=no\nhostname=a\n[app]\nx=1\n"
    assert rewritten[2:].decode("utf-16-le").count("\r\n") == 5


def test_rewrite_setting_adds_a_missing_key_before_the_first_section():
    rewritten = rewrite_setting(b"hostname=a\n[app]\nx=1", "factory_reset", "no")
    assert rewritten == b"hostname=a\nfactory_reset=no\n[app]\nx=1"
    assert rewrite_setting(b"", "factory_reset", "no") == b"factory_reset=no\r\n"
    assert rewrite_setting(b"a=1\r", "debug", "no") == b"a=1\rdebug=no\r"


def test_rewrite_setting_replaces_continuation_lines_too():
    raw = f"ssh_pubkey=\n  {make_corpus.ALICE}\n  ; note\n  {make_corpus.BOB}\nx=1\n".encode()
    assert rewrite_setting(raw, "ssh_pubkey", make_corpus.ERIN) == (
        f"ssh_pubkey={make_corpus.ERIN}\nx=1\n".encode()
    )


# --------------------------------------------------------------------------------------------
# Values given as data (the web's case)
# --------------------------------------------------------------------------------------------

# Everything that ends a line somewhere: all str.splitlines() splits on, CRLF included.
LINE_BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
OTHER_CONTROLS = ["\x00", "\x07", "\t", "\x1b", "\x7f", "\x9b", "\ud800"]


def _values(values: dict, **kwargs) -> SystemIniResult:
    kwargs.setdefault("capabilities", WIFI)
    kwargs.setdefault("zoneinfo_dir", None)
    return validate_values(values, **kwargs)


def test_line_breaks_are_exactly_what_splitlines_knows():
    splits = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert splits == {sep for sep in LINE_BREAKS if len(sep) == 1}


@pytest.mark.parametrize("separator", LINE_BREAKS + OTHER_CONTROLS, ids=ascii)
@pytest.mark.parametrize(
    "key, good",
    [
        ("hostname", "kiosk"),
        ("wifi_ssid", "Shop WLAN"),
        ("wifi_key", "hunter2hunter2"),
        ("locale", "en_US.UTF-8"),
        ("interface", "eth0"),
        ("ip_address", "fe80::5%eth0/64"),
        ("timezone", "Asia/Tokyo"),
        ("wifi_country", "JP"),
        ("autologin", "no"),
    ],
)
def test_a_single_line_value_with_a_line_break_or_control_character_is_refused(
    key, good, separator
):
    # Two places: inside, where it would start a setting, and at the edge, where a strip()
    # would hide it.
    for value in (f"{good}{separator}factory_reset=yes", f"{good}{separator}"):
        values = {key: value}
        if key == "wifi_key":
            values["wifi_ssid"] = "Shop"
        result = _values(values)
        assert key not in result.values
        assert "single line" in result.rejected[key]
        assert "factory_reset" not in result.values


@pytest.mark.parametrize("separator", LINE_BREAKS + OTHER_CONTROLS, ids=ascii)
@pytest.mark.parametrize(
    "key, good",
    [("dns", "fe80::53%eth0"), ("ntp", "pool.ntp.org"), ("ssh_pubkey", make_corpus.ALICE)],
)
def test_a_list_item_with_a_line_break_or_control_character_is_refused(key, good, separator):
    result = _values({key: [good, f"{good}{separator}factory_reset=yes"]})
    assert key not in result.values
    assert "single line" in result.rejected[key]


@pytest.mark.parametrize(
    "key, item",
    [
        ("dns", "factory_reset=yes"),
        ("ntp", "factory_reset=yes"),
        ("ssh_pubkey", "factory_reset=yes"),
        ("ssh_pubkey", "[kiosk]"),
        ("dns", "fe80::1%eth0 factory_reset=yes"),
        ("dns", "1.1.1.1,8.8.8.8"),
    ],
)
def test_a_list_item_that_is_not_one_valid_entry_is_refused(key, item):
    result = _values({key: [make_corpus.ALICE if key == "ssh_pubkey" else "1.1.1.1", item]})
    assert key in result.rejected
    assert result.values.get(key) in (None, [make_corpus.ALICE])  # the good SSH key still counts


def test_values_as_data_follow_the_rules_of_the_file():
    values = {
        "hostname": "shop-1",
        "timezone": "Asia/Tokyo",
        "ssh_pubkey": [make_corpus.ALICE, make_corpus.BOB],
        "ip_address": "192.168.1.10/24",
        "ip_gateway": "192.168.1.1",
        "dns": "192.168.1.1, 1.1.1.1",  # a blueprint may write servers as one text
        "wifi_ssid": " lead space",
        "wifi_key": '"quoted both ends"',
        "wifi_country": "jp",
        "ntp": ["pool.ntp.org"],
        "autologin": True,
        "debug": "yes",
        "factory_reset": False,
        "colour": "red",
    }
    result = _values(values)
    assert result.values == {
        **{k: v for k, v in values.items() if k != "colour"},
        "dns": ["192.168.1.1", "1.1.1.1"],
        "wifi_country": "JP",
        "debug": True,
    }
    assert result.rejected == {} and result.unknown == ["colour"]


def test_values_as_data_keep_the_device_rules_for_networks_and_wifi():
    result = _values({"ip_address": "192.168.1.10/24", "ip_gateway": "10.0.0.1", "dns": "1.1.1.1"})
    assert result.network_fallback and result.values == {}
    assert "not in the network" in result.rejected["ip_gateway"]
    assert "no Wi-Fi" in _values({"wifi_ssid": "x"}, capabilities=ETHERNET).rejected["wifi_ssid"]
    only_spaces = _values({"wifi_ssid": "Shop", "wifi_key": "        "})
    assert "only spaces" in only_spaces.rejected["wifi_key"]


def test_app_values_are_checked_one_line_and_typed_with_defaults_filled_in():
    result = _values(
        {},
        app_settings=KIOSK_SETTINGS,
        app_values={
            "kiosk": {"url": "https://x.example/\u2028factory_reset=yes", "rotate": "90"},
            "mqtt": {"port": 8883, "nonsense": "x"},
        },
    )
    assert "single line" in result.rejected["kiosk.url"]
    assert result.app_sections["kiosk"]["url"] == "http://localhost:8080/"  # the default
    assert result.app_sections["kiosk"]["rotate"] == "90"
    assert result.app_sections["mqtt"] == {"broker": "mqtt.local", "port": 8883}
    assert result.unknown == ["mqtt.nonsense"]


@pytest.mark.parametrize("separator", [*LINE_BREAKS, "\x00"], ids=ascii)
def test_app_setting_defaults_and_choices_must_be_single_lines(separator):
    with pytest.raises(ValueError, match="single line"):
        AppSetting("app", "motd", "string", f"hi{separator}factory_reset=yes")
    with pytest.raises(ValueError, match="single line"):
        AppSetting("app", "mode", "choice", "a", choices=("a", f"b{separator}c"))


@pytest.mark.parametrize("separator", [*LINE_BREAKS, "\x00", "\x1b"], ids=ascii)
def test_render_refuses_every_kind_of_line_break_in_a_value(separator):
    for values in (
        {"wifi_ssid": f"x{separator}factory_reset=yes"},
        {"dns": ["1.1.1.1", f"8.8.8.8{separator}factory_reset=yes"]},
        {"ssh_pubkey": [make_corpus.ALICE, f"{make_corpus.BOB}{separator}autologin=yes"]},
    ):
        with pytest.raises(ValueError, match=r"line break|control character"):
            render_system_ini(values, capabilities=WIFI)


@pytest.mark.parametrize("item", ["factory_reset=yes", "[kiosk]", "; hidden", ' "quoted"', ""])
def test_render_refuses_an_ssh_key_line_that_would_read_back_as_something_else(item):
    with pytest.raises(ValueError, match="would not read back"):
        render_system_ini({"ssh_pubkey": [make_corpus.ALICE, item]}, capabilities=WIFI)


def test_render_writes_help_text_line_breaks_as_comment_lines_only():
    setting = AppSetting("app", "motd", "string", "hi", help="one\u2028factory_reset=yes\rx")
    text = render_system_ini({}, capabilities=ETHERNET, app_settings=[setting])
    assert "\r\n; factory_reset=yes\r\n; x\r\n" in text
    assert _validate(text, app_settings=[setting]).values == {}


def test_single_line_problem_names_the_character_not_the_text():
    assert single_line_problem("hunter2\u2028hunter2") == (
        "contains a line break (U+2028); it must be a single line of plain text"
    )
    assert single_line_problem("plain, with spaces ; and # too") is None


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

# Defined only when hypothesis is installed, so a missing hypothesis skips these alone.
if importlib.util.find_spec("hypothesis") is None:

    def test_property_tests_need_hypothesis():
        pytest.importorskip("hypothesis")

else:
    import hypothesis
    from hypothesis import strategies as st

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.binary(max_size=400))
    def test_parse_and_validate_never_raise_on_arbitrary_bytes(raw: bytes):
        parsed = parse_ini(raw)
        result = validate_system_ini(parsed, capabilities=WIFI, app_settings=KIOSK_SETTINGS)
        status_report(result, image="x", build="1", time="t")

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(
        st.lists(
            st.sampled_from(
                [
                    "hostname=a",
                    "  b",
                    "[s]",
                    "; c",
                    "",
                    "x = y",
                    'wifi_key="q"',
                    "\ufeff",
                    "\r",
                    "ssh_pubkey=",
                    make_corpus.ALICE,
                    "=",
                    "[",
                    "\x00",
                ]
            ),
            max_size=30,
        )
    )
    def test_parse_never_raises_on_ini_like_text(lines: list[str]):
        parse_ini("\n".join(lines))

    _LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
    _PRINTABLE = st.text(
        st.characters(min_codepoint=32, max_codepoint=126), min_size=8, max_size=63
    )

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(
        hostname=_LABEL,
        wifi_key=_PRINTABLE.filter(lambda s: s.strip() != ""),
        wifi_ssid=st.text(
            # Zl/Zp: U+2028 and U+2029 end a line for str.splitlines(); never in a value.
            st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
            min_size=1,
            max_size=8,
        ).filter(lambda s: s.strip() != ""),
        ntp=st.lists(_LABEL, min_size=1, max_size=3),
        debug=st.booleans(),
    )
    def test_round_trip_property_for_valid_values(hostname, wifi_key, wifi_ssid, ntp, debug):
        values = {
            "hostname": hostname,
            "wifi_ssid": wifi_ssid,
            "wifi_key": wifi_key,
            "ntp": ntp,
            "debug": debug,
        }
        values = {k: values[k] for k in ("hostname", "wifi_ssid", "wifi_key", "ntp", "debug")}
        text = render_system_ini(values, capabilities=WIFI)
        result = _validate(text.encode("utf-8"), capabilities=WIFI)
        assert result.values == values
        assert result.rejected == {}

    # Text a person could type, with every line separator and control character mixed in.
    _SEPARATOR = st.sampled_from(LINE_BREAKS + OTHER_CONTROLS)
    _SEPARATOR_CHAR = st.sampled_from([c for c in LINE_BREAKS + OTHER_CONTROLS if len(c) == 1])
    _TYPED = st.text(st.one_of(st.characters(), _SEPARATOR_CHAR), max_size=40)
    _INJECTED = st.sampled_from(["factory_reset=yes", "autologin=yes", "[evil]", "  debug=yes"])

    def _near(good: str) -> st.SearchStrategy[str]:
        """A valid value, or one with a separator and another setting hidden in it."""
        return st.one_of(
            st.just(good),
            st.builds(lambda sep, extra: f"{good}{sep}{extra}", _SEPARATOR, _INJECTED),
            st.builds(lambda sep: f"{sep}{good}", _SEPARATOR),
        )

    _GOOD = {
        "hostname": "kiosk-01",
        "timezone": "Europe/Berlin",
        "locale": "de_DE.UTF-8",
        "ip_address": "fe80::5%eth0/64",
        "ip_gateway": "fe80::1",
        "interface": "eth0",
        "wifi_ssid": "Café ☕",
        "wifi_key": "correct horse battery",
        "wifi_country": "de",
        "autologin": "yes",
        "debug": "no",
        "factory_reset": "no",
    }
    _LIST_GOOD = {"dns": "fe80::53%eth0", "ntp": "pool.ntp.org", "ssh_pubkey": make_corpus.ALICE}
    _ANY_VALUE = st.one_of(_TYPED, st.booleans(), st.lists(_TYPED, max_size=3))

    def _unset(value: object) -> bool:
        """Empty, as the device reads it: "use the image's default"."""
        if value is None or value == "":
            return True
        return isinstance(value, list) and all(isinstance(i, str) and not i.strip() for i in value)

    @st.composite
    def _value_mappings(draw) -> dict[str, object]:
        values: dict[str, object] = {}
        for key, good in _GOOD.items():
            if draw(st.booleans()):
                values[key] = draw(st.one_of(_near(good), _ANY_VALUE))
        for key, good in _LIST_GOOD.items():
            if draw(st.booleans()):
                values[key] = draw(st.one_of(st.lists(_near(good), max_size=3), _ANY_VALUE))
        return values

    @hypothesis.settings(max_examples=400, deadline=None)
    @hypothesis.given(
        values=_value_mappings(),
        app_values=st.dictionaries(
            st.sampled_from(["url", "rotate", "idle_minutes", "show_cursor"]),
            st.one_of(_near("https://x.example/"), _near("90"), _TYPED, st.integers()),
        ),
        wifi=st.booleans(),
    )
    def test_values_render_to_a_file_that_reads_back_as_exactly_those_values(
        values, app_values, wifi
    ):
        """Whatever the web hands over: what passes the checks is written and reads back on
        the device as itself; nothing else appears; what fails has a reason."""
        capabilities = WIFI if wifi else ETHERNET
        result = _values(
            values,
            capabilities=capabilities,
            app_settings=KIOSK_SETTINGS,
            app_values={"kiosk": app_values},
        )
        for key, value in values.items():
            assert key in result.values or key in result.rejected or _unset(value), key
        assert all(reason for reason in result.rejected.values())
        text = render_system_ini(
            result.values,
            capabilities=capabilities,
            app_settings=KIOSK_SETTINGS,
            app_values=result.app_sections,
        )
        parsed = parse_ini(text.encode("utf-8"))
        assert parsed.problems == []
        assert set(parsed.top) == set(result.values)
        assert set(parsed.sections) == {"kiosk", "mqtt"}
        back = validate_system_ini(
            parsed, capabilities=capabilities, app_settings=KIOSK_SETTINGS, zoneinfo_dir=None
        )
        assert back.values == result.values
        assert back.app_sections == result.app_sections
        assert back.rejected == {} and back.unknown == []
