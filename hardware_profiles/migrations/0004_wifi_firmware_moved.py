"""The radio's firmware moves to its own list, wifi_packages (issue 11).

An image gets wifi_packages only when its profile has the "wifi" capability, and the builder
adds the Wi-Fi client (wpasupplicant) and the regulatory database (wireless-regdb) itself for
every such profile. Seeding only creates missing rows, so an existing installation's seeded
rows are changed here:
- pc-x86_64: firmware-iwlwifi leaves firmware_packages; wifi_packages becomes the common
  Intel, Atheros/Qualcomm and MediaTek firmware (bookworm has no firmware-mediatek: the mt76
  firmware is in firmware-misc-nonfree). firmware-realtek stays where it is: Ethernet needs
  it, and it carries the Realtek Wi-Fi firmware too.
- rpi-arm64: firmware-brcm80211 moves to wifi_packages; wireless-regdb leaves
  firmware_packages.
Only packages that are there are moved or dropped (an admin may have edited the row); a
wifi_packages list that is already filled in is kept. Backwards, what moved goes back to
firmware_packages, so forwards again ends where the first run did.
"""

from django.db import migrations

# The lists at the time of this migration (frozen: the seed may change later).
PC_SLUG = "pc-x86_64"
PC_WIFI = ["firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"]
PC_MOVED = ("firmware-iwlwifi",)
RPI_SLUG = "rpi-arm64"
RPI_MOVED = ("firmware-brcm80211",)
RPI_DROPPED = ("wireless-regdb",)


def _move(profile, *, moved, dropped=(), wifi=None):
    firmware = list(profile.firmware_packages or [])
    taken = [name for name in moved if name in firmware]
    profile.firmware_packages = [
        name for name in firmware if name not in taken and name not in dropped
    ]
    if not profile.wifi_packages:
        profile.wifi_packages = list(wifi) if wifi is not None else taken
    profile.save(update_fields=["firmware_packages", "wifi_packages"])


def move(apps, schema_editor):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    for profile in Profile.objects.filter(slug=PC_SLUG):
        _move(profile, moved=PC_MOVED, wifi=PC_WIFI)
    for profile in Profile.objects.filter(slug=RPI_SLUG):
        _move(profile, moved=RPI_MOVED, dropped=RPI_DROPPED)


def move_back(apps, schema_editor):
    Profile = apps.get_model("hardware_profiles", "HardwareProfile")
    for slug, moved, dropped in ((PC_SLUG, PC_MOVED, ()), (RPI_SLUG, RPI_MOVED, RPI_DROPPED)):
        for profile in Profile.objects.filter(slug=slug):
            back = [name for name in moved if name in (profile.wifi_packages or [])]
            back += [name for name in dropped if back]
            firmware = list(profile.firmware_packages or [])
            profile.firmware_packages = firmware + [name for name in back if name not in firmware]
            profile.save(update_fields=["firmware_packages"])


class Migration(migrations.Migration):
    dependencies = [("hardware_profiles", "0003_wifi_packages")]

    operations = [migrations.RunPython(move, move_back)]
