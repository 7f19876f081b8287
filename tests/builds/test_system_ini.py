"""The system.ini the web writes (build, preview, personalised download): rendered from the
values, so whatever a person types can only ever become the one setting it was typed into."""

from __future__ import annotations

import ipaddress
import re

import hypothesis
import pytest
from hypothesis import strategies as st

from appliance.system_ini import (
    AppSetting,
    parse_ini,
    validate_system_ini,
    validate_values,
)
from blueprints.editor_forms import SettingForm
from blueprints.models import BlueprintRevision
from blueprints.system_ini_form import COMMON_LOCALES, SystemIniForm
from builds.forms import DeviceSystemIniForm
from builds.personalise import device_system_ini
from builds.services import build_enqueue
from builds.system_ini import app_settings, default_system_ini, render_for
from hardware_profiles.models import HardwareProfile
from tests.appliance.system_ini_corpus import make_corpus  # SSH keys of the shared corpus
from tests.builds.conftest import make_blueprint

SEPARATORS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x00", "\t", "\x1b", "\x7f", "\x9b"]
PC = HardwareProfile(slug="pc", name="PC", capabilities=["ethernet", "wifi"])
KVM = HardwareProfile(slug="kvm", name="KVM", capabilities=["ethernet"])


def _read_back(text: str, profile: HardwareProfile, data: dict | None = None):
    parsed = parse_ini(text.encode("utf-8"))
    result = validate_system_ini(
        parsed,
        capabilities=frozenset(profile.capabilities),
        app_settings=app_settings(data or {}),
    )
    return parsed, result


# --------------------------------------------------------------------------------------------
# Regressions: values that used to be joined into INI text and parsed again
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_build_never_writes_a_setting_hidden_in_a_dns_item(kvm) -> None:
    """A blueprint saved before its values were checked as values, or by another route."""
    blueprint = make_blueprint("kiosk")
    smuggled = {"hostname": "kiosk", "dns": ["1.1.1.1", "factory_reset=yes"]}
    BlueprintRevision.objects.filter(pk=blueprint.latest_revision.pk).update(
        data={**blueprint.latest_revision.data, "system_ini": smuggled}
    )
    blueprint.refresh_from_db()
    parsed, result = _read_back(default_system_ini(blueprint.latest_revision, kvm), kvm)
    assert "factory_reset" not in parsed.top and "dns" not in parsed.top
    assert result.values == {"hostname": "kiosk"}


@pytest.mark.django_db
@pytest.mark.usefixtures("build_host")
@pytest.mark.parametrize(
    "values",
    [
        {"hostname": "dev-07\nfactory_reset=yes"},
        {"hostname": "dev-07", "interface": "eth0\rautologin=yes"},
        {"hostname": "dev-07", "locale": "en_US.UTF-8\u2028factory_reset=yes"},
        {"hostname": "dev-07", "dns": ["1.1.1.1", "factory_reset=yes"]},
        {"hostname": "dev-07", "ntp": ["pool.ntp.org\nautologin=yes"]},
    ],
)
def test_a_personalised_system_ini_never_carries_a_smuggled_setting(kvm, values) -> None:
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=kvm, requested_by=None
    )
    parsed, result = _read_back(device_system_ini(build, values), kvm)
    assert not {"factory_reset", "autologin"} & set(parsed.top)
    assert parsed.problems == [] and result.unknown == []


def test_render_for_shows_blueprint_defaults_and_device_values_alike() -> None:
    data = {
        "name": "kiosk",
        "version": "1.2",
        "system_ini": {"hostname": "kiosk", "dns": ["1.1.1.1"], "factory_reset": True},
        "settings": [{"section": "kiosk", "key": "url", "default": "http://localhost/"}],
    }
    build_text = render_for(data, PC)
    assert "; kiosk 1.2 for PC\r\n" in build_text
    _, built = _read_back(build_text, PC, data)
    assert built.values == {"hostname": "kiosk", "dns": ["1.1.1.1"], "factory_reset": True}
    assert built.app_sections == {"kiosk": {"url": "http://localhost/"}}
    device_text = render_for(data, PC, device_values={"hostname": "dev-07"})
    assert "; kiosk 1.2 for PC, device dev-07\r\n" in device_text
    assert _read_back(device_text, PC, data)[1].values == {"hostname": "dev-07"}


# --------------------------------------------------------------------------------------------
# The property: any text typed into any field
# --------------------------------------------------------------------------------------------

