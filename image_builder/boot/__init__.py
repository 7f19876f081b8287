"""Boot schemes: how a profile's firmware finds and starts the kernel (one module each).

A scheme owns what only it knows: the files on the FAT boot partition, the partition table
it can make, and where the kernel and initramfs go. The pipeline asks `scheme_for(spec)` and
never branches on the boot scheme itself.
"""

from __future__ import annotations

from dataclasses import dataclass

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
