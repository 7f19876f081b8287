"""The session's real images carry no package manager, only the stdlib the agent imports,
and the engine's own small initramfs (image_builder/slim.py, image_builder/initramfs.py); the boot
tests of the same images show the agent still applies system.ini with what is left."""

from __future__ import annotations

import json
import subprocess

import pytest

from image_builder import BuildResult
from image_builder.initramfs import early_archive_length, read_archive

pytestmark = pytest.mark.slow

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def listing(result: BuildResult) -> set[str]:
    output = subprocess.run(
        ["unsquashfs", "-l", "-d", "", str(result.artifact("system-img").path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(output.splitlines())


def image_file(result: BuildResult, path: str) -> bytes:
    return subprocess.run(
        ["unsquashfs", "-cat", str(result.artifact("system-img").path), path],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.parametrize("board", ["kvm_build", "minimal_build", "arm64_build"])
def test_images_carry_no_package_manager_and_a_trimmed_stdlib(
    board: str, request: pytest.FixtureRequest
) -> None:
    result: BuildResult = request.getfixturevalue(board)
    files = listing(result)
    for gone in ("/usr/bin/apt", "/usr/bin/apt-get", "/usr/bin/gpgv",
                 "/usr/lib/python3.11/pydoc.py", "/usr/lib/python3.11/tkinter",
                 "/usr/lib/python3.11/unittest", "/usr/lib/python3.11/sqlite3"):  # fmt: skip
        assert gone not in files, gone
    for kept in ("/usr/bin/python3.11", "/usr/lib/python3.11/json/__init__.py",
                 "/usr/lib/python3.11/ipaddress.py", "/usr/lib/python3.11/subprocess.py",
                 "/usr/lib/python3.11/encodings/utf_8.py", "/usr/bin/dpkg-query",
                 "/usr/lib/genpack/agent.py"):  # fmt: skip
        assert kept in files, kept
    packages = json.loads(result.artifact("manifest").path.read_text())["packages"]
    assert "apt" not in packages and "libapt-pkg6.0" not in packages
    assert "openssh-server" in packages and "python3.11-minimal" in packages
    sbom = json.loads(result.artifact("sbom").path.read_text())
    assert "apt" not in {package["name"] for package in sbom["packages"]}
    # The PC's starts with its CPU microcode, uncompressed, as the kernel needs it first.
    initramfs = image_file(result, "boot/initramfs")
    early = early_archive_length(initramfs)
    assert (early > 0) == (board == "minimal_build")
    if early:  # every CPU's microcode, held once: the kernel cannot load it late
        names = {member.name for member in read_archive(initramfs)[0]}
        assert "kernel/x86/microcode/GenuineIntel.bin" in names
        assert "kernel/x86/microcode/AuthenticAMD.bin" in names
        assert not any(name.startswith("/usr/lib/firmware/intel-ucode/") for name in files)
    assert initramfs[early : early + 4] == ZSTD_MAGIC
    unpacked = subprocess.run(
        ["zstd", "-dc"], input=initramfs[early:], capture_output=True, check=True
    ).stdout
    members = {member.name for member in read_archive(unpacked)[0]}
    assert {"init", "usr/bin/busybox", "usr/sbin/e2fsck", "usr/sbin/blkid"} <= members
    assert any(name.endswith("/overlay.ko") for name in members)
    # What initramfs-tools used to add and the boot never needed.
    assert not any(name.endswith(("/libcrypto.so.3", "/udevadm", "/dmsetup")) for name in members)


@pytest.mark.parametrize("board", ["kvm_build", "arm64_build"])
def test_the_read_ahead_list_names_pid_1_first_and_only_files_the_image_has(
    board: str, request: pytest.FixtureRequest
) -> None:
    result: BuildResult = request.getfixturevalue(board)
    files = listing(result)
    listed = image_file(result, "usr/lib/genpack/read-ahead").decode().split()
    assert listed[0] == "usr/lib/systemd/systemd"
    assert [name for name in listed if f"/{name}" not in files] == []
    assert any(name.endswith("/libsystemd-shared-252.so") for name in listed)  # via RUNPATH
    assert any(name.startswith("usr/bin/python3.") for name in listed)  # python3 is a link
    assert "usr/lib/genpack/agent.py" in listed
