"""One blueprint, every board: the minimal blueprint built for the PC, the KVM guest, generic
ARM64 (UEFI) and the Raspberry Pi in one session (each image once, shared through the board
fixtures in conftest.py), each booted in QEMU under software emulation. The PC's boot tests
are test_boot.py, which runs first."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from image_builder import BuildResult
from image_builder.boot.rpi_firmware import BOARDS, FIRMWARE_FILES
from image_builder.image_tools import (
    boot_partition_offset,
    copy_image,
    read_boot_file,
    read_status,
    write_system_ini,
)

from .boards import (
    ARM64,
    KVM,
    PC,
    RPI,
    TYPED_SCRIPT,
    TYPED_SCRIPT_POSTED,
    board_spec,
    minimal_blueprint,
)
from .qemu import Arm64UefiVM, QemuVM, Raspi3VM, sd_card_copy
from .test_boot import boot_and_login, shell

pytestmark = pytest.mark.slow

STATIC = "hostname = {name}\r\nip_address = 10.0.2.15/24\r\nip_gateway = 10.0.2.2\r\n"


def partition_table(image: Path) -> dict:
    result = subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, check=True)
    return json.loads(result.stdout)["partitiontable"]


def system_img_file(result: BuildResult, path: str, tmp_path: Path) -> bytes:
    """A file from inside system.img (the squashfs), read with unsquashfs."""
    target = tmp_path / "unsquashed"
    tmp_path.mkdir(parents=True, exist_ok=True)  # unsquashfs makes only the last directory
    subprocess.run(
        ["unsquashfs", "-q", "-n", "-f", "-d", str(target),
         str(result.artifact("system-img").path), path],
        check=True, capture_output=True,
    )  # fmt: skip
    return (target / path).read_bytes()


@pytest.mark.parametrize(
    ("board", "machine"), [(KVM, QemuVM), (ARM64, Arm64UefiVM)], ids=["kvm", "arm64-uefi"]
)
def test_uefi_image_boots_and_applies_hostname_and_static_address(
    board: str, machine: type[QemuVM], board_builds, tmp_path: Path
) -> None:
    result = board_builds.get(board)
    disk = copy_image(result.artifact("disk-raw").path, tmp_path / "disk.img")
    hostname = f"unit-{board.replace('_', '-')}"  # kvm-x86_64: "_" is no hostname character
    write_system_ini(disk, STATIC.format(name=hostname))
    vm = boot_and_login(disk, tmp_path / "console.log", machine)
    try:
        assert shell(vm, "hostname") == hostname
        assert "10.0.2.15/24" in shell(vm, "ip -br addr")
        assert shell(vm, "uname -m") == ("aarch64" if board == ARM64 else "x86_64")
        vm.poweroff()
    finally:
        vm.close()
    status = read_status(disk)
    assert status is not None, "the device wrote no system-status.txt"
    assert status["applied"]["hostname"] == hostname
    assert status["applied"]["ip_address"] == "10.0.2.15/24"
    assert status["build"] == result.build_id


def config_txt(text: str) -> dict[str, dict[str, str]]:
    """config.txt by section: {"all": {"kernel": ..., "initramfs": ...}, "cm4": {...}}."""
    sections: dict[str, dict[str, str]] = {"all": {}}
    current = "all"
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, {})
        elif line.startswith("initramfs "):
            sections[current]["initramfs"] = line.split()[1]
        else:
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    return sections


def fat_listing(image: Path) -> set[str]:
    target = f"{image}@@{boot_partition_offset(image)}"
    result = subprocess.run(
        ["mdir", "-b", "-i", target, "::"], capture_output=True, text=True, check=True,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return {line.removeprefix("::/") for line in result.stdout.split()}


def test_raspberry_pi_sd_image_is_what_the_firmware_expects(
    rpi_build: BuildResult, tmp_path: Path
) -> None:
    disk = rpi_build.artifact("disk-raw").path
    table = partition_table(disk)
    boot, data = table["partitions"]
    assert table["label"] == "dos"
    assert boot["type"] == "c" and boot.get("bootable") is True, boot
    assert data["type"] == "83"
    offset = boot_partition_offset(disk)
    with disk.open("rb") as handle:
        handle.seek(offset)
        sector = handle.read(512)
    assert sector[82:90] == b"FAT32   ", "partition 1 is not FAT32"
    volume_id = int.from_bytes(sector[67:71], "little")
    assert f"{volume_id >> 16:04X}-{volume_id & 0xFFFF:04X}" == rpi_build.fat_uuid

    files = fat_listing(disk)
    config = config_txt(read_boot_file(disk, "config.txt").decode())
    assert config["all"]["arm_64bit"] == "1"
    assert config["all"]["upstream_kernel"] == "1" and config["all"]["enable_uart"] == "1"
    named = [config["all"]["kernel"], config["all"]["initramfs"]]
    named += [values["device_tree"] for values in config.values() if "device_tree" in values]
    for name in named:
        assert name in files, f"config.txt names {name}, which is not on the FAT"
    for name in (*FIRMWARE_FILES, *BOARDS.values(), "system.img", "system.ini", "cmdline.txt"):
        assert name in files, f"{name} missing from the FAT"

    cmdline = read_boot_file(disk, "cmdline.txt").decode()
    assert cmdline.count("\n") == 1 and cmdline.endswith("\n"), "cmdline.txt must be one line"
    assert f"root=systemimg:{rpi_build.fat_uuid}" in cmdline.split()
    assert "boot=genpack" in cmdline.split() and "console=ttyS1,115200" in cmdline.split()
    # The kernel the firmware starts is the one whose modules are inside system.img.
    kernel = read_boot_file(disk, config["all"]["kernel"])
    inside = system_img_file(rpi_build, "boot/kernel", tmp_path)
    assert hashlib.sha256(kernel).digest() == hashlib.sha256(inside).digest()
    manifest = json.loads(rpi_build.artifact("manifest").path.read_text())
    assert manifest["kernel_command_line"] == cmdline.strip()


def test_raspberry_pi_image_boots_on_raspi3b_and_applies_system_ini(
    rpi_build: BuildResult, tmp_path: Path
) -> None:
    card = sd_card_copy(rpi_build.artifact("disk-raw").path, tmp_path / "sd.img")
    write_system_ini(card, "hostname = pi-in-the-field\r\n")
    vm = boot_and_login(card, tmp_path / "console.log", Raspi3VM)
    try:
        assert shell(vm, "hostname") == "pi-in-the-field"
        assert re.search(r"mmcblk0p1 .*/run/initramfs/boot", shell(vm, "cat /proc/mounts"))
        assert "squashfs" in shell(vm, "grep /run/initramfs/ro /proc/mounts")
        vm.poweroff()
    finally:
        vm.close()
    status = read_status(card)
    assert status is not None, "the Pi wrote no system-status.txt"
    assert status["applied"]["hostname"] == "pi-in-the-field"
    assert status["build"] == rpi_build.build_id


def test_a_script_typed_in_the_files_form_reaches_the_image_with_lf(
    minimal_build: BuildResult, tmp_path: Path
) -> None:
    """The browser posts the textarea with CRLF; system.img holds the script with LF, so
    its #! line names /bin/sh, not "/bin/sh\\r"."""
    assert "\r\n" in TYPED_SCRIPT_POSTED
    inside = system_img_file(minimal_build, TYPED_SCRIPT["path"].lstrip("/"), tmp_path)
    assert inside == b"#!/bin/sh\necho typed in the browser\n"


