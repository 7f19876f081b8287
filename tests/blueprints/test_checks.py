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