SEPARATOR = st.sampled_from(SEPARATORS + CONTROLS)
SEPARATOR_CHAR = st.sampled_from([c for c in SEPARATORS + CONTROLS if len(c) == 1])
# Anything at all: every Unicode character (surrogates aside, as a browser sends UTF-8),
# with line separators and control characters mixed in often.
TYPED = st.text(st.one_of(st.characters(), SEPARATOR_CHAR), max_size=40)
INJECTED = st.sampled_from(
    ["factory_reset=yes", "autologin=yes", "[evil]", "  debug = yes", "\tfactory_reset=1"]
)
# Valid values (the gateway fits the address of the same index).
GOOD = {
    "hostname": ["kiosk-01", "a"],
    "ip_address": ["192.168.1.20/24", "fe80::5%eth0/64", "10.0.0.5/8"],
    "ip_gateway": ["192.168.1.1", "fe80::1", "10.0.0.1"],
    "dns": ["1.1.1.1 8.8.8.8", "fe80::53%eth0", "1.1.1.1,9.9.9.9"],
    "interface": ["eth0", "enp3s0"],
    "wifi_ssid": ["Shop WLAN", " lead space", '"quoted"', "Café ☕"],
    "wifi_key": ["hunter2hunter2", "  spaced key  ", "a" * 64],
    "wifi_country": ["JP", "de"],
    "wifi_interface": ["wlan0", "wlp2s0"],
    "timezone": ["", "Asia/Tokyo", "Europe/Berlin", "UTC"],
    "locale": COMMON_LOCALES,
    "ntp": ["pool.ntp.org", "0.pool.ntp.org 10.0.0.1"],
    "ssh_pubkey": [
        make_corpus.ALICE,
        f"{make_corpus.ALICE}\r\n{make_corpus.BOB}",
        f"{make_corpus.CAROL}\n\n  {make_corpus.ERIN}  ",
    ],
}
TEXT_FIELDS = tuple(GOOD)
# Fields whose value must come back exactly as typed (Django strips the edges of all but the
# Wi-Fi password); the others come back in the device's canonical form.
EXACT = (
    "hostname",
    "wifi_ssid",
    "wifi_key",
    "timezone",
    "locale",
    "interface",
    "wifi_interface",
)
BOXES = ("autologin", "debug", "wifi_wpa3", "wifi_hidden", "wifi_key_forget")


def hostile(field: str) -> st.SearchStrategy[str]:
    """Any text at all, or a valid value with a separator and maybe a setting hidden in it."""
    good = st.sampled_from(GOOD[field])
    return st.one_of(
        TYPED,
        st.builds(lambda g, sep, extra: f"{g}{sep}{extra}", good, SEPARATOR, INJECTED),
        st.builds(lambda g, sep: f"{g}{sep}", good, SEPARATOR),
        st.builds(lambda g, sep: f"{sep}{g}", good, SEPARATOR),
        st.builds(lambda g, extra: f"{g} {extra}", good, INJECTED),
    )


@st.composite
def typed_forms(draw) -> dict[str, str]:
    """POST data of the system.ini form as a person (or a script) could send it: valid
    values in some fields, and in a few others anything at all."""
    network = draw(st.integers(0, 2))
    data: dict[str, str] = {}
    for field in TEXT_FIELDS:
        if draw(st.booleans()):
            choices = GOOD[field]
            data[field] = (
                choices[network]
                if field in ("ip_address", "ip_gateway")
                else (draw(st.sampled_from(choices)))
            )
    if "wifi_key" in data:
        data.setdefault("wifi_ssid", "Shop")
    static = "ip_address" in data and draw(st.booleans())
    data["network"] = "static" if static else draw(st.sampled_from(["dhcp", "static", "x"]))
    for field in draw(st.lists(st.sampled_from(TEXT_FIELDS), max_size=2, unique=True)):
        data[field] = draw(hostile(field))
    for box in BOXES:
        if draw(st.booleans()):
            data[box] = draw(st.one_of(st.just("on"), TYPED))
    return data


def _offered(form: SystemIniForm) -> set[str]:
    return set(form.fields) - {"network"}


