"""Small pure parts of the engine: mirror discovery, kernel command line, default system.ini."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from image_builder import BuildSpec, default_mirror, rootfs
from image_builder.bootchain import fat_uuid, kernel_command_line
from image_builder.customize import unit_exists
from image_builder.options import FALLBACK_SECURITY_MIRROR, EngineOptions
from image_builder.pipeline import default_system_ini
from image_builder.trim import default_hostname

from .conftest import minimal_spec_data

SOURCES = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def spec(**changes: object) -> BuildSpec:
    return BuildSpec.from_dict({**minimal_spec_data(), **changes}).normalise()


def test_default_mirror_is_the_hosts_deb822_source_for_the_suite(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(SOURCES)
    assert default_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert default_mirror("trixie", tmp_path) == "http://deb.debian.org/debian"


def test_the_security_archive_defaults_to_the_hosts_source_else_debians(tmp_path: Path) -> None:
    assert default_mirror("bookworm-security", tmp_path, fallback=FALLBACK_SECURITY_MIRROR) == (
        FALLBACK_SECURITY_MIRROR
    )
    (tmp_path / "debian.sources").write_text(SOURCES)
    assert default_mirror("bookworm-security", tmp_path, fallback=FALLBACK_SECURITY_MIRROR) == (
        "http://mirror.example/debian-security"
    )


def test_apt_sources_take_the_pockets_from_the_host_or_the_named_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rootfs, "SOURCES_DIR", tmp_path)
    assert rootfs.sources_lines(
        spec(components=["main"]), EngineOptions(mirror="http://m/debian")
    ) == ["deb http://m/debian bookworm main"], (
        "a host without -updates and -security sources: the release only"
    )

    (tmp_path / "debian.sources").write_text(SOURCES)
    assert rootfs.sources_lines(
        spec(components=["main"]), EngineOptions(mirror="http://m/debian")
    ) == [
        "deb http://m/debian bookworm main",
        "deb http://m/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
    ]
    named = EngineOptions(mirror="http://m/debian", security_mirror="http://s/debian-security")
    assert rootfs.sources_lines(spec(components=["main"]), named) == [
        "deb http://m/debian bookworm main",
        "deb http://m/debian bookworm-updates main",
        "deb http://s/debian-security bookworm-security main",
    ]


def test_serial_console_is_the_last_console_so_it_gets_boot_messages() -> None:
    line = kernel_command_line(spec(serial_console="ttyS0,115200", kernel_args="quiet"))
    assert line == "console=tty0 console=ttyS0,115200 quiet"


def test_fat_uuid_looks_like_blkid_shows_it() -> None:
    assert fat_uuid("1A2B3C4D") == "1A2B-3C4D"


def test_default_hostname_is_a_valid_label() -> None:
    assert default_hostname(spec(name="my_kiosk.v2")) == "my-kiosk-v2"


def test_default_system_ini_is_crlf_and_lists_app_settings() -> None:
    text = default_system_ini(
        spec(settings=[{"section": "kiosk", "key": "url", "default": "http://localhost"}]),
        "42",
    )
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert "[kiosk]" in text
    assert "hostname" in text


def test_template_units_are_found_by_their_template_file(tmp_path: Path) -> None:
    units = tmp_path / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    (units / "getty@.service").write_text("")
    assert unit_exists(tmp_path, "getty@tty1.service")
    assert not unit_exists(tmp_path, "nothing.service")


def test_the_fat_gets_the_largest_clusters_fat32_allows(tmp_path: Path) -> None:
    from image_builder.assemble import FAT32_MIN_CLUSTERS, make_fat, sectors_per_cluster
    from image_builder.report import NullReporter
    from image_builder.runner import Runner

    for size_mib in (34, 64, 146, 300, 600, 1200, 4000, 9000):
        per_cluster = sectors_per_cluster(size_mib)
        clusters = size_mib * 2048 // per_cluster
        assert clusters >= FAT32_MIN_CLUSTERS or per_cluster == 1
        assert per_cluster == 64 or clusters // 2 < FAT32_MIN_CLUSTERS  # none larger fits
    if not shutil.which("mkfs.vfat"):
        return
    fat = tmp_path / "fat.img"
    source = tmp_path / "system.img"
    source.write_bytes(b"squashfs" * 1000)
    make_fat(path=fat, size_mib=146, volume_id="ABCD1234", files={"system.img": source},
             runner=Runner(NullReporter()))  # fmt: skip
    described = subprocess.run(["file", "-b", str(fat)], capture_output=True, text=True).stdout
    assert "FAT (32 bit)" in described and "sectors/cluster 4" in described, described


def test_squashfs_blocks_are_small_unless_the_image_is_mostly_firmware(tmp_path: Path) -> None:
    from image_builder import assemble

    root = tmp_path / "root"
    (root / "usr/lib/python3.11").mkdir(parents=True)
    (root / "usr/lib/python3.11/os.py").write_bytes(b"x" * 300_000)
    assert assemble.squashfs_block(root) == assemble.SQUASHFS_BLOCK  # no firmware at all
    (root / "usr/lib/firmware").mkdir()
    (root / "usr/lib/firmware/iwlwifi-cc-a0-77.ucode").write_bytes(b"f" * 100_000)
    (root / "usr/lib/firmware/link.ucode").symlink_to("iwlwifi-cc-a0-77.ucode")
    assert assemble.squashfs_block(root) == assemble.SQUASHFS_BLOCK  # a quarter: small blocks
    (root / "usr/lib/firmware/amdgpu.bin").write_bytes(b"f" * 100_000)
    assert assemble.squashfs_block(root) == assemble.FIRMWARE_SQUASHFS_BLOCK  # 40 %


@pytest.mark.skipif(not shutil.which("mksquashfs"), reason="needs squashfs-tools")
def test_the_initramfs_is_stored_as_is_and_the_rest_compressed(tmp_path: Path) -> None:
    from image_builder import assemble

    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    text = b"".join(b"line %d of a very compressible file\n" % n for n in range(60_000))
    (root / "boot/initramfs").write_bytes(text)  # as compressible as it gets, yet stored raw
    (root / "boot/kernel").write_bytes(text[::-1])
    image = tmp_path / "system.img"
    subprocess.run(assemble.squashfs_command(spec, root, image, "256K"), check=True,
                   capture_output=True)  # fmt: skip
    assert len(text) <= image.stat().st_size < len(text) * 1.1
    unpacked = subprocess.run(["unsquashfs", "-cat", str(image), "boot/initramfs"],
                              capture_output=True, check=True).stdout  # fmt: skip
    assert unpacked == text


def test_etc_is_stamped_up_to_date_with_usr_as_the_image_keeps_it(tmp_path: Path) -> None:
    """systemd's ConditionNeedsUpdate=/etc compares /usr's mtime with /etc/.updated's; squashfs
    keeps whole seconds, so the stamp must match /usr in seconds, not in nanoseconds."""
    import os

    from image_builder import assemble

    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    os.utime(root / "usr", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    (root / "etc/.updated").write_text("left by a package\n")

    assemble.stamp_etc_up_to_date(root)

    image, unpacked = tmp_path / "system.img", tmp_path / "unpacked"
    subprocess.run(assemble.squashfs_command(spec, root, image, "256K"), check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["unsquashfs", "-d", str(unpacked), str(image)], check=True,
                   capture_output=True)  # fmt: skip
    usr, stamp = (unpacked / "usr").stat(), (unpacked / "etc/.updated").stat()
    assert usr.st_mtime_ns == stamp.st_mtime_ns == 1_700_000_000 * 10**9
    assert "TIMESTAMP_NSEC=1700000000000000000\n" in (unpacked / "etc/.updated").read_text()
