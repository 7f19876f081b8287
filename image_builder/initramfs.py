"""The initramfs, packed on the build host from the image tree: genpack's own /init
(appliance/initramfs/init), busybox for the shell and the small tools, util-linux and e2fsprogs
for the data partition, the drivers that reach the boot medium, and nothing else.

Debian's initramfs-tools made one of 19 MB (6.1 MiB packed) for the KVM guest: udev and kmod,
which brings OpenSSL for module signatures, dmsetup, klibc, console keymaps and resume
support, none of which finding a FAT partition and mounting system.img needs; and it ran in
the chroot, under qemu-user for arm64. Here devtmpfs gives the device nodes, busybox's
modprobe loads drivers by the modaliases the kernel lists (again while waiting, as USB and SD
buses announce what sits behind them), and the archive is written directly, the same bytes
for the same tree.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import kmods
from .customize import device_file
from .errors import BuildError
from .runner import Runner
from .treefiles import resolve_in_tree

STEP = "boot"
BUSYBOX = "usr/bin/busybox"
# What /init runs from busybox, linked under usr/bin where PATH finds them; modprobe under
# usr/sbin, as /sbin/modprobe is where the kernel runs it to load what it asks for itself.
APPLETS = (
    "usr/bin/sh", "usr/bin/cat", "usr/bin/cttyhack", "usr/bin/echo", "usr/bin/grep",
    "usr/bin/ln", "usr/bin/mkdir", "usr/sbin/modprobe", "usr/bin/mount", "usr/bin/readlink",
    "usr/bin/reboot", "usr/bin/rm", "usr/bin/setsid", "usr/bin/sleep", "usr/bin/sort",
    "usr/bin/switch_root", "usr/bin/tr", "usr/bin/umount",
)  # fmt: skip
# What busybox lacks or does only in part: blkid -U/-L/-t, GPT relocation, partition growth,
# ext4 repair and growth. Taken from the tree with the libraries they load.
TOOLS = (
    "usr/sbin/blkid", "usr/sbin/sfdisk", "usr/bin/partx", "usr/sbin/e2fsck", "usr/sbin/resize2fs",
)  # fmt: skip
# The image's own file systems: the FAT boot partition, system.img, the data partition.
FILESYSTEM_MODULES = (
    "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859-1", "squashfs", "loop",
    "overlay", "ext4",
)  # fmt: skip
# Whatever can hold the boot medium of a PC or VM (SATA, NVMe, USB, SD, virtio, Hyper-V,
# VMware); a boot scheme adds its boards' own (boot/rpi_firmware.py). Every other driver
# loads from system.img after the switch. A profile's cut may have removed some: those go.
BOOT_MEDIUM_MODULES = (
    "ahci", "ata_piix", "ata_generic", "pata_acpi", "sd_mod", "nvme",
    "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_mmio",
    "usb_storage", "uas", "xhci_pci", "xhci_plat_hcd", "ehci_pci", "ehci_platform", "ohci_pci",
    "uhci_hcd", "mmc_block", "sdhci_pci", "sdhci_acpi",
    "hv_vmbus", "hv_storvsc", "vmw_pvscsi", "mptspi", "mpt3sas", "megaraid_sas",
    "usbhid", "hid_generic",
)  # fmt: skip
# The kernel's early loader reads CPU microcode from an uncompressed archive in front.
MICROCODE = {"intel-ucode": "GenuineIntel.bin", "amd-ucode": "AuthenticAMD.bin"}
NEEDED_RE = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
RUNPATH_RE = re.compile(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]")
INTERP_RE = re.compile(r"\[Requesting program interpreter: ([^\]]+)\]")
ZSTD_LEVEL = "-19"
CPIO_MAGIC = b"070701"


class Archive:
    """A newc cpio archive being assembled: each name once, parents before children."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[int, bytes, int, int]] = {}
        self.programs: set[str] = set()  # tree paths whose libraries are in

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            self.members.setdefault("/".join(parts[:depth]), (stat.S_IFDIR | 0o755, b"", 0, 0))

    def directory(self, name: str) -> None:
        self._parents(name)
        self.members.setdefault(name, (stat.S_IFDIR | 0o755, b"", 0, 0))

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(name)
        self.members[name] = (stat.S_IFREG | (mode & 0o7777), data, 0, 0)

    def symlink(self, name: str, target: str) -> None:
        self._parents(name)
        self.members.setdefault(name, (stat.S_IFLNK | 0o777, target.encode(), 0, 0))

    def device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parents(name)
        self.members[name] = (stat.S_IFCHR | mode, b"", major, minor)

    def pack(self) -> bytes:
        out = bytearray()
        for inode, (name, (mode, data, major, minor)) in enumerate(
            [*self.members.items(), ("TRAILER!!!", (0, b"", 0, 0))], start=1
        ):
            encoded = name.encode() + b"\0"
            fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0)
            out += CPIO_MAGIC + b"".join(b"%08X" % field for field in fields) + encoded
            out += b"\0" * (-len(out) % 4) + data
            out += b"\0" * (-len(out) % 4)
        return bytes(out)


