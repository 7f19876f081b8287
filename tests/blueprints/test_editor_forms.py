"""The editor's forms: system.ini fields take one line of text each, or give a field error."""

from __future__ import annotations

import re

import pytest
from django import forms

from appliance.system_ini import WIFI_KEYS
from blueprints.editor_forms import FileForm, SettingForm
from blueprints.system_ini_form import SystemIniForm, for_people
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
    "wifi_interface": "wlan0",
}


def _form(**typed: str) -> SystemIniForm:
    data = {"network": "static", **FIELDS, **typed}
    return SystemIniForm(data, has_wifi=True)


def test_the_valid_values_are_accepted():
    form = _form()
    assert form.is_valid(), form.errors


def _wifi(saved_wifi_key: str = "", **typed: str) -> SystemIniForm:
    return SystemIniForm({"network": "dhcp", **typed}, has_wifi=True, saved_wifi_key=saved_wifi_key)


def test_the_wifi_keys_are_offered_only_with_a_radio():
    wifi = SystemIniForm(has_wifi=True)
    assert isinstance(wifi.fields["wifi_wpa3"], forms.BooleanField)
    assert isinstance(wifi.fields["wifi_hidden"], forms.BooleanField)
    assert isinstance(wifi.fields["wifi_interface"].widget, forms.TextInput)
    assert "wifi_key_forget" not in wifi.fields  # nothing saved to remove
    assert not set(WIFI_KEYS) & set(SystemIniForm(has_wifi=False).fields)


def test_the_new_wifi_keys_are_saved_as_the_device_reads_them():
    form = _wifi(
        wifi_ssid="Shop WLAN",
        wifi_key="hunter2hunter2",
        wifi_wpa3="on",
        wifi_hidden="on",
        wifi_interface="wlan1",
    )
    assert form.is_valid(), form.errors
    assert form.system_ini_values(form.cleaned_data) == {
        "wifi_ssid": "Shop WLAN",
        "wifi_key": "hunter2hunter2",
        "wifi_wpa3": True,
        "wifi_hidden": True,
        "wifi_interface": "wlan1",
    }


@pytest.mark.parametrize(
    ("typed", "field", "words"),
    [
        ({"wifi_interface": "wlan 0"}, "wifi_interface", "interface"),
        ({"wifi_country": "J1"}, "wifi_country", "country code"),
        ({"wifi_key": "short"}, "wifi_key", "8 to 63 characters"),
        ({"wifi_wpa3": "on"}, "wifi_wpa3", "WPA3 needs the network's password"),
        ({"wifi_wpa3": "on", "wifi_key": "a" * 64}, "wifi_wpa3", "not a 64-hex-digit key"),
    ],
)
def test_the_wifi_keys_follow_the_devices_rules(typed, field, words):
    form = _wifi(wifi_ssid="Shop", **typed)
    assert not form.is_valid()
    assert words in form.errors[field][0]
    assert list(form.errors) == [field]


def test_a_wifi_password_without_a_network_name_says_what_to_do():
    form = _wifi(wifi_key="hunter2hunter2")
    assert not form.is_valid()
    assert form.errors["wifi_key"] == [
        "Only used with a Wi-Fi network name: type the name above, or clear this."
    ]


@pytest.mark.parametrize(
    ("field", "typed", "saved"),
    [
        ("wifi_country", "JP", "JP"),
        ("wifi_interface", "wlan0", "wlan0"),
        ("wifi_wpa3", "on", True),
        ("wifi_hidden", "on", True),
    ],
)
def test_wifi_settings_for_a_network_named_per_device_are_kept(field, typed, saved):
    """A blueprint's default country (or interface) for a fleet whose technicians type the
    network name per device: kept, like the device keeps it."""
    form = _wifi(**{field: typed})
    assert form.is_valid(), form.errors
    assert form.system_ini_values(form.cleaned_data)[field] == saved


def test_an_empty_password_field_keeps_the_saved_one_also_for_wpa3():
    form = _wifi("saved-password", wifi_ssid="Shop", wifi_wpa3="on")
    assert form.is_valid(), form.errors
    values = form.system_ini_values(form.cleaned_data)
    assert values["wifi_key"] == "saved-password" and values["wifi_wpa3"] is True
    assert form.saved_wifi_key_removed() == ""


