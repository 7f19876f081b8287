"""Boot schemes: how a profile's firmware finds and starts the kernel (one module each).

A scheme owns what only it knows: the files on the FAT boot partition, the partition table
it can make, and where the kernel and initramfs go. The pipeline asks `scheme_for(spec)` and
never branches on the boot scheme itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import SpecError

if TYPE_CHECKING:  # spec.py imports this module for combination_problem()
    from ..runner import Runner
    from ..spec import BuildSpec

# (boot scheme, architecture) → the partition tables the builder can make for it.
SUPPORTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("uefi-grub", "amd64"): ("gpt", "mbr"),
    ("uefi-grub", "arm64"): ("gpt", "mbr"),
    ("rpi-firmware", "arm64"): ("mbr",),
}
SCHEME_LABELS = {"uefi-grub": "UEFI with GRUB", "rpi-firmware": "Raspberry Pi firmware"}


@dataclass(frozen=True)
class Combination:
    arch: str
    boot_scheme: str
    partition_table: str


def combination_problem(arch: str, boot_scheme: str, partition_table: str) -> str | None:
    """Why the builder cannot make an image for this profile, or None when it can.

    Asked when a hardware profile is saved and when a build is requested, so nobody waits
    through minutes of work for a refusal at the disk step.
    """
    label = SCHEME_LABELS.get(boot_scheme, boot_scheme)
    tables = SUPPORTED.get((boot_scheme, arch))
    if tables is None:
        arches = sorted(a for scheme, a in SUPPORTED if scheme == boot_scheme)
        if not arches:
            return f"the builder knows no boot scheme {boot_scheme!r}"
        return f"{label} boot is made for {' and '.join(arches)} only, not {arch}"
    if partition_table not in tables:
        return (
            f"{label} on {arch} works with {' or '.join(t.upper() for t in tables)} "
            f"partition tables only, not {partition_table.upper()}"
        )
    return None


@dataclass(frozen=True)
class BootPartition:
    """How the FAT boot partition is declared in the partition table."""

    gpt_type: str  # GUID
    mbr_type: str  # hex byte, as sfdisk takes it
    bootable: bool = False  # MBR "active" flag


@dataclass
class BootContext:
    """What a scheme sees while the tree still exists (the boot step)."""

    spec: BuildSpec
    root: Path  # the root filesystem tree, kernel and initramfs at /boot/kernel, /boot/initramfs
    files_dir: Path  # where the scheme puts the files it makes for the FAT
    fetched_dir: Path  # the .debs of the scheme's fetched_packages, not installed
    volume_id: str  # the FAT's volume id (bootchain.new_fat_volume_id)
    kernel_version: str
    runner: Runner


class BootScheme(Protocol):
    name: str
    partition: BootPartition

    def packages(self, spec: BuildSpec) -> tuple[str, ...]:
        """Packages installed into the tree because this scheme boots from them."""
        ...

    def fetched_packages(self, spec: BuildSpec) -> tuple[str, ...]:
        """Packages downloaded for their files only, never installed into the tree."""
        ...

    def initramfs_modules(self, spec: BuildSpec) -> tuple[str, ...]:
        """Drivers the initramfs needs to reach the boot medium on these boards."""
        ...

    def device_trees(self, root: Path, kernel_version: str) -> list[Path]:
        """The device trees the boards boot with (kernel_modules' @devicetree); none on
        firmware that describes the hardware itself (UEFI, ACPI)."""
        ...

    def kernel_command_line(self, spec: BuildSpec, volume_id: str) -> str:
        """The full kernel command line the firmware or boot loader passes."""
        ...

    def prepare(self, context: BootContext) -> dict[str, Path]:
        """Make the boot files; returns FAT destination ("EFI/BOOT/BOOTAA64.EFI") → file."""
        ...


def scheme_for(spec: BuildSpec) -> BootScheme:
    problem = combination_problem(spec.arch, spec.boot_scheme, spec.partition_table)
    if problem:
        raise SpecError(f"profile {spec.profile}: {problem}")
    from . import rpi_firmware, uefi_grub

    schemes: dict[str, BootScheme] = {
        "uefi-grub": uefi_grub.UefiGrub(),
        "rpi-firmware": rpi_firmware.RaspberryPiFirmware(),
    }
    return schemes[spec.boot_scheme]