def add_tree_file(archive: Archive, root: Path, path: str) -> Path:
    """The tree's file at `path` under the same name, with every link on the way (merged /usr,
    a library's soname); returns where it is in the tree."""
    links: list[tuple[str, str]] = []
    found = resolve_in_tree(root, path, links)
    if found is None or not found.is_file():
        raise BuildError(STEP, f"initramfs: the image has no /{path.lstrip('/')}")
    for link, target in links:
        archive.symlink(link, target)
    archive.file(str(found.relative_to(root)), found.read_bytes(), found.stat().st_mode)
    return found


def library_dirs(root: Path) -> list[str]:
    triplets = sorted(p.name for p in (root / "usr/lib").glob("*-linux-gnu*") if p.is_dir())
    return [*(f"usr/lib/{t}" for t in triplets), "usr/lib", *(f"lib/{t}" for t in triplets)]


def add_program(archive: Archive, root: Path, path: str, search: list[str]) -> None:
    """A program or library with its loader and the libraries it needs, found the way the
    loader finds them (RUNPATH, then the default directories)."""
    if path in archive.programs:
        return
    archive.programs.add(path)
    found = add_tree_file(archive, root, path)
    result = subprocess.run(
        ["readelf", "-d", "-l", "-W", str(found)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(STEP, f"initramfs: /{path} is not a program readelf can read")
    wanted = INTERP_RE.findall(result.stdout)
    runpaths = [d for match in RUNPATH_RE.findall(result.stdout) for d in match.split(":")]
    for name in NEEDED_RE.findall(result.stdout):
        for directory in [*runpaths, *search]:
            candidate = f"{directory.strip('/')}/{name}"
            resolved = resolve_in_tree(root, candidate)
            if resolved is not None and resolved.is_file():
                wanted.append(candidate)
                break
        else:
            raise BuildError(STEP, f"initramfs: {name}, needed by /{path}, is not in the image")
    for library in wanted:
        add_program(archive, root, library.strip("/"), search)


def add_modules(archive: Archive, root: Path, version: str, wanted: tuple[str, ...]) -> list[str]:
    """The drivers `wanted` names that the tree has, with their dependencies, and the parts
    of depmod's tables busybox's modprobe reads; returns the module names."""
    directory = f"usr/lib/modules/{version}"
    tree = kmods.ModuleTree.read(root / directory)
    names = kmods.close(tree, {name for module in wanted for name in tree.by_alias(module)})
    for name in sorted(names):
        archive.file(
            f"{directory}/{tree.paths[name]}", (tree.directory / tree.paths[name]).read_bytes()
        )
    dep = [
        line
        for line in (tree.directory / "modules.dep").read_text().splitlines()
        if kmods.module_name(line.partition(":")[0]) in names
    ]
    archive.file(f"{directory}/modules.dep", "".join(f"{line}\n" for line in dep).encode())
    aliases = [f"alias {pattern} {module}\n" for pattern, module in tree.aliases if module in names]
    archive.file(f"{directory}/modules.alias", "".join(aliases).encode())
    builtin = tree.directory / "modules.builtin"
    if builtin.is_file():
        archive.file(f"{directory}/modules.builtin", builtin.read_bytes())
    return sorted(names)


def microcode_archive(root: Path) -> bytes:
    """CPU microcode for the early loader, every blob the microcode packages installed (a fleet
    image boots on CPUs the build host has never seen: initramfs-tools' hook, in its
    MODULES=list mode, took only the build host's); empty without those packages."""
    archive = Archive()
    for source, name in MICROCODE.items():
        blobs = sorted(p for p in (root / "usr/lib/firmware" / source).glob("*") if p.is_file())
        if blobs:
            data = b"".join(blob.read_bytes() for blob in blobs)
            archive.file(f"kernel/x86/microcode/{name}", data)
    return archive.pack() if archive.members else b""


def late_loading(root: Path, version: str) -> bool:
    """Whether the kernel can load microcode after boot from /usr/lib/firmware (Debian's 6.1
    cannot: CONFIG_MICROCODE_LATE_LOADING is off). Unknown counts as yes."""
    config = root / "boot" / f"config-{version}"
    try:
        text = config.read_text()
    except OSError:
        return True
    return "# CONFIG_MICROCODE_LATE_LOADING is not set" not in text


def move_microcode(root: Path, version: str) -> int:
    """Remove the microcode blobs the initramfs carries from the tree when the kernel never
    reads them again (they would be in system.img twice, 21 MiB of Intel's); returns bytes."""
    if late_loading(root, version):
        return 0
    removed = 0
    for source in MICROCODE:
        directory = root / "usr/lib/firmware" / source
        if directory.is_dir() and not directory.is_symlink():
            removed += sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
            shutil.rmtree(directory)
    return removed


def main_archive(root: Path, version: str, boot_modules: tuple[str, ...]) -> tuple[bytes, int]:
    archive = Archive()
    for name in ("dev", "proc", "sys", "run", "root", "etc", "tmp"):
        archive.directory(name)
    archive.device("dev/console", 5, 1)
    archive.device("dev/null", 1, 3, 0o666)
    archive.file("init", device_file("initramfs/init"), 0o755)
    search = library_dirs(root)
    add_program(archive, root, BUSYBOX, search)
    for applet in APPLETS:
        archive.symlink(applet, "/usr/bin/busybox")
    for tool in TOOLS:
        add_program(archive, root, tool, search)
    # The merged-/usr links the tools' loader paths went through are in by now; these make
    # /sbin/init-style paths and busybox's /lib/modules work whatever the tools needed.
    for link in ("bin", "sbin", "lib"):
        if (root / link).is_symlink():
            archive.symlink(link, str((root / link).readlink()))
    modules = add_modules(
        archive, root, version, (*FILESYSTEM_MODULES, *BOOT_MEDIUM_MODULES, *boot_modules)
    )
    return archive.pack(), len(modules)


def make_initramfs(
    root: Path, version: str, boot_modules: tuple[str, ...], runner: Runner, workdir: Path
) -> int:
    """Write /boot/initramfs (microcode, then the zstd-packed main archive); returns the
    number of kernel modules in it."""
    plain, module_count = main_archive(root, version, boot_modules)
    workdir.mkdir(parents=True, exist_ok=True)
    cpio, packed = workdir / "initramfs.cpio", workdir / "initramfs.cpio.zst"
    cpio.write_bytes(plain)
    runner.run(["zstd", ZSTD_LEVEL, "-q", "-f", "-T0", str(cpio), "-o", str(packed)], step=STEP)
    target = root / "boot/initramfs"
    partial = target.with_name("initramfs.new")
    microcode = microcode_archive(root)
    partial.write_bytes(microcode + packed.read_bytes())
    partial.replace(target)
    cpio.unlink()
    packed.unlink()
    runner.reporter.log(
        f"initramfs: {module_count} kernel modules, {len(plain) // 1024} KiB unpacked, "
        f"{target.stat().st_size // 1024} KiB packed"
        + (f", CPU microcode in front ({len(microcode) // 1024} KiB)" if microcode else "")
    )
    if moved := move_microcode(root, version):
        runner.reporter.log(
            f"initramfs: microcode removed from /usr/lib/firmware ({moved // 1024} KiB): "
            "this kernel loads it only early, from the initramfs"
        )
    return module_count


# -- reading (tests, bench) -----------------------------------------------------------------
@dataclass(frozen=True)
class CpioMember:
    name: str
    mode: int
    content: bytes


def read_archive(data: bytes, offset: int = 0) -> tuple[list[CpioMember], int]:
    """The members of the newc archive at `offset`, and the offset just after its trailer."""
    members = []
    while data[offset : offset + 6] == CPIO_MAGIC:
        mode = int(data[offset + 14 : offset + 22], 16)
        size = int(data[offset + 54 : offset + 62], 16)
        name_size = int(data[offset + 94 : offset + 102], 16)
        name = data[offset + 110 : offset + 110 + name_size - 1].decode("utf-8", "replace")
        start = (offset + 110 + name_size + 3) & ~3
        offset = (start + size + 3) & ~3
        if name == "TRAILER!!!":
            break
        members.append(CpioMember(name, mode, data[start : start + size]))
    return members, offset


def early_archive_length(data: bytes) -> int:
    """Bytes of the uncompressed archive(s) in front of the compressed main one (microcode)."""
    offset = 0
    while data[offset : offset + 6] == CPIO_MAGIC:
        _members, offset = read_archive(data, offset)
        while offset < len(data) and data[offset] == 0:  # padding between archives
            offset += 1
    return offset
