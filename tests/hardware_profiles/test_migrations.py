"""Migration 0002: the two Raspberry Pi profiles of an existing installation become one.

Rows are written with the models as they were before the migration, then the real migration
runs (MigrationExecutor), forwards, backwards and forwards again.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from blueprints.json5_io import json5_load
from blueprints.models import Blueprint
from builds.models import Build
from hardware_profiles.models import HardwareProfile
from hardware_profiles.seed import RPI_SLUG, SEED_PROFILES

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("hardware_profiles", "0001_initial")
# The two profiles as the first seed made them.
OLD = {
    "rpi4-arm64": "Raspberry Pi 4 / 400 / CM4 (arm64)",
    "rpi3-arm64": "Raspberry Pi 3 (arm64)",
}
PI_FIELDS = {
    "arch": "arm64",
    "boot_scheme": "rpi-firmware",
    "partition_table": "mbr",
    "components": ["main", "non-free-firmware"],
    "kernel_package": "linux-image-arm64",
    "serial_console": "ttyS1,115200",
    "capabilities": ["ethernet", "wifi", "bluetooth", "serial", "display", "gpio", "usb"],
    "output_formats": ["raw", "xz"],
}


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _old_apps():
    """The database and the models as they were before merging the Raspberry Pi profiles."""
    _migrate([BEFORE])
    nodes = [node for node in _leaves() if node[0] != "hardware_profiles"] + [BEFORE]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


def _blueprint(apps, name: str, source: str, profiles: dict) -> object:
    """A blueprint with one revision, its text `source`, as blueprint_create stores it."""
    data = json5_load(source)
    blueprint = apps.get_model("blueprints", "Blueprint").objects.create(name=name)
    revision = apps.get_model("blueprints", "BlueprintRevision").objects.create(
        blueprint=blueprint, number=1, source=source, data=data, version="1.0", message="Created"
    )
    revision.targets.set([profiles[slug] for slug in data["targets"]])
    blueprint.latest_revision = revision
    blueprint.save()
    return revision


def _existing_installation() -> dict[str, int]:
    """Both Pi profiles, the KVM one, blueprints targeting them, one build for the Pi 3."""
    apps = _old_apps()
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    profiles = {
        slug: Profile.objects.create(slug=slug, name=name, **PI_FIELDS)
        for slug, name in OLD.items()
    }
    profiles["kvm-x86_64"] = Profile.objects.create(
        slug="kvm-x86_64",
        name="KVM / QEMU guest x86_64",
        arch="amd64",
        boot_scheme="uefi-grub",
        partition_table="gpt",
        components=["main"],
        kernel_package="linux-image-cloud-amd64",
        output_formats=["raw"],
    )
    both = _blueprint(
        apps,
        "signage",
        '{name: "signage", version: "1.0", targets: ["rpi4-arm64", "rpi3-arm64"], packages: []}',
        profiles,
    )
    _blueprint(
        apps,
        "kiosk",
        '{\n  name: "kiosk",\n  version: "1.0",\n  // the shop boards\n'
        "  targets: ['rpi4-arm64', \"kvm-x86_64\"],\n  packages: [],\n}\n",
        profiles,
    )
    _blueprint(apps, "vm", '{name: "vm", targets: ["kvm-x86_64"], packages: []}', profiles)
    build = apps.get_model("builds", "Build").objects.create(
        revision=both,
        profile=profiles["rpi3-arm64"],
        spec={"profile": "rpi3-arm64"},
        spec_hash="a" * 64,
        state="succeeded",
    )
    return {"build": build.pk}


def _targets(name: str) -> tuple[list[str], list[str]]:
    """The latest revision's targets: as its data names them, and as its rows link them."""
    revision = Blueprint.objects.get(name=name).latest_revision
    return revision.data["targets"], sorted(revision.targets.values_list("slug", flat=True))


