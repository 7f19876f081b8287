"""Step 3: initramfs and kernel placement, the same for every boot scheme (boot/ does the rest).

Initramfs: Debian's initramfs-tools with our own boot script (boot=genpack) rather than a
hand-written /init: it keeps udev, module loading, the `break=` debug shell and the console
handling everybody knows, and the genpack logic stays one small sourced script.
"""

from __future__ import annotations

import gzip
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import kmods
from .chroot import Chroot
from .customize import install_host_file
from .errors import BuildError
from .runner import Runner
from .spec import BuildSpec

STEP = "boot"

# MODULES=list: the genpack hook adds the storage/USB/VM drivers that can hold the boot medium
# of a PC or VM (SATA, NVMe, USB, SD, virtio, Hyper-V, VMware); the rest loads from system.img.
INITRAMFS_CONF = """\
# genpack-site: drivers for the boot medium only (see hooks/genpack).
MODULES=list
COMPRESS={compress}
"""

MODULES_HEADER = "# genpack-site: the boot scheme's drivers for the boot medium.\n"

# Kernel module trees for hardware a profile declares it does not have (its capabilities).
# A profile without "wifi" can never configure a Wi-Fi link (system.ini has no Wi-Fi keys for
# it), one without "bluetooth" or "display" has no such device. Ethernet, USB and storage
# drivers always stay: they are how a technician reaches a device.
PRUNABLE_MODULES = {
    "wifi": ("kernel/drivers/net/wireless", "kernel/net/mac80211", "kernel/net/wireless"),
    "bluetooth": ("kernel/drivers/bluetooth", "kernel/net/bluetooth"),
    "display": ("kernel/drivers/gpu",),
}


def new_fat_volume_id() -> str:
    """8 hex digits; shown by blkid as ABCD-1234 (the FAT "UUID")."""
    return secrets.token_hex(4).upper()


def fat_uuid(volume_id: str) -> str:
    return f"{volume_id[:4]}-{volume_id[4:]}"


def kernel_version(root: Path) -> str:
    versions = sorted(path.name for path in (root / "usr/lib/modules").iterdir())
    if not versions:
        raise BuildError(STEP, "no kernel installed (kernel_package installed no modules)")
    if len(versions) > 1:
        raise BuildError(STEP, f"more than one kernel installed: {', '.join(versions)}")
    return versions[0]


def prune_kernel_modules(spec: BuildSpec, root: Path, chroot: Chroot, version: str) -> None:
    """A profile without a module list: drop only the trees of hardware it says it lacks."""
    modules = root / "usr/lib/modules" / version
    pruned = []
    for capability, trees in PRUNABLE_MODULES.items():
        if capability in spec.capabilities:
            continue
        for tree in trees:
            if (modules / tree).is_dir():
                shutil.rmtree(modules / tree)
                pruned.append(tree)
    if pruned:
        chroot.runner.reporter.log(
            f"profile lacks them: removed kernel modules {', '.join(pruned)}"
        )
        chroot.run("depmod", "-a", version, step=STEP)


def cut_kernel_modules(
    spec: BuildSpec,
    root: Path,
    chroot: Chroot,
    version: str,
    *,
    boot_modules: tuple[str, ...] = (),
    device_trees: list[Path] | None = None,
) -> list[str]:
    """Keep the modules the profile's selectors name (kmods.py) and the boot scheme's
    initramfs drivers, with their dependencies; returns the names kept (all of them when
    the profile lists none)."""
    directory = root / "usr/lib/modules" / version
    if not spec.kernel_modules:
        prune_kernel_modules(spec, root, chroot, version)
        return sorted({kmods.module_name(path.name) for path in directory.rglob("*.ko*")})
    tree = kmods.ModuleTree.read(directory)
    compatibles: set[str] = set()
    for dtb in device_trees or ():
        try:
            compatibles |= kmods.dtb_compatibles(dtb.read_bytes())
        except (OSError, ValueError) as error:
            raise BuildError(STEP, f"cannot read the device tree {dtb.name}: {error}") from error
    keep, unknown = kmods.select(tree, spec.kernel_modules, compatibles)
    missing = {
        path: firmware
        for path, firmware in kmods.firmware_missing(root / "usr/lib/firmware").items()
        if keep & kmods.matching(tree, path)
    }
    if missing:  # as exclusions: what other kept modules need comes back with them
        exclusions = [f"!{path}" for path in missing]
        narrower, _ = kmods.select(tree, [*spec.kernel_modules, *exclusions], compatibles)
        for path, firmware in missing.items():
            if gone := (keep - narrower) & kmods.matching(tree, path):
                chroot.runner.reporter.log(
                    f"kernel modules: {', '.join(sorted(gone))} left out: the image has no "
                    f"/usr/lib/firmware/{firmware} (add its firmware package to the profile)"
                )
        keep = narrower
    # The boot scheme's drivers name every board it boots; a kernel may lack some.
    keep = kmods.close(tree, keep | {name for m in boot_modules for name in tree.by_alias(m)})
    if unknown:
        raise BuildError(
            STEP,
            f"kernel module(s) {', '.join(unknown)} of profile {spec.profile} are not in "
            f"{spec.kernel_package} {version} (neither modules nor built in)",
        )
    removed = kmods.prune(tree, keep)
    chroot.run("depmod", "-a", version, step=STEP)
    chroot.runner.reporter.log(
        f"kernel modules: kept {len(keep)} of {len(tree.paths)} for the profile's hardware "
        f"({removed} removed)"
    )
    return sorted(keep)