def test_clearing_the_network_name_removes_the_saved_password():
    form = _wifi("saved-password", wifi_ssid="", hostname="kiosk")
    assert form.is_valid(), form.errors
    assert form.system_ini_values(form.cleaned_data) == {"hostname": "kiosk"}
    assert "removed with the network name" in form.saved_wifi_key_removed()


def test_the_saved_password_can_be_removed_for_an_open_network():
    form = _wifi("saved-password", wifi_ssid="Cafe", wifi_key_forget="on")
    assert "wifi_key_forget" in form.fields
    assert form.is_valid(), form.errors
    assert form.system_ini_values(form.cleaned_data) == {"wifi_ssid": "Cafe"}
    assert form.saved_wifi_key_removed() == "The saved Wi-Fi password was removed."
    typed = _wifi("saved-password", wifi_ssid="Cafe", wifi_key_forget="on", wifi_key="new-pass-1")
    assert typed.is_valid(), typed.errors
    assert typed.system_ini_values(typed.cleaned_data)["wifi_key"] == "new-pass-1"


def test_the_saved_password_is_never_rendered_into_the_page():
    for form in (
        SystemIniForm(has_wifi=True, saved_wifi_key="saved-password", initial={"wifi_key": "x"}),
        _wifi("saved-password", wifi_ssid="Shop", wifi_key="typed-password", wifi_country="J1"),
    ):
        form.is_valid()
        html = str(form)
        assert "saved-password" not in html and "typed-password" not in html
        assert 'name="wifi_key"' in html


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


def test_a_yes_or_no_written_as_text_shows_as_the_device_reads_it():
    """A JSON5 blueprint may say wifi_hidden: "no"; a checkbox given "no" would be ticked."""
    saved = {"wifi_ssid": "Shop", "wifi_hidden": "no", "wifi_wpa3": "no", "autologin": "off"}
    saved |= {"debug": "yes", "wifi_key": "hunter2hunter2"}
    form = SystemIniForm(initial=SystemIniForm.initial_from(saved), has_wifi=True)
    html = str(form)
    ticked = set(re.findall(r'<input type="checkbox" name="(\w+)"[^>]*\schecked>', html))
    assert ticked == {"debug"}


@pytest.mark.parametrize(
    ("typed", "field", "reason"),
    [
        (
            {"ip_gateway": "10.9.9.1"},
            "ip_gateway",
            "'10.9.9.1' is not in the network of the IP address (192.168.1.0/24)",
        ),
        (
            {"ip_gateway": "fe80::1"},
            "ip_gateway",
            "'fe80::1' is IPv6 but the IP address is IPv4",
        ),
    ],
)
def test_reasons_under_a_field_use_words_not_key_names(typed, field, reason):
    form = _form(**typed)
    assert not form.is_valid()
    assert form.errors[field] == [reason]


def test_wpa3_without_a_password_says_so_without_the_key_name():
    form = _wifi(wifi_ssid="Shop", wifi_wpa3="on")
    assert not form.is_valid()
    assert form.errors["wifi_wpa3"] == ["WPA3 needs the network's password"]


def test_a_damaged_ssh_key_reads_as_one_sentence():
    broken = make_corpus.ALICE.replace("AAAA", "AA!A", 1)
    form = _form(ssh_pubkey=broken)
    assert not form.is_valid()
    (reason,) = form.errors["ssh_pubkey"]
    assert reason.startswith("The key is damaged: the long part after ssh-ed25519 is not a key")


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ignored because ip_address was rejected", "Ignored because the IP address was rejected"),
        ("ignored because dns was rejected", "Ignored because the DNS server list was rejected"),
        (
            "ignored because no Wi-Fi network name is set (wifi_ssid)",
            "Ignored because no Wi-Fi network name is set",
        ),
        (
            "'eth 0' is not a valid network interface name",
            "'eth 0' is not a valid network interface name",
        ),
    ],
)
def test_for_people_replaces_key_names_only(reason, words):
    assert for_people(reason) == words


def test_a_file_mode_error_says_what_a_mode_is():
    data = {"path": "/etc/x.conf", "mode": "rw-r--r--", "owner": "root", "content": "x"}
    form = FileForm(data)
    assert not form.is_valid()
    assert form.errors["mode"] == [
        "A file mode is 3 or 4 octal digits (0 to 7) such as 0644 for files, 0755 for programs."
    ]
    assert "Enter a valid value." not in str(form.errors)