def test_an_existing_installation_gets_one_pi_profile_and_keeps_its_builds() -> None:
    made = _existing_installation()

    _migrate(_leaves())

    merged = HardwareProfile.objects.get(slug=RPI_SLUG)
    seeded = next(p for p in SEED_PROFILES if p["slug"] == RPI_SLUG)
    assert {field: getattr(merged, field) for field in seeded} == seeded
    assert merged.enabled and "gpio" not in merged.capabilities
    assert _targets("signage") == (["rpi-arm64"], ["rpi-arm64"])
    assert _targets("kiosk") == (["rpi-arm64", "kvm-x86_64"], ["kvm-x86_64", "rpi-arm64"])
    assert Blueprint.objects.get(name="vm").latest_revision.number == 1  # not touched
    # A new revision says what happened; the one that was built stays as it was.
    signage = Blueprint.objects.get(name="signage")
    assert signage.latest_revision.number == 2
    assert "merged into rpi-arm64" in signage.latest_revision.message
    first = signage.revisions.get(number=1)
    assert first.data["targets"] == ["rpi4-arm64", "rpi3-arm64"]
    # The kiosk's own text is kept, comment and all, with only the slug changed.
    kiosk = Blueprint.objects.get(name="kiosk").latest_revision
    assert "// the shop boards" in kiosk.source and "'rpi-arm64'" in kiosk.source
    assert json5_load(kiosk.source) == kiosk.data
    assert json5_load(signage.latest_revision.source) == signage.latest_revision.data
    # Old rows still pointed at stay, disabled and saying so; the build keeps its profile.
    old = {p.slug: p for p in HardwareProfile.objects.filter(slug__in=OLD)}
    assert {slug: p.enabled for slug, p in old.items()} == {
        "rpi4-arm64": False,
        "rpi3-arm64": False,
    }
    assert old["rpi3-arm64"].name == "Raspberry Pi 3 (arm64) (replaced by rpi-arm64)"
    build = Build.objects.get(pk=made["build"])
    assert build.profile.slug == "rpi3-arm64"
    reader = Client()
    reader.force_login(get_user_model().objects.create_superuser("root", "", "x"))
    page = reader.get(f"/builds/{build.pk}/")
    assert page.status_code == 200
    assert "Raspberry Pi 3 (arm64) (replaced by rpi-arm64)" in page.content.decode()


def test_running_it_again_changes_nothing() -> None:
    _existing_installation()
    _migrate(_leaves())
    before = (
        list(HardwareProfile.objects.order_by("slug").values_list("slug", "name", "enabled")),
        sorted(Blueprint.objects.values_list("name", "latest_revision__number")),
    )

    _migrate([BEFORE])  # backwards: nothing is undone
    _migrate(_leaves())

    after = (
        list(HardwareProfile.objects.order_by("slug").values_list("slug", "name", "enabled")),
        sorted(Blueprint.objects.values_list("name", "latest_revision__number")),
    )
    assert after == before


def test_an_old_profile_nothing_points_at_is_deleted() -> None:
    Profile = _old_apps().get_model("hardware_profiles", "HardwareProfile")
    for slug, name in OLD.items():
        Profile.objects.create(slug=slug, name=name, **PI_FIELDS)

    _migrate(_leaves())

    assert list(HardwareProfile.objects.values_list("slug", flat=True)) == [RPI_SLUG]


def test_a_fresh_installation_is_left_to_the_seed() -> None:
    _old_apps()

    _migrate(_leaves())

    assert not HardwareProfile.objects.exists()


# Migration 0004: the radios' firmware moves to wifi_packages (issue 11).
BEFORE_WIFI = ("hardware_profiles", "0002_raspberry_pi_merged")
PC_FIELDS = {
    "name": "PC x86_64 (UEFI)",
    "arch": "amd64",
    "boot_scheme": "uefi-grub",
    "partition_table": "gpt",
    "components": ["main", "non-free-firmware"],
    "kernel_package": "linux-image-amd64",
    "capabilities": ["ethernet", "wifi", "display", "usb", "serial"],
    "output_formats": ["raw", "zst"],
}
# firmware_packages as the seed made them before issue 11.
OLD_PC_FIRMWARE = ["firmware-realtek", "firmware-iwlwifi", "intel-microcode", "amd64-microcode"]
OLD_PI_FIRMWARE = ["raspi-firmware", "firmware-brcm80211", "wireless-regdb"]


def _apps_before_wifi():
    _migrate([BEFORE_WIFI])
    nodes = [node for node in _leaves() if node[0] != "hardware_profiles"] + [BEFORE_WIFI]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


