"""The Raspberry Pi profile's boot test names the device tree QEMU's raspi3b boots with.

Seeding only creates missing rows, so existing installations get it here; a value an admin
already set is kept.
"""

from django.db import migrations

RPI_BOOT_TEST_DTB = "bcm2837-rpi-3-b.dtb"  # frozen: the seed may change later


def name_dtb(apps, schema_editor):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    Profile.objects.filter(boot_test_machine="raspi3b", boot_test_dtb="").update(
        boot_test_dtb=RPI_BOOT_TEST_DTB
    )


class Migration(migrations.Migration):
    dependencies = [("hardware_profiles", "0005_boot_test_settings")]
    operations = [migrations.RunPython(name_dtb, migrations.RunPython.noop)]
