"""Acceptance tests: real image, real boot under QEMU (TCG), status read back from the FAT."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_builder import BuildResult
from image_builder.image_tools import read_status, write_boot_file, write_system_ini

from .conftest import ROOT_PASSWORD
from .qemu import QemuVM

pytestmark = pytest.mark.slow

BOOT_TIMEOUT = 300


def boot_and_login(image: Path, log: Path, machine: type[QemuVM] = QemuVM) -> QemuVM:
    vm = machine(image, log_path=log).start()
    try:
        vm.wait_for_login_prompt(BOOT_TIMEOUT)
        vm.login("root", ROOT_PASSWORD)
        # The status unit may still be waiting for an address: let it finish before we look.
        vm.run("systemctl start genpack-status.service", timeout=180)
    except BaseException:
        vm.close()
        raise
    return vm


def shell(vm: QemuVM, command: str) -> str:
    status, output = vm.run(command)
    assert status == 0, f"{command!r} failed ({status}): {output}"
    return output


def test_minimal_image_boots_and_applies_hostname_and_static_address(
    disk_copy: Path, tmp_path: Path, minimal_build: BuildResult
) -> None:
    write_system_ini(
        disk_copy,
        "hostname = kiosk-one\r\nip_address = 10.0.2.15/24\r\nip_gateway = 10.0.2.2\r\n"
        "dns = 10.0.2.3\r\n",
    )
    vm = boot_and_login(disk_copy, tmp_path / "console.log")
    try:
        assert shell(vm, "hostname") == "kiosk-one"
        assert "10.0.2.15/24" in shell(vm, "ip -br addr")
        # Static, not DHCP: networkd's file for the address is the agent's static one.
        assert "10-genpack-static.network" in shell(vm, "ls /run/systemd/network")
        # First boot made the one host key sshd serves; nothing waits for LVM it does not have.
        shell(vm, "systemctl start ssh.service")
        assert shell(vm, "ls /etc/ssh | grep host_").split() == [
            "ssh_host_ed25519_key",
            "ssh_host_ed25519_key.pub",
        ]
        assert "ssh-ed25519" in shell(vm, "ssh-keyscan -T 60 127.0.0.1 2>/dev/null")
        assert shell(vm, "systemctl is-enabled e2scrub_reap.service || true") == "disabled"
        vm.poweroff()
    finally:
        vm.close()

    status = read_status(disk_copy)
    assert status is not None, "the device wrote no system-status.txt"
    assert status["applied"]["hostname"] == "kiosk-one"
    assert status["applied"]["ip_address"] == "10.0.2.15/24"
    assert status["rejected"] == {}
    assert "10.0.2.15/24" in [a for addrs in status["addresses"].values() for a in addrs]
    assert status["build"] == minimal_build.build_id


def test_notepad_system_ini_with_bad_address_applies_hostname_and_falls_back_to_dhcp(
    disk_copy: Path, tmp_path: Path
) -> None:
    text = "; saved by Notepad\r\nhostname=field-unit-7\r\nip_address = 10.0.2.300/24\r\n"
    write_system_ini(disk_copy, "\ufeff".encode("utf-16-le") + text.encode("utf-16-le"))
    vm = boot_and_login(disk_copy, tmp_path / "console.log")
    try:
        assert shell(vm, "hostname") == "field-unit-7"
        assert "10.0.2.15/24" in shell(vm, "ip -br addr")  # from QEMU's DHCP server
        assert "static" not in shell(vm, "ls /run/systemd/network")
        vm.poweroff()
    finally:
        vm.close()

    status = read_status(disk_copy)
    assert status is not None
    assert status["applied"]["hostname"] == "field-unit-7"
    assert "ip_address" in status["rejected"]
    assert "ip_address" not in status["applied"]
    assert "10.0.2.15/24" in [a for addrs in status["addresses"].values() for a in addrs]


def test_file_written_on_first_boot_persists_but_not_in_transient_mode(
    disk_copy: Path, tmp_path: Path
) -> None:
    # A bigger "medium" than the image: the data partition grows into it on first boot.
    with disk_copy.open("r+b") as handle:
        handle.truncate(disk_copy.stat().st_size + 256 * 2**20)

    sysusers_ran = "systemctl show -P ConditionResult systemd-sysusers.service"
    vm = boot_and_login(disk_copy, tmp_path / "console-1.log")
    try:
        # The image's /etc is stamped up to date with its /usr: no user to create at boot.
        assert shell(vm, sysusers_ran) == "no"
        shell(vm, "echo kept > /root/first-boot.txt && sync")
        # A user added on the device: the layer now has its own user database.
        shell(vm, "useradd --system technician && sync")
        data_size_kib = int(shell(vm, "df -k --output=size /run/initramfs/rw | tail -1"))
        vm.poweroff()
    finally:
        vm.close()
    assert data_size_kib > 200 * 1024, "data partition was not grown to fill the medium"

    vm = boot_and_login(disk_copy, tmp_path / "console-2.log")
    try:
        assert shell(vm, "cat /root/first-boot.txt") == "kept"
        # ...so the initramfs hid the image's stamp and sysusers checked it, as Debian does.
        assert shell(vm, sysusers_ran) == "yes"
        assert shell(vm, "id -u technician")
        vm.poweroff()
    finally:
        vm.close()

    write_boot_file(disk_copy, "system.cfg", b'set kernel_args="genpack.transient=1"\n')
    vm = boot_and_login(disk_copy, tmp_path / "console-3.log")
    try:
        assert "transient mode" in vm.text
        status, _ = vm.run("test -e /root/first-boot.txt")
        assert status != 0, "transient mode must not show the data partition's files"
        vm.poweroff()
    finally:
        vm.close()
