"""Tests for appliance/system_ini/: values given as data (the web's case), and properties.

No Django here: the package runs inside the appliance image too."""

from __future__ import annotations

import importlib.util

import pytest

from appliance.system_ini import (
    AppSetting,
    SystemIniResult,
    parse_ini,
    render_system_ini,
    single_line_problem,
    status_report,
    validate_system_ini,
    validate_values,
)
from tests.appliance.system_ini_corpus import (
    ETHERNET,
    KIOSK_SETTINGS,
    WIFI,
    make_corpus,
)
from tests.appliance.system_ini_corpus import validate_text as _validate

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
