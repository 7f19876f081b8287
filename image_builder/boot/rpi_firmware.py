"""Raspberry Pi 3 / 4 / 400 / CM4, one SD-card image for all, from Debian's own packages.

The Pi's boot ROM and GPU firmware (raspi-firmware) read only the first FAT partition of an
MBR disk, and cannot read squashfs: the kernel, initramfs and device trees sit on the FAT next
to system.img, and config.txt names them. The firmware picks the device tree by board (with
`upstream_kernel=1` it uses mainline names), so one image serves every board in BOARDS.

raspi-firmware's own hooks would regenerate config.txt and copy the kernel into /boot/firmware
on every kernel or initramfs change; the FAT is written here instead, and what the hooks left
in the tree is removed (the device boots from the FAT copy, never from the tree's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import bootchain
from ..errors import BuildError
from ..spec import BuildSpec
from . import BootContext, BootPartition

STEP = "boot"
FIRMWARE_DIR = "usr/lib/raspi-firmware"
# bootcode.bin: second-stage loader of the Pi 3 (the Pi 4 has it in EEPROM); start*.elf and
# fixup*.dat: the GPU firmware, "4" for the BCM2711 boards.
FIRMWARE_FILES = ("bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat")
# Device tree each board needs, by the mainline name the firmware looks for.
BOARDS = {
    "Raspberry Pi 4 Model B": "bcm2711-rpi-4-b.dtb",
    "Raspberry Pi 400": "bcm2711-rpi-400.dtb",
    "Raspberry Pi Compute Module 4 (IO board)": "bcm2711-rpi-cm4-io.dtb",
    "Raspberry Pi 3 Model B": "bcm2837-rpi-3-b.dtb",
    "Raspberry Pi 3 Model B+": "bcm2837-rpi-3-b-plus.dtb",
}
KERNEL_FILE = "vmlinuz"
INITRAMFS_FILE = "initrd.img"
# SD host controllers (Pi 3: sdhost "bcm2835"; Pi 4: emmc2 on sdhci-iproc); USB mass storage
# on the Pi 3 (dwc2) and on the Pi 4 (VL805 xHCI, brought up by reset-raspberrypi). MMC block
# and the firmware, clock and mailbox drivers are built into Debian's arm64 kernel.
INITRAMFS_MODULES = ("sdhci", "sdhci-pltfm", "sdhci-iproc", "bcm2835", "dwc2", "reset-raspberrypi")

CONFIG_TXT = """\
# Raspberry Pi firmware settings, written by genpack-site for {title}.
# The firmware reads this file at power-on. Device settings belong in system.ini, not here.
# Boards: {boards}.
arm_64bit=1
# Mainline device tree names (bcm2711-*, bcm2837-*), as in Debian's kernel package.
upstream_kernel=1
# Serial console on GPIO 14/15 (the mini UART: the PL011 serves Bluetooth).
enable_uart=1
kernel={kernel}
initramfs {initramfs} followkernel

[pi4]
# Pi 4 and 400: the full 1.8 GHz where the board revision supports it.
arm_boost=1

[cm4]
# The firmware would look for bcm2711-rpi-cm4.dtb, which the mainline kernel does not ship.
device_tree=bcm2711-rpi-cm4-io.dtb
# Host mode for the USB 2.0 port (keyboard, storage) on the CM4 IO board.
otg_mode=1

[all]
"""


def copy(source: Path, target: Path) -> Path:
    if not source.is_file():
        raise BuildError(STEP, f"{source.name} is missing from the tree ({source})")
    shutil.copyfile(source, target)
    return target


class RaspberryPiFirmware:
    name = "rpi-firmware"
    # 0x0c: FAT32 with LBA, marked active; the Pi firmware ignores an ESP (0xef).
    partition = BootPartition(gpt_type="", mbr_type="c", bootable=True)

    def packages(self, spec: BuildSpec) -> tuple[str, ...]:
        return ("raspi-firmware",)

    def fetched_packages(self, spec: BuildSpec) -> tuple[str, ...]:
        return ()

    def initramfs_modules(self, spec: BuildSpec) -> tuple[str, ...]:
        return INITRAMFS_MODULES

    def device_trees(self, root: Path, kernel_version: str) -> list[Path]:
        dtb_dir = root / "usr/lib" / f"linux-image-{kernel_version}" / "broadcom"
        return [dtb_dir / name for name in BOARDS.values()]

    def kernel_command_line(self, spec: BuildSpec, volume_id: str) -> str:
        args = [bootchain.kernel_command_line(spec)]
        args += [f"root=systemimg:{bootchain.fat_uuid(volume_id)}", "boot=genpack", "rootwait"]
        return " ".join(arg for arg in args if arg)

    def config_txt(self, spec: BuildSpec) -> str:
        title = f"{spec.name} {spec.version}".strip()
        return CONFIG_TXT.format(
            title=title,
            boards=", ".join(BOARDS),
            kernel=KERNEL_FILE,
            initramfs=INITRAMFS_FILE,
        )

    def prepare(self, context: BootContext) -> dict[str, Path]:
        root, out = context.root, context.files_dir
        files: dict[str, Path] = {}
        for name in FIRMWARE_FILES:
            files[name] = copy(root / FIRMWARE_DIR / name, out / name)
        for dtb in self.device_trees(root, context.kernel_version):
            files[dtb.name] = copy(dtb, out / dtb.name)
        files[KERNEL_FILE] = copy(root / "boot/kernel", out / KERNEL_FILE)
        files[INITRAMFS_FILE] = copy(root / "boot/initramfs", out / INITRAMFS_FILE)
        config = out / "config.txt"
        config.write_text(self.config_txt(context.spec))
        files["config.txt"] = config
        cmdline = out / "cmdline.txt"
        # One line, no line break inside: the firmware passes the first line as is.
        cmdline.write_text(self.kernel_command_line(context.spec, context.volume_id) + "\n")
        files["cmdline.txt"] = cmdline
        # The FAT carries the firmware; the tree's copies and the hooks' output are dead weight.
        for leftover in (root / FIRMWARE_DIR, root / "boot/firmware"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
        context.runner.reporter.log(
            f"Raspberry Pi boot files: {', '.join(sorted(files))} (kernel {context.kernel_version})"
        )
        return files
