"""system.ini and the status file in a raw image's FAT partition, via mtools (no mounts)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builds.engine.image_tools import (
    boot_partition_offset,
    read_boot_file,
    read_status,
    write_boot_file,
    write_system_ini,
)

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("mkfs.vfat", "mcopy", "sfdisk")),
    reason="needs dosfstools, mtools and fdisk (scripts/install-build-host.sh)",
)


@pytest.fixture
def small_image(tmp_path: Path) -> Path:
    """A 40 MiB GPT image with a FAT32 ESP at 1 MiB, built like the engine builds its own."""
    fat = tmp_path / "fat.img"
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-C", str(fat), str(34 * 1024)], check=True, capture_output=True
    )
    image = tmp_path / "disk.img"
    with image.open("wb") as handle:
        handle.truncate(40 * 2**20)
    layout = "label: gpt\nstart=2048, size=69632, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n"
    subprocess.run(["sfdisk", "-q", str(image)], input=layout.encode(), check=True)
    subprocess.run(
        ["dd", f"if={fat}", f"of={image}", "bs=1M", "seek=1", "conv=notrunc", "status=none"],
        check=True,
    )
    return image


def test_boot_partition_offset_is_read_from_the_partition_table(small_image: Path) -> None:
    assert boot_partition_offset(small_image) == 2**20


def test_write_system_ini_replaces_the_file_byte_for_byte(small_image: Path) -> None:
    write_system_ini(small_image, "hostname = first\r\n")
    notepad = "\ufeffhostname = second\r\n".encode("utf-16-le")
    write_system_ini(small_image, notepad)
    assert read_boot_file(small_image, "system.ini") == notepad


def test_read_status_parses_what_the_device_wrote(small_image: Path) -> None:
    assert read_status(small_image) is None
    report = (
        "image: minimal (pc)\r\nbuild: 42\r\n\r\n[applied]\r\nhostname = kiosk\r\n"
        "\r\n[rejected]\r\nip_address = not an address\r\n"
    )
    write_boot_file(small_image, "system-status.txt", report.encode("utf-8-sig"))
    status = read_status(small_image)
    assert status is not None
    assert status["build"] == "42"
    assert status["applied"] == {"hostname": "kiosk"}
    assert "ip_address" in status["rejected"]
