"""One Raspberry Pi profile instead of two (issue 10): rpi3-arm64 + rpi4-arm64 → rpi-arm64.

Seeding only creates missing rows, so an existing installation is moved here:
- the merged profile is created (its values frozen below) unless it exists already;
- every blueprint whose latest revision targets an old profile gets a new revision targeting
  the merged one instead: revisions are never edited, so history keeps what was built;
- an old profile that builds or earlier revisions still point at is kept, disabled and renamed
  "… (replaced by rpi-arm64)" — its builds stay readable and downloadable; one nothing points
  at is deleted.
A fresh installation has neither old profile and is left to the seed. Running it again
changes nothing.
"""

import re

from django.db import migrations

OLD_SLUGS = ("rpi4-arm64", "rpi3-arm64")
MERGED_SLUG = "rpi-arm64"
REPLACED = f" (replaced by {MERGED_SLUG})"
# hardware_profiles/seed.py at the time of this migration (frozen: the seed may change later).
MERGED = {
    "name": "Raspberry Pi 3 / 4 / 400 / CM4 (arm64)",
    "description": (
        "One 64-bit SD-card image for the Raspberry Pi 3 Model B and B+, the Pi 4 Model B, "
        "the Pi 400 and the Compute Module 4 (on its IO board). Not the Pi 5."
    ),
    "arch": "arm64",
    "boot_scheme": "rpi-firmware",
    "partition_table": "mbr",
    "suite": "bookworm",
    "components": ["main", "non-free-firmware"],
    "kernel_package": "linux-image-arm64",
    "firmware_packages": ["raspi-firmware", "firmware-brcm80211", "wireless-regdb"],
    "extra_packages": [],
    "kernel_args": "",
    "serial_console": "ttyS1,115200",
    "capabilities": ["ethernet", "wifi", "bluetooth", "serial", "display", "usb"],
    "output_formats": ["raw", "xz"],
    "boot_test_machine": "raspi3b",
    "boot_test_firmware": "",
    "enabled": True,
}


def _merged_targets(slugs):
    """The targets list with each old slug replaced, in order, without repeats."""
    merged = []
    for slug in slugs:
        slug = MERGED_SLUG if slug in OLD_SLUGS else slug
        if slug not in merged:
            merged.append(slug)
    return merged


def _source_for(source, old_targets, data):
    """The revision's own text with the slug replaced (its comments kept) when that reads
    back as exactly `data`; otherwise `data` written afresh, as the editor writes it."""
    from blueprints.json5_io import blueprint_dump, json5_load

    replaced = source
    for slug in OLD_SLUGS:
        if slug in old_targets:
            replaced = re.sub(rf"([\"']){re.escape(slug)}\1", rf"\g<1>{MERGED_SLUG}\1", replaced)
    try:
        if json5_load(replaced) == data:
            return replaced
    except Exception:  # noqa: BLE001 — any doubt: write the data out instead
        pass
    return blueprint_dump(data)


def _retarget(apps, blueprint):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    Revision = apps.get_model("blueprints", "BlueprintRevision")
    latest = blueprint.latest_revision
    old_targets = list(latest.data.get("targets") or latest.targets.values_list("slug", flat=True))
    data = {**latest.data, "targets": _merged_targets(old_targets)}
    revision = Revision.objects.create(
        blueprint=blueprint,
        number=latest.number + 1,
        source=_source_for(latest.source, old_targets, data),
        data=data,
        description=latest.description,
        version=latest.version,
        message=f"Targets: the Raspberry Pi profiles were merged into {MERGED_SLUG}",
        author=None,
    )
    profiles = {p.slug: p for p in Profile.objects.filter(slug__in=data["targets"])}
    revision.targets.set([profiles[slug] for slug in data["targets"] if slug in profiles])
    blueprint.latest_revision = revision
    blueprint.save(update_fields=["latest_revision"])


def merge(apps, schema_editor):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    Blueprint = apps.get_model("blueprints", "Blueprint")
    Revision = apps.get_model("blueprints", "BlueprintRevision")
    Build = apps.get_model("builds", "Build")
    old = list(Profile.objects.filter(slug__in=OLD_SLUGS))
    if not old:
        return
    Profile.objects.get_or_create(slug=MERGED_SLUG, defaults=MERGED)
    affected = Blueprint.objects.filter(latest_revision__targets__in=old).distinct()
    for blueprint in affected.select_related("latest_revision"):
        _retarget(apps, blueprint)
    for profile in old:
        in_use = (
            Build.objects.filter(profile=profile).exists()
            or Revision.objects.filter(targets=profile).exists()
        )
        if not in_use:
            profile.delete()
            continue
        profile.enabled = False
        if not profile.name.endswith(REPLACED):
            profile.name = profile.name[: 100 - len(REPLACED)] + REPLACED
        profile.save(update_fields=["enabled", "name"])


class Migration(migrations.Migration):
    dependencies = [
        ("hardware_profiles", "0001_initial"),
        ("blueprints", "0003_package_index_moved"),
        ("builds", "0004_build_host"),
    ]

    # No way back: which blueprint targeted which of the two boards is not recorded.
    operations = [migrations.RunPython(merge, migrations.RunPython.noop)]
