"""What the download page offers: one obvious file for the build's board, the rest explained.

A technician should not have to know what a qcow2 or a bmap is to get a device running: the
board decides which file to take and which tool writes it; every other file says in one line
what it is for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from builds.models import Artifact
from hardware_profiles.models import HardwareProfile

Kind = Artifact.Kind

# One line per file: what it is for, in the order the page lists them.
PURPOSES: dict[str, str] = {
    Kind.DISK_RAW: "The whole disk as a raw image: write it with balenaEtcher, Rufus, dd or "
    "bmaptool, or convert it for another hypervisor.",
    Kind.DISK_QCOW2: "The disk of a QEMU/KVM virtual machine (Proxmox, virt-manager); it boots "
    "with UEFI.",
    Kind.DISK_XZ: "The disk image compressed with xz, a smaller download: Raspberry Pi Imager "
    "and balenaEtcher write it as it is.",
    Kind.DISK_ZST: "The disk image compressed with zstd, a smaller download: unpack it with "
    "zstd -d (7-Zip on Windows), then write the .img.",
    Kind.BMAP: "Block map for bmaptool copy: writes only the blocks in use, much faster than dd.",
    Kind.SYSTEM_IMG: "Update file: replace system.img on the boot partition of a device running "
    "an earlier version with it; keep the old copy until the new one has booted.",
    Kind.SHA256SUMS: "The SHA-256 checksums of these files, for sha256sum -c.",
    Kind.MANIFEST: "What is inside: the package versions, file sizes and build details (JSON).",
    Kind.SBOM: "Software bill of materials: every Debian package in the image with its version, "
    "source package and licence, as an SPDX 2.3 document (JSON), for licence and security "
    "reviews.",
    Kind.LOG: "The build log, as text.",
}


@dataclass(frozen=True)
class OtherFile:
    artifact: Artifact
    purpose: str


@dataclass(frozen=True)
class DownloadChoices:
    main: Artifact | None
    how_to_write: str
    others: list[OtherFile]
    can_personalise: bool  # a raw disk image to write one device's system.ini into


def is_virtual_machine(profile: HardwareProfile) -> bool:
    """A profile with a QEMU disk and neither USB nor a display is a VM: nothing is written to
    a card or stick for it, the qcow2 is its disk (the seeded KVM guest)."""
    hardware = {HardwareProfile.Capability.USB, HardwareProfile.Capability.DISPLAY}
    return HardwareProfile.OutputFormat.QCOW2 in profile.output_formats and not (
        hardware & set(profile.capabilities)
    )


def _main_kind(profile: HardwareProfile) -> tuple[str, str]:
    """The file a technician takes for this board, and how it gets onto the device."""
    if profile.boot_scheme == HardwareProfile.BootScheme.RPI_FIRMWARE:
        return Kind.DISK_RAW, "write it to the SD card with Raspberry Pi Imager"
    if is_virtual_machine(profile):
        return Kind.DISK_QCOW2, "use it as the virtual machine's disk (boot with UEFI)"
    return Kind.DISK_RAW, "write it to a USB stick or disk with balenaEtcher, Rufus or dd"


def download_choices(profile: HardwareProfile, artifacts: Iterable[Artifact]) -> DownloadChoices:
    by_kind = {artifact.kind: artifact for artifact in artifacts}
    kind, how = _main_kind(profile)
    main = by_kind.get(kind) or by_kind.get(Kind.DISK_RAW)
    if main is not None and main.kind != kind:  # the board's usual file is missing
        how = "the whole disk as a raw image"
    others = [
        OtherFile(by_kind[other], purpose)
        for other, purpose in PURPOSES.items()
        if other in by_kind and by_kind[other] is not main
    ]
    return DownloadChoices(
        main=main, how_to_write=how, others=others, can_personalise=Kind.DISK_RAW in by_kind
    )