def _assert_intact(
    form: SystemIniForm, values: dict, read: dict, typed: dict, keys: set[str] | None = None
) -> None:
    """Each accepted value (of `keys`, default all) reads back as typed (or in the device's
    canonical form)."""
    expected = validate_values(values, capabilities=frozenset(PC.capabilities)).values
    for key in values if keys is None else keys:
        assert read[key] == expected[key], key
        if key in EXACT and key in typed:
            assert read[key] == (typed[key] if key == "wifi_key" else typed[key].strip()), key
    if "ntp" in typed and "ntp" in values:
        assert read["ntp"] == [s for s in re.split(r"[ ,]+", typed["ntp"]) if s]
    if "dns" in typed and "dns" in values:
        servers = [s for s in re.split(r"[ ,]+", typed["dns"]) if s]
        assert read["dns"] == [str(ipaddress.ip_address(s)) for s in servers]
    for box in BOXES:
        if box in form.fields and box != "wifi_key_forget":  # that one is no system.ini key
            assert read.get(box, False) is form.cleaned_data[box], box


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(typed=typed_forms(), wifi=st.booleans())
def test_default_system_ini_form_gives_exactly_its_keys_intact_or_an_error(typed, wifi) -> None:
    """The blueprint's default system.ini (editor section and preview) for any typed text."""
    profile = PC if wifi else KVM
    form = SystemIniForm(typed, has_wifi=wifi)
    valid = form.is_valid()
    # Saved only when valid; the preview shows the fields that passed even when others failed.
    cleaned = {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
    values = form.system_ini_values(cleaned)
    data = {"name": "kiosk", "version": "1", "system_ini": values}
    parsed, read = _read_back(render_for(data, profile), profile, data)

    assert parsed.problems == [] and parsed.sections == {}
    assert read.rejected == {} and read.unknown == []
    assert set(parsed.top) <= _offered(form)  # never factory_reset, never a Wi-Fi key on KVM
    if not valid:
        assert all(message for messages in form.errors.values() for message in messages)
        return
    assert set(parsed.top) == set(values)
    _assert_intact(form, values, read.values, typed)


DEFAULTS = {
    "hostname": "kiosk",
    "wifi_ssid": "Shop",
    "wifi_key": "saved-password",
    "dns": ["1.1.1.1"],
    "ssh_pubkey": [make_corpus.ALICE],
    "debug": True,
}


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(typed=typed_forms())
def test_per_device_form_gives_exactly_its_keys_intact_or_an_error(typed) -> None:
    """The technician's per-device form (builds.views.build_personalise) for any typed text."""
    form = DeviceSystemIniForm(typed, has_wifi=True, defaults=DEFAULTS)
    if not form.is_valid():
        assert form.errors and all(m for messages in form.errors.values() for m in messages)
        return
    values = form.device_values(form.cleaned_data)
    data = {"name": "kiosk", "system_ini": DEFAULTS}
    parsed, read = _read_back(render_for(data, PC, device_values=values), PC, data)

    assert parsed.problems == [] and parsed.sections == {}
    assert read.rejected == {} and read.unknown == []
    assert set(parsed.top) <= _offered(form)
    # An empty Wi-Fi password field keeps the saved one: that one was not typed.
    typed_keys = {key for key in values if typed.get(key) or key in BOXES}
    assert typed_keys <= set(parsed.top)
    _assert_intact(form, values, read.values, typed, typed_keys)


@st.composite
def typed_settings(draw) -> dict[str, str]:
    kind = draw(st.sampled_from(["string", "int", "bool", "choice"]))
    good_default = {"string": "http://kiosk/", "int": "8080", "bool": "yes", "choice": "b"}[kind]
    data = {
        "section": draw(st.sampled_from(["kiosk", "my-app"])),
        "key": draw(st.sampled_from(["url", "port"])),
        "type": kind,
        "default": draw(
            st.one_of(
                st.just(good_default),
                st.builds(lambda s, i: f"{good_default}{s}{i}", SEPARATOR, INJECTED),
                TYPED,
            )
        ),
        "help": draw(st.one_of(st.just("Shown as a note."), TYPED)),
    }
    if kind == "choice" or draw(st.booleans()):
        data["choices"] = draw(st.one_of(st.just("a, b, c"), TYPED))
    return data


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(typed=typed_settings())
def test_custom_setting_values_give_exactly_their_section_and_key_intact_or_an_error(typed):
    form = SettingForm(typed)
    if not form.is_valid():
        assert all(m for messages in form.errors.values() for m in messages)
        return
    # As the Custom settings section stores it.
    entry = {k: v for k, v in form.cleaned_data.items() if v not in ("", None, [])}
    data = {"name": "kiosk", "settings": [entry]}
    parsed, read = _read_back(render_for(data, KVM), KVM, data)
    setting = AppSetting(**{**entry, "choices": tuple(entry.get("choices", ()))})

    assert parsed.problems == [] and parsed.top == {}
    assert read.rejected == {} and read.unknown == []
    assert set(parsed.sections) == {setting.section}
    assert set(parsed.sections[setting.section]) <= {setting.key}
    expected = {setting.key: setting.default} if setting.default is not None else {}
    assert read.app_sections == {setting.section: expected}
    if setting.type == "string" and "default" in entry:
        assert setting.default == typed["default"].strip()