# Last in this module, after test_boot.py: each board's build is paid for by its own first test
# (pytest's timeout counts fixture setup), and this one finds all four made.
def test_the_same_blueprint_builds_an_image_for_every_board(
    minimal_build: BuildResult, kvm_build: BuildResult, arm64_build: BuildResult,
    rpi_build: BuildResult, tmp_path: Path,
) -> None:  # fmt: skip
    expected = {
        PC: (minimal_build, "amd64", "gpt", "EFI/BOOT/BOOTX64.EFI"),
        KVM: (kvm_build, "amd64", "gpt", "EFI/BOOT/BOOTX64.EFI"),
        ARM64: (arm64_build, "arm64", "gpt", "EFI/BOOT/BOOTAA64.EFI"),
        RPI: (rpi_build, "arm64", "dos", "config.txt"),
    }
    blueprint = minimal_blueprint()
    for board, (result, arch, label, boot_file) in expected.items():
        manifest = json.loads(result.artifact("manifest").path.read_text())
        assert manifest["spec"]["profile"] == board
        assert manifest["spec_hash"] == board_spec(board).spec_hash()
        assert "openssh-server" in manifest["packages"]
        assert set(blueprint["packages"]) <= set(manifest["spec"]["packages"])
        disk = result.artifact("disk-raw").path
        assert partition_table(disk)["label"] == label, board
        assert read_boot_file(disk, boot_file), f"{board}: no {boot_file} on the FAT"
        assert system_img_file(result, ".genpack/arch", tmp_path / board).decode().strip() == arch
    hashes = {result.spec_hash for result, *_ in expected.values()}
    assert len(hashes) == 4, "four boards, four different builds"
