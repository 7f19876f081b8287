"""Tests for appliance/system_ini/: app settings, rendering, round trips, the status file.

No Django here: the package runs inside the appliance image too."""

from __future__ import annotations

import pytest

from appliance.system_ini import (
    SECRET_MASK,
    AppSetting,
    ParsedIni,
    decode_ini_bytes,
    parse_ini,
    parse_status_report,
    render_system_ini,
    rewrite_setting,
    status_report,
    validate_system_ini,
)
from tests.appliance.system_ini_corpus import (
    ETHERNET,
    FULL_VALUES,
    KIOSK_SETTINGS,
    WIFI,
    make_corpus,
)
from tests.appliance.system_ini_corpus import validate_text as _validate

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
