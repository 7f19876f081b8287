"""The boot schemes' own parts, without a build: what each makes possible, the Raspberry Pi's
FAT files from a skeleton tree, and MBR / GPT disks assembled by the real tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from image_builder import BuildError, BuildSpec, SpecError
from image_builder.assemble import assemble_disk, make_fat
from image_builder.boot import BootContext, combination_problem, scheme_for
from image_builder.boot.rpi_firmware import BOARDS, FIRMWARE_DIR, FIRMWARE_FILES
from image_builder.boot.uefi_grub import UefiGrub
from image_builder.rootfs import fetch_hook
from image_builder.runner import Runner

from .conftest import RecordingReporter, minimal_spec_data

KERNEL = "6.1.0-99-arm64"
RPI = {"profile": "rpi-arm64", "arch": "arm64", "boot_scheme": "rpi-firmware",
       "partition_table": "mbr", "kernel_package": "linux-image-arm64",
       "serial_console": "ttyS1,115200"}  # fmt: skip


def spec(**changes: object) -> BuildSpec:
    return BuildSpec.from_dict({**minimal_spec_data(), **changes}).normalise()


@pytest.mark.parametrize(
    ("arch", "scheme", "table", "problem"),
    [
        ("amd64", "uefi-grub", "gpt", None),
        ("arm64", "uefi-grub", "gpt", None),
        ("arm64", "uefi-grub", "mbr", None),
        ("arm64", "rpi-firmware", "mbr", None),
        ("arm64", "rpi-firmware", "gpt", "works with MBR partition tables only, not GPT"),
        ("amd64", "rpi-firmware", "mbr", "made for arm64 only, not amd64"),
        ("riscv64", "uefi-grub", "gpt", "made for amd64 and arm64 only, not riscv64"),
        ("arm64", "u-boot", "gpt", "knows no boot scheme 'u-boot'"),
    ],
)
def test_the_builder_says_which_combinations_it_can_make(
    arch: str, scheme: str, table: str, problem: str | None
) -> None:
    answer = combination_problem(arch, scheme, table)
    if problem is None:
        assert answer is None
    else:
        assert answer is not None and problem in answer


def test_a_spec_the_builder_cannot_make_is_refused_before_any_work() -> None:
    with pytest.raises(SpecError, match="MBR partition tables only"):
        spec(**{**RPI, "partition_table": "gpt"})
    assert scheme_for(spec(**RPI)).name == "rpi-firmware"
    assert scheme_for(spec()).name == "uefi-grub"


def test_grub_modules_for_a_foreign_architecture_come_from_the_mirror() -> None:
    grub = UefiGrub()
    host_has_arm64 = Path("/usr/lib/grub/arm64-efi").is_dir()
    assert grub.fetched_packages(spec(**{**RPI, "boot_scheme": "uefi-grub"})) == (
        () if host_has_arm64 else ("grub-efi-arm64-bin",)
    )
    hook = fetch_hook(("grub-efi-arm64-bin",), Path("/tmp/work dir/fetched"), "arm64")
    assert "'/tmp/work dir/fetched'" in hook and "APT::Architecture=arm64" in hook
    assert 'Dir="$1"' in hook  # the tree's sources and lists, the host's apt


def skeleton_pi_tree(root: Path, *, missing: str = "") -> None:
    firmware = root / FIRMWARE_DIR
    firmware.mkdir(parents=True)
    for name in FIRMWARE_FILES:
        (firmware / name).write_bytes(f"blob {name}".encode())
    dtbs = root / f"usr/lib/linux-image-{KERNEL}/broadcom"
    dtbs.mkdir(parents=True)
    for name in BOARDS.values():
        if name != missing:
            (dtbs / name).write_bytes(b"dtb")
    (root / "boot/firmware").mkdir(parents=True)  # what raspi-firmware's hooks leave
    (root / "boot/kernel").write_bytes(b"Image")
    (root / "boot/initramfs").write_bytes(b"initrd")


def pi_context(tmp_path: Path) -> BootContext:
    (tmp_path / "files").mkdir()
    return BootContext(
        spec=spec(**RPI, kernel_args="quiet"),
        root=tmp_path / "root",
        files_dir=tmp_path / "files",
        fetched_dir=tmp_path / "fetched",
        volume_id="ABCD1234",
        kernel_version=KERNEL,
        runner=Runner(RecordingReporter()),
    )


def test_raspberry_pi_fat_files_come_from_the_tree_and_config_txt_names_them(
    tmp_path: Path,
) -> None:
    context = pi_context(tmp_path)
    skeleton_pi_tree(context.root)
    scheme = scheme_for(context.spec)
    files = scheme.prepare(context)

    assert set(FIRMWARE_FILES) | set(BOARDS.values()) <= set(files)
    assert all(path.is_file() and path.parent == context.files_dir for path in files.values())
    config = files["config.txt"].read_text()
    assert "arm_64bit=1" in config.splitlines()
    kernel = next(line for line in config.splitlines() if line.startswith("kernel="))
    initramfs = next(line for line in config.splitlines() if line.startswith("initramfs "))
    assert kernel.removeprefix("kernel=") in files
    assert initramfs.split()[1] in files and initramfs.endswith("followkernel")
    assert files[kernel.removeprefix("kernel=")].read_bytes() == b"Image"
    assert "[cm4]\n" in config and "device_tree=bcm2711-rpi-cm4-io.dtb" in config
    cmdline = files["cmdline.txt"].read_text()
    assert cmdline.endswith("\n") and cmdline.count("\n") == 1
    assert cmdline.split() == [
        "console=tty0", "console=ttyS1,115200", "quiet",
        "root=systemimg:ABCD-1234", "boot=genpack", "rootwait",
    ]  # fmt: skip
    assert scheme.kernel_command_line(context.spec, "ABCD1234") == cmdline.strip()
    # The firmware lives on the FAT: the tree's copies and the hooks' output are gone.
    assert not (context.root / FIRMWARE_DIR).exists()
    assert not (context.root / "boot/firmware").exists()


def test_a_missing_device_tree_fails_the_build_naming_it(tmp_path: Path) -> None:
    context = pi_context(tmp_path)
    skeleton_pi_tree(context.root, missing="bcm2711-rpi-400.dtb")
    with pytest.raises(BuildError, match=r"bcm2711-rpi-400\.dtb is missing"):
        scheme_for(context.spec).prepare(context)


@pytest.mark.parametrize(
    ("board", "label", "boot_type", "bootable"),
    [
        (RPI, "dos", "c", True),
        ({"partition_table": "mbr"}, "dos", "ef", None),
        ({}, "gpt", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", None),
    ],
    ids=["raspberry-pi", "uefi-mbr", "uefi-gpt"],
)
def test_disk_layout_follows_the_profile_partition_table(
    tmp_path: Path, board: dict, label: str, boot_type: str, bootable: bool | None
) -> None:
    board_spec = spec(**board)
    scheme = scheme_for(board_spec)
    runner = Runner(RecordingReporter())
    payload = tmp_path / "system.img"
    payload.write_bytes(b"squashfs")
    fat = tmp_path / "fat.img"
    make_fat(path=fat, size_mib=40, volume_id="ABCD1234", files={"system.img": payload},
             runner=runner)  # fmt: skip
    disk = tmp_path / "disk.img"
    assemble_disk(
        disk=disk, fat_image=fat, data_label="data-ABCD-1234",
        table=board_spec.partition_table, boot_partition=scheme.partition,
        workdir=tmp_path, runner=runner,
    )  # fmt: skip
    table = json.loads(subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True,
                                      check=True).stdout)["partitiontable"]  # fmt: skip
    assert table["label"] == label
    first, second = table["partitions"]
    assert first["type"].upper() == boot_type.upper()
    assert first.get("bootable") is bootable
    assert first["start"] == 2048 and second["start"] == 2048 + 40 * 2048


@pytest.mark.parametrize("field", ["version", "kernel_args", "serial_console"])
@pytest.mark.parametrize("text", ["1.0\nkernel=evil.img", "1.0\r[all]", "1.0\x00", "1.0\u2028x"])
def test_text_that_reaches_a_boot_file_line_must_be_one_printable_line(
    field: str, text: str
) -> None:
    with pytest.raises(SpecError, match="one line of printable text"):
        spec(**{**RPI, field: text})
