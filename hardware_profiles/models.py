"""Hardware profiles: what a board or VM needs so a blueprint boots on it (admin-managed)."""

from __future__ import annotations

from django.db import models

from image_builder.boot import combination_problem


class HardwareProfile(models.Model):
    class Arch(models.TextChoices):
        AMD64 = "amd64", "x86_64 (amd64)"
        ARM64 = "arm64", "ARM 64-bit (arm64)"

    class BootScheme(models.TextChoices):
        UEFI_GRUB = "uefi-grub", "UEFI with GRUB"
        RPI_FIRMWARE = "rpi-firmware", "Raspberry Pi firmware"

    class PartitionTable(models.TextChoices):
        GPT = "gpt", "GPT"
        MBR = "mbr", "MBR (DOS)"

    class Capability(models.TextChoices):
        ETHERNET = "ethernet", "Ethernet"
        WIFI = "wifi", "Wi-Fi"
        BLUETOOTH = "bluetooth", "Bluetooth"
        SERIAL = "serial", "Serial console"
        DISPLAY = "display", "Display"
        GPIO = "gpio", "GPIO header"
        USB = "usb", "USB"

    class OutputFormat(models.TextChoices):
        RAW = "raw", "Raw disk image (.img)"
        ZST = "zst", "Compressed with zstd (.img.zst)"
        XZ = "xz", "Compressed with xz (.img.xz)"
        QCOW2 = "qcow2", "QEMU disk (.qcow2)"

    slug = models.SlugField(unique=True, help_text="Short stable identifier, used in file names.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    arch = models.CharField(max_length=8, choices=Arch.choices)
    boot_scheme = models.CharField(max_length=20, choices=BootScheme.choices)
    partition_table = models.CharField(max_length=4, choices=PartitionTable.choices)
    suite = models.CharField(max_length=40, default="bookworm", help_text="Debian suite.")
    components = models.JSONField(default=list, help_text='Debian components, e.g. ["main"].')
    kernel_package = models.CharField(max_length=100)
    firmware_packages = models.JSONField(default=list, blank=True)
    wifi_packages = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'The radio\'s firmware, installed only when the profile has the "wifi" capability.'
        ),
    )
    extra_packages = models.JSONField(
        default=list, blank=True, help_text="Packages every image for this board needs."
    )
    kernel_modules = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "The kernel modules this board needs: names (virtio_blk), directories of the "
            "kernel's module tree (drivers/net/usb/), classes (@ethernet, @usb, @devicetree) "
            "and !exclusions; their dependencies come with them. Empty keeps every module."
        ),
    )
    kernel_args = models.CharField(max_length=500, blank=True)
    serial_console = models.CharField(
        max_length=40, blank=True, help_text='Kernel console, e.g. "ttyS0,115200"; empty for none.'
    )
    capabilities = models.JSONField(default=list, blank=True)
    output_formats = models.JSONField(default=list)
    boot_test_machine = models.CharField(
        max_length=40,
        blank=True,
        help_text='QEMU machine for the boot test, e.g. "q35" or "virt"; empty = not emulated.',
    )
    boot_test_firmware = models.CharField(
        max_length=200, blank=True, help_text="UEFI firmware file QEMU boots with."
    )
    boot_test_dtb = models.CharField(
        max_length=100,
        blank=True,
        help_text="Device tree on the boot partition QEMU gives the kernel (raspi3b: "
        '"bcm2837-rpi-3-b.dtb"); empty for UEFI machines, whose firmware supplies one.',
    )
    boot_test_memory_mib = models.PositiveIntegerField(
        default=1024, help_text="Memory of the emulated machine (raspi3b has exactly 1024)."
    )
    boot_test_timeout_seconds = models.PositiveIntegerField(
        default=600,
        help_text="How long the boot test may take under software emulation before it fails.",
    )
    enabled = models.BooleanField(
        default=True, help_text="Disabled profiles cannot be chosen or built."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_wifi(self) -> bool:
        return self.Capability.WIFI in self.capabilities

    @property
    def board_firmware(self) -> list[str]:
        """The firmware an image for this board gets: the Wi-Fi firmware only with a radio."""
        wifi = [p for p in self.wifi_packages if p not in self.firmware_packages]
        return [*self.firmware_packages, *(wifi if self.has_wifi else [])]

    @property
    def builder_problem(self) -> str | None:
        """Why the image builder cannot make this profile (its own answer), or None."""
        return combination_problem(self.arch, self.boot_scheme, self.partition_table)

    @property
    def is_emulated(self) -> bool:
        return bool(self.boot_test_machine)

    def capability_labels(self) -> list[str]:
        labels = dict(self.Capability.choices)
        return [labels.get(cap, cap) for cap in self.capabilities]
