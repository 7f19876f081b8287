"""Step 3: kernel modules and kernel placement, the same for every boot scheme (boot/ does the
rest; initramfs.py packs the initramfs).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from . import kmods
from .chroot import Chroot
from .errors import BuildError
from .spec import BuildSpec

STEP = "boot"

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


def place_kernel(root: Path, version: str) -> None:
    """/boot/kernel, the fixed name GRUB's config refers to (initramfs.py writes
    /boot/initramfs beside it)."""
    boot = root / "boot"
    kernel = boot / f"vmlinuz-{version}"
    if not kernel.exists():
        raise BuildError(STEP, f"kernel {version} missing in /boot")
    kernel.replace(boot / "kernel")
    (boot / f"initrd.img-{version}").unlink(missing_ok=True)
    (boot / f"System.map-{version}").unlink(missing_ok=True)
    for link in ("vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"):
        for directory in (root, boot):
            path = directory / link
            if path.is_symlink():
                path.unlink()


def kernel_command_line(spec: BuildSpec) -> str:
    args = []
    if spec.serial_console:
        # The last console= becomes /dev/console: serial first would hide messages from a
        # screen; the profile's serial console is what headless appliances are debugged with.
        args += ["console=tty0", f"console={spec.serial_console}"]
    if spec.kernel_args:
        args.append(spec.kernel_args)
    return " ".join(args)
