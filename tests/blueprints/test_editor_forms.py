"""The editor's forms: system.ini fields take one line of text each, or give a field error."""

from __future__ import annotations

import pytest

from blueprints.editor_forms import SettingForm
from blueprints.system_ini_form import SystemIniForm
from tests.appliance.system_ini_corpus import make_corpus  # SSH keys of the shared corpus

# Every line separator str.splitlines() knows, CRLF, and other control characters.
SEPARATORS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x00", "\t", "\x1b", "\x7f", "\x9b"]
FIELDS = {
    "hostname": "kiosk",
    "wifi_ssid": "Shop WLAN",
    "wifi_key": "hunter2hunter2",
    "locale": "en_US.UTF-8",
    "interface": "eth0",
    "ip_address": "192.168.1.20/24",
    "ip_gateway": "192.168.1.1",
    "dns": "1.1.1.1 8.8.8.8",
    "ntp": "pool.ntp.org",
    "wifi_country": "JP",
}


def _form(**typed: str) -> SystemIniForm:
    data = {"network": "static", **FIELDS, **typed}
    return SystemIniForm(data, has_wifi=True)


def test_the_valid_values_are_accepted():
    form = _form()
    assert form.is_valid(), form.errors


def test_a_newline_in_the_hostname_cannot_add_factory_reset():
    form = _form(hostname="kiosk\nfactory_reset=yes")
    assert not form.is_valid()
    assert "line break" in form.errors["hostname"][0]


def test_a_carriage_return_in_the_ssid_cannot_add_autologin():
    form = _form(wifi_ssid="Shop\rautologin=yes")
    assert not form.is_valid()
    assert "line break" in form.errors["wifi_ssid"][0]


def test_a_unicode_line_separator_in_the_locale_is_an_error_not_stripped():
    form = _form(locale="en_US.UTF-8\u2028")
    assert not form.is_valid()
    assert "U+2028" in form.errors["locale"][0]


@pytest.mark.parametrize("separator", SEPARATORS + CONTROLS, ids=ascii)
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_any_line_separator_or_control_character_in_a_field_is_a_field_error(field, separator):
    for typed in (f"{FIELDS[field]}{separator}factory_reset=yes", f"{FIELDS[field]}{separator}"):
        form = _form(**{field: typed})
        assert not form.is_valid()
        assert form.errors[field], (field, typed)


def test_a_dns_entry_that_is_a_setting_is_refused():
    form = _form(dns="1.1.1.1 factory_reset=yes")
    assert not form.is_valid()
    assert "must be IP addresses" in form.errors["dns"][0]


def test_ssh_keys_one_per_line_but_no_other_separator_inside_a_key():
    ok = SystemIniForm(
        {"network": "dhcp", "ssh_pubkey": f"{make_corpus.ALICE}\r\n{make_corpus.BOB}"}
    )
    assert ok.is_valid(), ok.errors
    assert ok.system_ini_values(ok.cleaned_data)["ssh_pubkey"] == [
        make_corpus.ALICE,
        make_corpus.BOB,
    ]
    bad = SystemIniForm(
        {"network": "dhcp", "ssh_pubkey": f"{make_corpus.ALICE}\u2028autologin=yes"}
    )
    assert not bad.is_valid()
    assert "line break" in bad.errors["ssh_pubkey"][0]


@pytest.mark.parametrize("separator", [*SEPARATORS, "\x00"], ids=ascii)
def test_a_custom_setting_default_or_choice_with_a_line_break_is_refused(separator):
    base = {"section": "kiosk", "key": "url", "type": "string", "default": "http://x/"}
    for typed in (
        {**base, "default": f"http://x/{separator}factory_reset=yes"},
        {**base, "default": f"http://x/{separator}"},
        {**base, "type": "choice", "default": "a", "choices": f"a, b{separator}c"},
    ):
        form = SettingForm(typed)
        assert not form.is_valid(), typed
