"""Steps 5-7: /.genpack metadata, system.img, the disk image (no loop mounts), outputs.

The disk image is put together from partition images: mkfs.vfat -C + mtools for the FAT,
mke2fs for the data partition, sfdisk for the GPT, dd to place them. No loop device, no
mount, so it works in containers and in parallel builds.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .base_cache import tree_bytes
from .boot import BootPartition
from .bootchain import fat_uuid
from .runner import Runner
from .spec import BuildSpec

MIB = 1024 * 1024
DATA_PARTITION_MIB = 64  # grown to fill the medium at first boot
FAT_MIN_MIB = 64
FAT_MARGIN_MIB = 32
LINUX_DATA_TYPES = {"gpt": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "mbr": "83"}
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}


@dataclass(frozen=True)
class Artifact:
    # system-img, disk-raw, disk-zst, disk-xz, disk-qcow2, bmap, sbom, sha256sums, manifest, log
    kind: str
    path: Path
    size: int
    sha256: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def installed_packages(root: Path, runner: Runner) -> dict[str, dict[str, str]]:
    result = runner.run(
        [
            "dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
            "-f=${Package}\t${Version}\t${Installed-Size}\n",
        ],
        step="metadata", quiet=True, keep_output=True,
    )  # fmt: skip
    packages = {}
    for line in result.lines:
        name, version, size = [*line.split("\t"), "", ""][:3]
        if name:
            packages[name] = {"version": version, "installed_kib": size}
    return packages


def write_metadata(
    spec: BuildSpec, root: Path, build_id: str, packages: dict[str, dict[str, str]]
) -> None:
    meta = root / ".genpack"
    meta.mkdir(exist_ok=True)
    fields = {
        "artifact": spec.name,
        "profile": spec.profile,
        "arch": spec.arch,
        "build": build_id,
        "spec-hash": spec.spec_hash(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "packages": "".join(f"{n}={p['version']}\n" for n, p in sorted(packages.items())),
    }
    for name, value in fields.items():
        (meta / name).write_text(value if value.endswith("\n") else value + "\n")


# systemd's ConditionNeedsUpdate=/etc is true while /etc/.updated is missing or older than
# /usr. Debian ships nothing that writes it (no systemd-update-done), so at every boot
# systemd-sysusers redid what the packages' scripts did at build time: ~0.5 s on the way to
# login under emulation. The image's /etc is up to date with its /usr, so it says so (squashfs
# keeps whole seconds, which is what systemd compares). A writable layer with its own user
# database may not be: the initramfs then hides the stamp and sysusers runs
# (appliance/initramfs/init).
UPDATE_STAMP = """\
# Written by genpack-site at build time, as systemd-update-done writes it: this image's /etc
# is up to date with its /usr. See man:systemd-update-done.service(8).
TIMESTAMP_NSEC={nsec}
"""


def stamp_etc_up_to_date(root: Path) -> None:
    seconds = int((root / "usr").stat().st_mtime)
    stamp = root / "etc/.updated"
    stamp.unlink(missing_ok=True)
    stamp.write_text(UPDATE_STAMP.format(nsec=seconds * 10**9))
    os.utime(stamp, (seconds, seconds))


# Small files share "fragment" blocks and the kernel keeps only three of them unpacked, so
# a boot reading hundreds of small files unpacks the same fragment blocks again and again:
# with 1 MiB blocks that cost the KVM guest ~7 s of a 36 s boot under emulation, and 256 KiB
# blocks keep most of that for +6 % size (README, "Compression"). An image that is mostly
# firmware (a PC's Wi-Fi and GPU blobs, read whole when a driver loads) packs 1 MiB blocks:
# 12 MiB (7 %) smaller for the seeded PC, whose small files are a small part of it.
SQUASHFS_BLOCK = "256K"
FIRMWARE_SQUASHFS_BLOCK = "1M"
FIRMWARE_SHARE = 1 / 3


def squashfs_block(root: Path) -> str:
    firmware = tree_bytes(root / "usr/lib/firmware")
    if firmware and firmware >= FIRMWARE_SHARE * tree_bytes(root):
        return FIRMWARE_SQUASHFS_BLOCK
    return SQUASHFS_BLOCK


# The initramfs is zstd-packed already (initramfs.py): xz finds nothing more in it, but GRUB
# would still unpack it through xz at every boot (~1 s for 6 MiB under emulation).
STORED_AS_IS = "uncompressed@pathname(boot/initramfs)"


def squashfs_command(spec: BuildSpec, root: Path, output: Path, block: str) -> list[str]:
    # xz: the smallest result GRUB's squash4 + xzio can read (GRUB 2.06 cannot read zstd).
    # No -Xbcj: mksquashfs then compresses every block twice (with and without the filter).
    return [
        "mksquashfs", str(root), str(output), "-noappend", "-no-progress",
        "-comp", spec.compression, "-b", block, "-action", STORED_AS_IS,
    ]  # fmt: skip


def make_squashfs(spec: BuildSpec, root: Path, output: Path, runner: Runner) -> None:
    block = squashfs_block(root)
    runner.reporter.log(f"squashfs: {spec.compression}, {block} blocks, initramfs stored as is")
    runner.run(squashfs_command(spec, root, output, block), step="squashfs")


FAT32_MIN_CLUSTERS = 65525 + 1024  # fewer and it is not FAT32; a margin for the tables


def sectors_per_cluster(size_mib: int) -> int:
    """The largest cluster (up to 32 KiB) that still leaves FAT32 enough clusters. mkfs.vfat
    would pick 512 bytes below 260 MiB: GRUB then walks a 100,000-link cluster chain each
    time it seeks backwards in system.img (1.2 s of a TCG boot at 2 KiB for a 146 MiB FAT)."""
    sectors = size_mib * 2048
    per_cluster = 1
    while per_cluster < 64 and sectors // (per_cluster * 2) >= FAT32_MIN_CLUSTERS:
        per_cluster *= 2
    return per_cluster


def make_fat(
    *,
    path: Path,
    size_mib: int,
    volume_id: str,
    files: dict[str, Path],
    runner: Runner,
) -> None:
    """files: destination inside the FAT ("EFI/BOOT/BOOTX64.EFI") -> source on the host."""
    runner.run(
        ["mkfs.vfat", "-F", "32", "-s", str(sectors_per_cluster(size_mib)), "-n", "GENPACK",
         "-i", volume_id, "-C", str(path), str(size_mib * 1024)],
        step="disk",
    )  # fmt: skip
    directories = sorted({str(Path(dest).parent) for dest in files} - {"."})
    made: set[str] = set()
    for directory in directories:
        parts = Path(directory).parts
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if sub not in made:
                runner.run(["mmd", "-i", str(path), f"::{sub}"], step="disk", env=MTOOLS_ENV)
                made.add(sub)
    for dest, source in files.items():
        runner.run(
            ["mcopy", "-o", "-i", str(path), str(source), f"::{dest}"], step="disk", env=MTOOLS_ENV
        )


def assemble_disk(
    *,
    disk: Path,
    fat_image: Path,
    data_label: str,
    table: str,
    boot_partition: BootPartition,
    workdir: Path,
    runner: Runner,
) -> None:
    """Partition 1 the FAT, partition 2 the data partition, in a GPT or an MBR (`table`)."""
    fat_mib = fat_image.stat().st_size // MIB
    data_image = workdir / "data.img"
    data_image.unlink(missing_ok=True)
    runner.run(
        ["mke2fs", "-q", "-t", "ext4", "-b", "4096", "-m", "1", "-L", data_label,
         str(data_image), f"{DATA_PARTITION_MIB}M"],
        step="disk",
    )  # fmt: skip
    # 1 MiB before (partition table + alignment), 1 MiB after (GPT's backup; harmless on MBR).
    total_mib = 1 + fat_mib + DATA_PARTITION_MIB + 1
    disk.unlink(missing_ok=True)
    with disk.open("wb") as handle:
        handle.truncate(total_mib * MIB)
    sectors = MIB // 512
    if table == "gpt":
        boot_type, names = boot_partition.gpt_type, (', name="boot"', ', name="data"')
    else:
        boot_type, names = boot_partition.mbr_type, ("", "")
    active = ", bootable" if table == "mbr" and boot_partition.bootable else ""
    layout = (
        f"label: {'gpt' if table == 'gpt' else 'dos'}\n"
        f"start={sectors}, size={fat_mib * sectors}, type={boot_type}{active}{names[0]}\n"
        f"start={(1 + fat_mib) * sectors}, size={DATA_PARTITION_MIB * sectors}, "
        f"type={LINUX_DATA_TYPES[table]}{names[1]}\n"
    )
    runner.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", str(disk)], step="disk", input_text=layout
    )
    for image, start_mib in ((fat_image, 1), (data_image, 1 + fat_mib)):
        runner.run(
            ["dd", f"if={image}", f"of={disk}", "bs=1M", f"seek={start_mib}", "conv=notrunc,sparse",
             "status=none"],
            step="disk",
        )  # fmt: skip
    data_image.unlink()


def fat_size_mib(system_img: Path, boot_files: Iterable[Path] = ()) -> int:
    """Room for system.img and the boot files twice (an update copies the new ones beside the
    old), plus margin."""
    size = system_img.stat().st_size + sum(path.stat().st_size for path in boot_files)
    return max(FAT_MIN_MIB, math.ceil(2 * size / MIB) + FAT_MARGIN_MIB)


def data_label(volume_id: str) -> str:
    return f"data-{fat_uuid(volume_id)}"  # 14 characters: fits ext4's 16


def compress_outputs(spec: BuildSpec, disk: Path, runner: Runner) -> list[tuple[str, Path]]:
    produced: list[tuple[str, Path]] = []
    if "zst" in spec.output_formats:
        target = disk.with_name(disk.name + ".zst")
        runner.run(["zstd", "-q", "-f", "-T0", "-10", str(disk), "-o", str(target)], step="outputs")
        produced.append(("disk-zst", target))
    if "xz" in spec.output_formats:
        runner.run(["xz", "-k", "-f", "-T0", "-6", str(disk)], step="outputs")
        produced.append(("disk-xz", disk.with_name(disk.name + ".xz")))
    if "qcow2" in spec.output_formats:
        target = disk.with_suffix(".qcow2")
        runner.run(
            ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(disk), str(target)],
            step="outputs",
        )
        produced.append(("disk-qcow2", target))
    if shutil.which("bmaptool"):
        target = disk.with_name(disk.name + ".bmap")
        runner.run(["bmaptool", "create", "-o", str(target), str(disk)], step="outputs", quiet=True)
        produced.append(("bmap", target))
    return produced


def write_sums(directory: Path, artifacts: list[tuple[str, Path]]) -> Path:
    lines = [f"{sha256_file(path)}  {path.name}\n" for _, path in artifacts]
    target = directory / "SHA256SUMS"
    target.write_text("".join(lines))
    return target


def write_manifest(target: Path, manifest: dict) -> Path:
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return target