def configure_initramfs(
    spec: BuildSpec,
    root: Path,
    chroot: Chroot,
    *,
    modules: tuple[str, ...] = (),
    compress: str = "gzip",
) -> None:
    """Set up the one initramfs of the image; `modules`: the boot scheme's boot-medium drivers
    on top of the hook's PC / VM list (initramfs-tools' own modules file, loaded at boot)."""
    install_host_file(
        root,
        "/etc/initramfs-tools/conf.d/genpack.conf",
        INITRAMFS_CONF.format(compress=compress).encode(),
    )
    if modules:
        listed = "".join(f"{name}\n" for name in modules)
        install_host_file(
            root, "/etc/initramfs-tools/modules", f"{MODULES_HEADER}{listed}".encode()
        )
    # Undo the diversion set while installing: from here on update-initramfs is the real one.
    chroot.shell(
        "rm -f /usr/sbin/update-initramfs && "
        "dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs",
        step=STEP,
    )


def initramfs_path(root: Path, version: str) -> Path:
    """Where update-initramfs writes it (place_kernel then renames it)."""
    return root / "boot" / f"initrd.img-{version}"


def make_initramfs(chroot: Chroot, version: str) -> None:
    chroot.run("update-initramfs", "-c", "-k", version, step=STEP)


def place_kernel(root: Path, version: str) -> None:
    """/boot/kernel and /boot/initramfs: the fixed names GRUB's config refers to."""
    boot = root / "boot"
    kernel, initrd = boot / f"vmlinuz-{version}", boot / f"initrd.img-{version}"
    if not kernel.exists() or not initrd.exists():
        raise BuildError(STEP, f"kernel or initramfs for {version} missing in /boot")
    kernel.replace(boot / "kernel")
    initrd.replace(boot / "initramfs")
    (boot / f"System.map-{version}").unlink(missing_ok=True)
    for link in ("vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"):
        for directory in (root, boot):
            path = directory / link
            if path.is_symlink():
                path.unlink()


CPIO_MAGIC = b"070701"  # newc, as initramfs-tools writes the early (microcode) archive
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class CpioMember:
    name: str
    mode: int
    content: bytes


def cpio_archive(data: bytes, offset: int = 0) -> tuple[list[CpioMember], int]:
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
    """Bytes of the uncompressed archive(s) before the compressed main part: CPU microcode
    that the kernel must find first, as it is. 0 when the initramfs starts compressed."""
    offset = 0
    while data[offset : offset + 6] == CPIO_MAGIC:
        _members, offset = cpio_archive(data, offset)
        while offset < len(data) and data[offset] == 0:  # padding between archives
            offset += 1
    return offset


def recompress_initramfs(root: Path, runner: Runner) -> None:
    """Repack /boot/initramfs's main archive with the host's zstd (initramfs-tools makes
    gzip: the tree has no zstd binary, and Debian's kernels all unpack zstd). zstd -17 is
    17 % smaller than gzip and the kernel unpacks it faster; a plain cpio would pack smaller
    still inside system.img's xz, but GRUB then spends longer decoding it than the bytes save
    (measured under TCG). An early uncompressed part (CPU microcode) stays in front as it is."""
    initramfs = root / "boot/initramfs"
    data = initramfs.read_bytes()
    early = early_archive_length(data)
    if data[early : early + 2] != GZIP_MAGIC:
        return
    plain = initramfs.with_name("initramfs.cpio")
    plain.write_bytes(gzip.decompress(data[early:]))
    packed = initramfs.with_name("initramfs.zst")
    # -B: 8 MiB jobs, so -T0 packs a ~20 MB archive on every core (one job otherwise, the
    # longest part of the boot step); still one frame, 0.05 % larger.
    runner.run(["zstd", "-17", "-B8M", "-q", "-f", "-T0", str(plain), "-o", str(packed)], step=STEP)
    plain.unlink()
    with initramfs.with_name("initramfs.new").open("wb") as target:
        target.write(data[:early])
        target.write(packed.read_bytes())
    packed.unlink()
    initramfs.with_name("initramfs.new").replace(initramfs)


def kernel_command_line(spec: BuildSpec) -> str:
    args = []
    if spec.serial_console:
        # The last console= becomes /dev/console: serial first would hide messages from a
        # screen; the profile's serial console is what headless appliances are debugged with.
        args += ["console=tty0", f"console={spec.serial_console}"]
    if spec.kernel_args:
        args.append(spec.kernel_args)
    return " ".join(args)
