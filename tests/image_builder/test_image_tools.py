"""system.ini and the status file in a raw image's FAT partition, via mtools (no mounts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from image_builder.image_tools import (
    boot_partition_offset,
    read_boot_file,
    read_status,
    write_boot_file,
    write_system_ini,
)
from tests.images import small_disk_image

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("mkfs.vfat", "mcopy", "sfdisk")),
    reason="needs dosfstools, mtools and fdisk (scripts/install-build-host.sh)",
)


@pytest.fixture
def small_image(tmp_path: Path) -> Path:
    return small_disk_image(tmp_path)


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