def _installation_before_wifi(pc_firmware: list[str], pi_firmware: list[str]) -> None:
    Profile = _apps_before_wifi().get_model("hardware_profiles", "HardwareProfile")
    Profile.objects.create(slug="pc-x86_64", firmware_packages=pc_firmware, **PC_FIELDS)
    Profile.objects.create(
        slug=RPI_SLUG, name="Raspberry Pi", firmware_packages=pi_firmware, **PI_FIELDS
    )


def _firmware() -> dict[str, tuple[list[str], list[str]]]:
    return {
        p.slug: (p.firmware_packages, p.wifi_packages)
        for p in HardwareProfile.objects.order_by("slug")
    }


def test_the_seeded_rows_get_their_wifi_firmware_as_the_seed_now_has_it() -> None:
    _installation_before_wifi(OLD_PC_FIRMWARE, OLD_PI_FIRMWARE)

    _migrate(_leaves())

    seed = {p["slug"]: (p["firmware_packages"], p.get("wifi_packages", [])) for p in SEED_PROFILES}
    assert _firmware() == {slug: seed[slug] for slug in ("pc-x86_64", RPI_SLUG)}
    assert _firmware()["pc-x86_64"] == (
        ["firmware-realtek", "intel-microcode", "amd64-microcode"],
        ["firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"],
    )
    assert _firmware()[RPI_SLUG] == (["raspi-firmware"], ["firmware-brcm80211"])


def test_an_admins_edits_are_kept_and_only_what_is_there_moves() -> None:
    _installation_before_wifi(
        ["firmware-realtek", "firmware-bnx2"],  # no firmware-iwlwifi any more
        ["raspi-firmware", "firmware-linux-free"],  # no firmware-brcm80211, no wireless-regdb
    )

    _migrate(_leaves())

    assert _firmware() == {
        "pc-x86_64": (
            ["firmware-realtek", "firmware-bnx2"],
            ["firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"],
        ),
        RPI_SLUG: (["raspi-firmware", "firmware-linux-free"], []),
    }


def test_backwards_and_forwards_again_ends_where_the_first_run_did() -> None:
    _installation_before_wifi(OLD_PC_FIRMWARE, OLD_PI_FIRMWARE)
    _migrate(_leaves())
    first = _firmware()

    Profile = _apps_before_wifi().get_model("hardware_profiles", "HardwareProfile")
    back = dict(Profile.objects.values_list("slug", "firmware_packages"))
    assert set(back["pc-x86_64"]) == set(OLD_PC_FIRMWARE)
    assert set(back[RPI_SLUG]) == set(OLD_PI_FIRMWARE)
    _migrate(_leaves())

    assert _firmware() == first


# Migration 0007: the seeded profiles get the module lists the seed now has.
BEFORE_MODULES = ("hardware_profiles", "0006_raspi3b_boot_test_dtb")


def _installation_before_modules(**pc_changes: object) -> None:
    _migrate([BEFORE_MODULES])
    nodes = [node for node in _leaves() if node[0] != "hardware_profiles"] + [BEFORE_MODULES]
    apps = MigrationExecutor(connection).loader.project_state(nodes).apps
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    Profile.objects.create(slug="pc-x86_64", **{**PC_FIELDS, **pc_changes})
    Profile.objects.create(slug=RPI_SLUG, name="Raspberry Pi", **PI_FIELDS)
    Profile.objects.create(slug="my-board", name="Mine", **PI_FIELDS)


def test_the_seeded_profiles_get_the_seeds_module_lists() -> None:
    _installation_before_modules()

    _migrate(_leaves())

    seed = {p["slug"]: p["kernel_modules"] for p in SEED_PROFILES}
    modules = dict(HardwareProfile.objects.values_list("slug", "kernel_modules"))
    assert modules == {"pc-x86_64": seed["pc-x86_64"], RPI_SLUG: seed[RPI_SLUG], "my-board": []}
    assert "@devicetree" in modules[RPI_SLUG]


def test_a_seeded_profile_with_another_kernel_keeps_every_module() -> None:
    _installation_before_modules(kernel_package="linux-image-rt-amd64")

    _migrate(_leaves())

    assert HardwareProfile.objects.get(slug="pc-x86_64").kernel_modules == []
