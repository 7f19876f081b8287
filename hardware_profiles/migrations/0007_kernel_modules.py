"""Profiles say which kernel modules their board needs (image_builder/kmods.py).

Seeding only creates missing rows, so the seeded profiles of existing installations get their
lists here. A profile whose list an admin already filled, or whose kernel is no longer the one
seeded (the list was written for that kernel), is left as it is: empty keeps every module.
"""

from django.db import migrations, models

# Frozen copies: the seed may change later.
SEEDED = {
    "pc-x86_64": (
        "linux-image-amd64",
        ["@pc-platform", "@storage", "@ethernet", "@usb", "@input", "@graphics", "@wifi",
         "@virtio", "@serial"],
    ),
    "kvm-x86_64": ("linux-image-cloud-amd64", ["@virtio"]),
    "arm64-uefi": (
        "linux-image-arm64",
        ["@arm64-soc", "@virtio", "@storage", "@ethernet", "@usb", "@input", "@graphics",
         "@serial"],
    ),
    "rpi-arm64": (
        "linux-image-arm64",
        ["@devicetree", "@usb", "@storage", "@wifi", "@bluetooth", "@serial", "@gpio",
         "smsc95xx", "lan78xx", "bcm2835_wdt", "raspberrypi-cpufreq"],
    ),
}  # fmt: skip


def name_modules(apps, schema_editor):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    for slug, (kernel, modules) in SEEDED.items():
        Profile.objects.filter(slug=slug, kernel_package=kernel, kernel_modules=[]).update(
            kernel_modules=modules
        )


class Migration(migrations.Migration):
    dependencies = [("hardware_profiles", "0006_raspi3b_boot_test_dtb")]

    operations = [
        migrations.AddField(
            model_name="hardwareprofile",
            name="kernel_modules",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text=(
                    "The kernel modules this board needs: names (virtio_blk), directories of "
                    "the kernel's module tree (drivers/net/usb/), classes (@ethernet, @usb, "
                    "@devicetree) and !exclusions; their dependencies come with them. Empty "
                    "keeps every module."
                ),
            ),
        ),
        migrations.RunPython(name_modules, migrations.RunPython.noop),
    ]
