"""After the module cut (image_builder/kmods.py) the boards still drive their hardware, and
carry no module their profile does not ask for: the session's PC and KVM images."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from image_builder import BuildResult
from image_builder.image_tools import copy_image

from .qemu import QemuVM
from .test_boot import boot_and_login, shell

pytestmark = pytest.mark.slow

STICK_LABEL = "FIELDSTICK"


def image_modules(result: BuildResult) -> set[str]:
    """Paths of the .ko files inside system.img, relative to the kernel's module tree."""
    listing = subprocess.run(
        ["unsquashfs", "-l", "-d", "", str(result.artifact("system-img").path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    modules = set()
    for line in listing.splitlines():
        if line.startswith("/usr/lib/modules/") and line.endswith(".ko"):
            modules.add(line.split("/kernel/", 1)[1])
    return modules


def manifest(result: BuildResult) -> dict:
    return json.loads(result.artifact("manifest").path.read_text())


class PcWithUsbAndE1000(QemuVM):
    """q35 plus what a technician plugs in: a USB keyboard and a USB stick on an xHCI
    controller, and a second NIC, an Intel e1000."""

    stick: Path

    def argv(self) -> list[str]:
        argv = super().argv()
        extra = [
            "-device", "qemu-xhci,id=xhci",
            "-device", "usb-kbd,bus=xhci.0",
            "-drive", f"if=none,id=stick,format=raw,file={self.stick}",
            "-device", "usb-storage,bus=xhci.0,drive=stick",
            "-netdev", "user,id=net1,restrict=on",
            # romfile=: no iPXE option ROM, so the firmware leaves the NIC untouched (a CI
            # run once saw the driver read a bad EEPROM checksum from it, then a good one).
            "-device", "e1000,netdev=net1,mac=52:54:00:e1:00:00,romfile=",
        ]  # fmt: skip
        return [*argv[:-1], *extra, argv[-1]]  # before -no-reboot


def test_the_pc_image_still_drives_usb_keyboard_stick_and_e1000(
    minimal_build: BuildResult, tmp_path: Path
) -> None:
    stick = tmp_path / "stick.img"
    subprocess.run(["truncate", "-s", "64M", str(stick)], check=True)
    subprocess.run(["mkfs.vfat", "-n", STICK_LABEL, str(stick)], check=True, capture_output=True)
    PcWithUsbAndE1000.stick = stick
    disk = copy_image(minimal_build.artifact("disk-raw").path, tmp_path / "disk.img")
    vm = boot_and_login(disk, tmp_path / "console.log", PcWithUsbAndE1000)
    try:
        # udev loads the drivers as the devices appear; wait until it has handled them all.
        shell(vm, "udevadm settle --timeout=60")
        devices = shell(vm, "cat /proc/bus/input/devices")
        assert "QEMU USB Keyboard" in devices
        assert "kbd" in devices.split("QEMU USB Keyboard", 1)[1].split("\n\n", 1)[0]
        links = shell(vm, "ip -br link")
        e1000 = shell(vm, "grep -l e1000 /sys/class/net/*/device/uevent || true")
        assert "52:54:00:e1:00:00" in links, links
        assert e1000, f"no interface is driven by e1000: {links}"
        assert shell(vm, "blkid -L " + STICK_LABEL).startswith("/dev/sd")
        loaded = shell(vm, "cat /proc/modules")
        for driver in ("e1000", "usb_storage", "xhci_pci", "usbhid"):
            assert f"{driver} " in loaded, f"{driver} is not loaded"
        vm.poweroff()
    finally:
        vm.close()
    kept = manifest(minimal_build)["kernel_modules"]
    assert {"e1000", "e1000e", "igb", "r8169", "usb_storage", "mac80211_hwsim"} <= set(kept)
    assert "mlx5_core" not in kept  # data-centre adapters are not a PC's


def test_the_kvm_image_has_no_module_outside_its_profile(kvm_build: BuildResult) -> None:
    modules = image_modules(kvm_build)
    listed = manifest(kvm_build)["kernel_modules"]
    names = {Path(path).name.removesuffix(".ko").replace("-", "_") for path in modules}
    assert names == set(listed), "the manifest must list exactly the modules in system.img"
    # The KVM guest's profile names @virtio only; with the builder's base (file systems,
    # network stack, crypto) nothing of real hardware may remain.
    foreign = sorted(
        path
        for path in modules
        if path.startswith(
            ("drivers/net/ethernet/", "drivers/net/wireless/", "drivers/gpu/drm/amd",
             "drivers/gpu/drm/i915", "drivers/usb/", "drivers/bluetooth/", "sound/",
             "drivers/media/", "drivers/infiniband/", "drivers/scsi/qla")
        )
    )  # fmt: skip
    assert foreign == []
    # What the cloud kernel builds as modules and this image needs: its disk and NIC, the
    # system.img and boot partition file systems.
    assert {"virtio_blk", "virtio_net", "virtio_scsi", "squashfs", "overlay", "vfat"} <= names
    assert len(modules) < 800
