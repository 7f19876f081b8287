"""The hardware profiles every installation starts with.

Package names are real Debian bookworm packages. Seeding only creates missing profiles, so an
admin's later edits are never overwritten.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from hardware_profiles.models import HardwareProfile

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
AAVMF_CODE = "/usr/share/AAVMF/AAVMF_CODE.fd"
RPI_FIRMWARE = ["raspi-firmware"]
# The radios' firmware, installed only on profiles with the "wifi" capability; the builder adds
# the Wi-Fi client and the regulatory database (wireless-regdb) itself.
RPI_WIFI = ["firmware-brcm80211"]
# Intel, Atheros/Qualcomm and MediaTek (bookworm has no firmware-mediatek: the mt76 firmware is
# in firmware-misc-nonfree). Realtek's Wi-Fi firmware is in firmware-realtek, which Ethernet
# needs anyway, so it stays in firmware_packages.
PC_WIFI = ["firmware-iwlwifi", "firmware-atheros", "firmware-misc-nonfree"]
RPI_SLUG = "rpi-arm64"
# What each board's kernel drives (image_builder/kmods.py: classes, paths, names); the
# builder adds the image's own file systems, the network stack and the boot drivers.
PC_MODULES = [
    "@pc-platform", "@storage", "@ethernet", "@usb", "@input", "@graphics", "@wifi",
    "@virtio", "@serial",
]  # fmt: skip
KVM_MODULES = ["@virtio"]
ARM64_MODULES = [
    "@arm64-soc", "@virtio", "@storage", "@ethernet", "@usb", "@input", "@graphics", "@serial",
]  # fmt: skip
# The device trees name the SoC's own devices; the Pi 3's Ethernet sits on USB. Devices that
# drivers create for other drivers have no device-tree entry: the watchdog (the Pi's only way
# to power off and reboot) and the firmware's CPU frequency control.
RPI_MODULES = [
    "@devicetree", "@usb", "@storage", "@wifi", "@bluetooth", "@serial", "@gpio",
    "smsc95xx", "lan78xx", "bcm2835_wdt", "raspberrypi-cpufreq",
]  # fmt: skip
RPI_BOOT_TEST_DTB = "bcm2837-rpi-3-b.dtb"

SEED_PROFILES: list[dict[str, Any]] = [
    {
        "slug": "pc-x86_64",
        "name": "PC x86_64 (UEFI)",
        "description": "Any 64-bit Intel or AMD PC, industrial box or NUC that boots with UEFI.",
        "arch": "amd64",
        "boot_scheme": "uefi-grub",
        "partition_table": "gpt",
        "components": ["main", "non-free-firmware"],
        "kernel_package": "linux-image-amd64",
        "firmware_packages": ["firmware-realtek", "intel-microcode", "amd64-microcode"],
        "wifi_packages": PC_WIFI,
        "extra_packages": [],
        "kernel_modules": PC_MODULES,
        "kernel_args": "",
        "serial_console": "ttyS0,115200",
        "capabilities": ["ethernet", "wifi", "display", "usb", "serial"],
        "output_formats": ["raw", "zst"],
        "boot_test_machine": "q35",
        "boot_test_firmware": OVMF_CODE,
    },
    {
        "slug": "kvm-x86_64",
        "name": "KVM / QEMU guest x86_64",
        "description": "A virtual machine on KVM, Proxmox or QEMU with virtio devices and UEFI.",
        "arch": "amd64",
        "boot_scheme": "uefi-grub",
        "partition_table": "gpt",
        "components": ["main"],
        "kernel_package": "linux-image-cloud-amd64",
        "firmware_packages": [],
        "extra_packages": ["qemu-guest-agent"],
        "kernel_modules": KVM_MODULES,
        "kernel_args": "",
        "serial_console": "ttyS0,115200",
        "capabilities": ["ethernet", "serial"],
        "output_formats": ["raw", "qcow2"],
        "boot_test_machine": "q35",
        "boot_test_firmware": OVMF_CODE,
    },
    {
        "slug": "arm64-uefi",
        "name": "Generic ARM64 (UEFI)",
        "description": "ARM64 servers, boards with UEFI firmware and arm64 virtual machines.",
        "arch": "arm64",
        "boot_scheme": "uefi-grub",
        "partition_table": "gpt",
        "components": ["main"],
        "kernel_package": "linux-image-arm64",
        "firmware_packages": [],
        "extra_packages": [],
        "kernel_modules": ARM64_MODULES,
        "kernel_args": "",
        "serial_console": "ttyAMA0,115200",
        "capabilities": ["ethernet", "serial", "display", "usb"],
        "output_formats": ["raw", "zst", "qcow2"],
        "boot_test_machine": "virt",
        "boot_test_firmware": AAVMF_CODE,
    },
    {
        # One image for every board the Pi firmware boots with Debian's arm64 kernel (IMAGE.md);
        # it replaced rpi3-arm64 and rpi4-arm64 (migration 0002 moved their blueprints here).
        "slug": RPI_SLUG,
        "name": "Raspberry Pi 3 / 4 / 400 / CM4 (arm64)",
        "description": (
            "One 64-bit SD-card image for the Raspberry Pi 3 Model B and B+, the Pi 4 Model B, "
            "the Pi 400 and the Compute Module 4 (on its IO board). Not the Pi 5."
        ),
        "arch": "arm64",
        "boot_scheme": "rpi-firmware",
        "partition_table": "mbr",
        "components": ["main", "non-free-firmware"],
        "kernel_package": "linux-image-arm64",
        "firmware_packages": RPI_FIRMWARE,
        "wifi_packages": RPI_WIFI,
        "extra_packages": [],
        "kernel_modules": RPI_MODULES,
        "kernel_args": "",
        # The mini UART: with Bluetooth on the PL011, the header's serial pins are ttyS1.
        "serial_console": "ttyS1,115200",
        "capabilities": ["ethernet", "wifi", "bluetooth", "serial", "display", "usb"],
        "output_formats": ["raw", "xz"],
        # QEMU 7.2 (Debian 12) has the Pi 3 machine (raspi3b) but not the Pi 4: the boot test runs
        # the Pi 3 DTB with the same kernel and initramfs.
        "boot_test_machine": "raspi3b",
        "boot_test_firmware": "",
        "boot_test_dtb": RPI_BOOT_TEST_DTB,
    },
]


@transaction.atomic
def profiles_seed() -> list[HardwareProfile]:
    """Create the seed profiles that do not exist yet; returns the ones it created."""
    created = []
    for fields in SEED_PROFILES:
        values = dict(fields)
        profile, was_created = HardwareProfile.objects.get_or_create(
            slug=values.pop("slug"), defaults=values
        )
        if was_created:
            created.append(profile)
    return created
