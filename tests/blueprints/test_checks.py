"""Blueprint checks of system_ini and settings: values are checked as values, by the device's
rules, so a list item or a text can never become a setting of its own."""

from __future__ import annotations

import pytest

from blueprints.checks import blueprint_parse
from blueprints.json5_io import BlueprintSourceError


@pytest.mark.parametrize(
    ("system_ini", "key"),
    [
        ('{dns: ["1.1.1.1", "factory_reset=yes"]}', "dns"),
        ('{ntp: ["pool.ntp.org", "autologin=yes"]}', "ntp"),
        ('{dns: ["1.1.1.1\\nfactory_reset=yes"]}', "dns"),
        ('{hostname: "kiosk\\rfactory_reset=yes"}', "hostname"),
        ('{wifi_ssid: "Shop\\u2028autologin=yes"}', "wifi_ssid"),
        ('{locale: "en_US.UTF-8\\u0085debug=yes"}', "locale"),
    ],
)
def test_a_system_ini_value_that_smuggles_in_a_setting_is_refused(system_ini: str, key: str):
    source = f'{{\n  name: "kiosk",\n  system_ini: {system_ini},\n}}'
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse(source)
    assert f"system_ini “{key}”" in str(caught.value)
    assert caught.value.line == 3


def test_the_reason_given_is_the_cause_not_a_key_ignored_because_of_it():
    source = '{name: "kiosk", system_ini: {ip_address: "10.0.0.5/8", dns: ["x=y"]}}'
    with pytest.raises(BlueprintSourceError, match="system_ini “dns”: DNS servers must be IP"):
        blueprint_parse(source)


def test_valid_system_ini_values_pass():
    source = (
        '{name: "kiosk", system_ini: {hostname: "kiosk", dns: ["1.1.1.1", "8.8.8.8"], '
        'ntp: "pool.ntp.org", autologin: true}}'
    )
    assert blueprint_parse(source).data["system_ini"]["dns"] == ["1.1.1.1", "8.8.8.8"]


@pytest.mark.parametrize(
    "setting",
    [
        '{section: "kiosk", key: "url", default: "http://x/\\nfactory_reset=yes"}',
        '{section: "kiosk", key: "url", default: "http://x/\\u2028"}',
        '{section: "kiosk", key: "mode", type: "choice", default: "a", choices: ["a", "b\\rc"]}',
    ],
)
def test_a_setting_default_or_choice_with_a_line_break_is_refused(setting: str):
    source = f'{{\n  name: "kiosk",\n  settings: [{setting}],\n}}'
    with pytest.raises(BlueprintSourceError, match="single line") as caught:
        blueprint_parse(source)
    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("system_ini", "key", "words"),
    [
        ('{wifi_ssid: "Shop", wifi_key: "hunter2hunter2", wifi_wpa3: "maybe"}', "wifi_wpa3", ""),
        ('{wifi_ssid: "Shop", wifi_hidden: "sometimes"}', "wifi_hidden", ""),
        ('{wifi_ssid: "Shop", wifi_interface: "wlan0; reboot"}', "wifi_interface", "interface"),
        ('{wifi_ssid: "Shop", wifi_wpa3: true}', "wifi_wpa3", "needs the network's password"),
        ('{wifi_key: "hunter2hunter2"}', "wifi_key", "no Wi-Fi network name is set (wifi_ssid)"),
        ('{wifi_ssid: "Shop", wifi_key: "short", wifi_hidden: true}', "wifi_key", "8 to 63"),
    ],
)
def test_the_new_wifi_keys_follow_the_devices_rules_in_json5(system_ini, key, words):
    source = f'{{\n  name: "kiosk",\n  system_ini: {system_ini},\n}}'
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse(source)
    assert f"system_ini “{key}”" in str(caught.value)
    assert words in str(caught.value)


def test_a_default_wifi_country_without_a_network_name_passes_in_json5():
    blueprint_parse('{name: "kiosk", system_ini: {wifi_country: "JP", wifi_hidden: true}}')


def test_the_new_wifi_keys_pass_in_json5():
    source = (
        '{name: "kiosk", system_ini: {wifi_ssid: "Café \\"☕\\" #1", wifi_key: "hunter2hunter2", '
        'wifi_wpa3: true, wifi_hidden: "yes", wifi_country: "JP", wifi_interface: "wlan1"}}'
    )
    values = blueprint_parse(source).data["system_ini"]
    assert values["wifi_wpa3"] is True and values["wifi_interface"] == "wlan1"
