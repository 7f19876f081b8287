"""One blueprint, every board: the minimal blueprint merged with each seeded hardware profile
the way the web does it (blueprints.buildspec.buildspec_for), for the per-board slow tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from blueprints.buildspec import buildspec_for
from blueprints.editor import SECTIONS
from hardware_profiles.models import HardwareProfile
from hardware_profiles.seed import SEED_PROFILES
from image_builder import BuildSpec

DATA = Path(__file__).parent / "data"
PC, KVM, ARM64, RPI = "pc-x86_64", "kvm-x86_64", "arm64-uefi", "rpi-arm64"
BOARDS = (PC, KVM, ARM64, RPI)
TEST_AP_PACKAGES = ("hostapd", "dnsmasq-base", "iw")
# The PC blueprint's system.ini defaults name a Wi-Fi network: the image's boot partition
# carries its key, and no metadata artifact may (test_metadata_secrets.py). No radio is there
# unless a test starts the test access point, and every Wi-Fi test writes its own system.ini.
PC_WIFI_SSID = "genpack-fixture-net"
PC_WIFI_KEY = "fixture-wifi-key-Q7x9zK2m"
BLUEPRINT_KEYS = ("name", "version", "description", "packages", "services", "users")


# A script as a browser sends it from the files form's textarea: every line break CRLF.
TYPED_SCRIPT = {"path": "/usr/local/bin/typed-in-the-form", "mode": "0755", "owner": "root"}
TYPED_SCRIPT_POSTED = "#!/bin/sh\r\necho typed in the browser\r\n"


def minimal_blueprint() -> dict[str, Any]:
    """The blueprint part of data/minimal.json: openssh-server and a root password, and a
    script typed in the files form (through the editor's own section, as the web saves it)."""
    spec = json.loads((DATA / "minimal.json").read_text())
    blueprint = {key: spec[key] for key in BLUEPRINT_KEYS if key in spec}
    blueprint["description"] = "openssh-server and a root password, for every board"
    blueprint["services"] = [unit.removesuffix(".service") for unit in blueprint["services"]]
    return {**blueprint, **typed_in_the_files_form(blueprint, TYPED_SCRIPT_POSTED)}


def typed_in_the_files_form(blueprint: dict[str, Any], content: str) -> dict[str, Any]:
    """The `files` the editor's files section stores for TYPED_SCRIPT posted with `content`."""
    post = QueryDict(mutable=True)
    post.update({**TYPED_SCRIPT, "content": content})
    change = SECTIONS["files"].apply(post, MultiValueDict(), blueprint, [])
    return change.fields


def seeded_profile(slug: str) -> HardwareProfile:
    """The profile as seeded, unsaved: no database needed."""
    fields = next(dict(item) for item in SEED_PROFILES if item["slug"] == slug)
    return HardwareProfile(**fields)


def board_blueprint(slug: str) -> dict[str, Any]:
    blueprint = minimal_blueprint()
    if slug == PC:
        blueprint["system_ini"] = {"wifi_ssid": PC_WIFI_SSID, "wifi_key": PC_WIFI_KEY}
    return blueprint


def board_system_ini(slug: str) -> str | None:
    """The PC's system.ini as the web writes it into a build of the blueprint (its defaults);
    the other boards get the engine's own default."""
    from builds.system_ini import render_for

    return render_for(board_blueprint(slug), seeded_profile(slug)) if slug == PC else None


def board_spec(slug: str) -> BuildSpec:
    spec = buildspec_for(minimal_blueprint(), seeded_profile(slug))
    return with_test_access_point(spec) if slug == PC else spec


def with_test_access_point(spec: BuildSpec) -> BuildSpec:
    """The PC image also carries a dormant test access point (data/wifi_ap/): hostapd and a
    DHCP server on a simulated radio, started only when a test puts its hostapd.conf on the
    boot partition. One image serves the PC's boot tests and its Wi-Fi join tests."""
    ap = DATA / "wifi_ap"
    files = (
        {"path": "/usr/local/sbin/test-ap", "mode": "0755",
         "content": (ap / "test-ap").read_text()},
        {"path": "/etc/systemd/system/test-ap.service",
         "content": (ap / "test-ap.service").read_text()},
    )  # fmt: skip
    return dataclasses.replace(
        spec,
        # The simulated radios are a test's hardware, not a PC's: only test images have them.
        kernel_modules=(*spec.kernel_modules, "mac80211_hwsim"),
        packages=(*spec.packages, *TEST_AP_PACKAGES),
        services=(*spec.services, "test-ap.service"),
        files=(*spec.files, *files),
    ).normalise()


# What the broken init prints before it exits (and the kernel panics).
BROKEN_INIT_MESSAGE = "genpack-test: this image's init system is broken on purpose"


def broken_init_spec(spec: BuildSpec) -> BuildSpec:
    """`spec` with an image that cannot boot: /sbin/init (/usr/sbin/init, systemd's link) is
    replaced by a script that says so and exits, so the kernel panics ("Attempted to kill
    init!") the moment the initramfs hands over. For boot tests that must fail."""
    return dataclasses.replace(spec, files=(*spec.files, broken_init_file())).normalise()


def broken_init_file() -> dict[str, str]:
    """The blueprint file entry that breaks the init system (as the files form stores it)."""
    return {
        "path": "/usr/sbin/init",
        "mode": "0755",
        # The pause lets the console's tty drain before the kernel panics and stops.
        "content": f'#!/bin/sh\necho "{BROKEN_INIT_MESSAGE}"\nsleep 3\nexit 1\n',
    }
