"""The boot test's parts that need no booted image: what the console shows when a boot cannot
succeed, the QEMU command lines the settings make, the boot-test configuration on the copy's
FAT partition, the status file read back, and what the host's own failures raise. Small real
disks (mkfs.vfat, sfdisk, mtools) and the real QEMU and OVMF where a machine is started."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from appliance.system_ini import parse_ini, status_report, validate_system_ini
from image_builder.assemble import assemble_disk, make_fat
from image_builder.boot import BootPartition
from image_builder.boottest import (
    BOOT_TEST_ARGUMENT,
    BootTestCancelled,
    BootTestHostError,
    BootTestSettings,
    ConsoleLog,
    make_vm,
    run_boot_test,
    status_keys,
    status_problem,
    uefi_boot_config,
)
from image_builder.image_tools import read_boot_file, write_boot_file
from image_builder.qemu import OVMF_CODE, ImageBootError, Raspi3VM, dead_end
from image_builder.runner import Runner

from .conftest import RecordingReporter

ESP = BootPartition(gpt_type="C12A7328-F81F-11D2-BA4B-00A0C93EC93B", mbr_type="ef")
PI_BOOT = BootPartition(gpt_type="", mbr_type="c", bootable=True)
DISK_TOOLS = ("mkfs.vfat", "mcopy", "sfdisk", "mke2fs")


def small_disk(tmp_path: Path, files: dict[str, bytes], *, table: str = "gpt") -> Path:
    """A 40 MiB FAT partition holding `files` and a data partition, as the builder lays out."""
    missing = [tool for tool in DISK_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"disk tools missing: {', '.join(missing)}")
    runner = Runner(RecordingReporter())
    sources = tmp_path / "fat-files"
    sources.mkdir()
    for name, data in files.items():
        (sources / name).write_bytes(data)
    fat = tmp_path / "fat.img"
    make_fat(path=fat, size_mib=40, volume_id="ABCD1234", runner=runner,
             files={name: sources / name for name in files})  # fmt: skip
    disk = tmp_path / "disk.img"
    assemble_disk(disk=disk, fat_image=fat, data_label="data-ABCD-1234", table=table,
                  boot_partition=PI_BOOT if table == "mbr" else ESP, workdir=tmp_path,
                  runner=runner)  # fmt: skip
    return disk


# --------------------------------------------------------------------------------------------
# Dead ends on the console
# --------------------------------------------------------------------------------------------

BROKEN_INIT = """\
[    3.912345] Freeing unused kernel image (initmem) memory: 2744K
[    3.913001] Run /init as init process
Begin: Running /scripts/init-bottom ... done.
genpack-test: this init is broken on purpose
[    6.101234] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100
[    6.102000] CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-28-amd64 #1  Debian 6.1.119-1
"""
NO_BOOT_PARTITION = """\
Begin: Running /scripts/local-premount ... done.
genpack: boot partition (root=systemimg:ABCD-1234) not found


BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) built-in shell (ash)
Enter 'help' for a list of built-in commands.

(initramfs) """
EMERGENCY = """\
[FAILED] Failed to mount run-initramfs-boot.mount - /run/initramfs/boot.
[DEPEND] Dependency failed for local-fs.target - Local File Systems.
[  OK  ] Reached target emergency.target - Emergency Mode.
You are in emergency mode. After logging in, type "journalctl -xb" to view
system logs, "systemctl reboot" to reboot, "systemctl default" or "exit"
to boot into default mode.
Press Enter for maintenance
(or press Control-D to continue):"""
LOCKED_ROOT_EMERGENCY = """\
[DEPEND] Dependency failed for local-fs.target - Local File Systems.
Cannot open access to console, the root account is locked.
See sulogin(8) man page for more details.

Press Enter to continue."""
NO_INIT = "switch_root: can't execute '/sbin/init': No such file or directory"
HEALTHY = """\
[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)
[    0.000000] Command line: BOOT_IMAGE=(loop)/boot/kernel root=systemimg:ABCD-1234 boot=genpack
genpack: boot partition /dev/vda1
genpack: no data partition found
genpack: WARNING: running without the data partition: changes are lost at power-off
[  OK  ] Started genpack-agent.service - Apply system.ini from the boot partition.
[FAILED] Failed to start genpack-ssh-keygen.service - Generate SSH host keys.
[  OK  ] Started serial-getty@ttyS0.service - Serial Getty on ttyS0.
[  OK  ] Reached target multi-user.target - Multi-User System.

Debian GNU/Linux 12 boottest ttyS0

boottest login: """


@pytest.mark.parametrize(
    ("console", "reason"),
    [
        (BROKEN_INIT, "kernel panic: Attempted to kill init! exitcode=0x00000100"),
        (
            NO_BOOT_PARTITION,
            "initramfs rescue shell (after: genpack: boot partition "
            "(root=systemimg:ABCD-1234) not found)",
        ),
        (
            EMERGENCY,
            "systemd emergency mode (after: [DEPEND] Dependency failed for local-fs.target "
            "- Local File Systems.)",
        ),
        (
            LOCKED_ROOT_EMERGENCY,
            "systemd emergency mode (after: [DEPEND] Dependency failed for local-fs.target "
            "- Local File Systems.)",
        ),
        (NO_INIT, f"init failed: {NO_INIT}"),
        (
            "genpack-boottest: status not written (OSError: [Errno 30] Read-only file system)",
            "the status agent failed: genpack-boottest: status not written "
            "(OSError: [Errno 30] Read-only file system)",
        ),
    ],
    ids=["broken-init", "initramfs-shell", "emergency", "emergency-root-locked", "no-init",
         "agent-failed"],
)  # fmt: skip
def test_a_boot_that_cannot_succeed_is_named_from_its_console(console: str, reason: str) -> None:
    assert dead_end(console) == reason


def test_a_healthy_boot_with_failed_units_and_warnings_is_no_dead_end() -> None:
    assert dead_end(HEALTHY) is None


def test_the_cause_of_an_emergency_shell_may_come_from_lines_printed_earlier() -> None:
    lines = EMERGENCY.split("\n")
    assert dead_end("\n".join(lines[3:]), before=lines[:3]) == (
        "systemd emergency mode (after: [DEPEND] Dependency failed for local-fs.target "
        "- Local File Systems.)"
    )


def test_console_log_is_written_without_escapes_and_with_secrets_masked(tmp_path: Path) -> None:
    console = ConsoleLog(tmp_path / "console.log", secrets=["s3cret-wifi-key"])
    raw = (
        b"\x1b[0;32m  OK  \x1b[0m] Started genpack-wifi.service\r\n"
        b"wpa: psk=s3cret-wifi-key\r\n"
        b"\x1bM\x1b[K[\x1b[0;1;31m*     \x1b[0m] Job genpack-agent.service/start running\r\n"
        b"root:$6$salt$abcdefghijklmnop:19000:0:99999:7:::\r\n"
        b"\x1b]0;title\x07boottest login: "
    )
    # A line still being printed is scanned (a prompt has no newline) but not yet written.
    assert console.feed(raw[:40]) == "  OK  ] Started genpack-wifi."
    assert (tmp_path / "console.log").read_text() == ""
    text = console.feed(raw)
    assert text.endswith("boottest login: ")
    console.close()
    log = (tmp_path / "console.log").read_text()
    assert "s3cret-wifi-key" not in log and "$6$salt" not in log
    assert "\x1b" not in log and "\r" not in log
    assert log.splitlines()[0] == "  OK  ] Started genpack-wifi.service"
    assert log.splitlines()[2] == "[*     ] Job genpack-agent.service/start running"
    assert log.splitlines()[-1] == "boottest login: "


# --------------------------------------------------------------------------------------------
# Settings → the QEMU command line
# --------------------------------------------------------------------------------------------


def fake_firmware(directory: Path, code: str = "OVMF_CODE_4M.fd") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / code).write_bytes(b"code")
    (directory / code.replace("CODE", "VARS")).write_bytes(b"vars")
    return directory / code


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, item in enumerate(argv) if item == name]


def test_q35_settings_name_the_machine_its_firmware_and_memory(tmp_path: Path) -> None:
    firmware = fake_firmware(tmp_path / "fw")
    vm = make_vm(tmp_path / "disk.img", BootTestSettings("q35", str(firmware), memory_mib=2048))
    try:
        argv = vm.argv()
    finally:
        vm.close()
    assert argv[0] == "qemu-system-x86_64"
    assert option(argv, "-machine") == ["q35"] and option(argv, "-m") == ["2048"]
    code, variables = option(argv, "-drive")[:2]
    assert f"readonly=on,file={firmware}" in code
    assert variables.endswith("/OVMF_VARS_4M.fd") and str(tmp_path / "fw") not in variables
    assert f"file={tmp_path / 'disk.img'},format=raw,if=virtio" in option(argv, "-drive")
    assert "-no-reboot" in argv  # a reset ends QEMU instead of booting again


def test_virt_defaults_to_aavmf_and_a_cortex_a72(tmp_path: Path) -> None:
    vm = make_vm(tmp_path / "disk.img", BootTestSettings("virt"))
    assert vm.BINARY == "qemu-system-aarch64"
    assert vm.firmware == Path("/usr/share/AAVMF/AAVMF_CODE.fd")
    assert vm.machine_args() == ["-machine", "virt", "-cpu", "cortex-a72"]
    vm.close()


def test_raspi3b_boots_the_files_the_pi_firmware_would_with_the_boot_test_argument(
    tmp_path: Path,
) -> None:
    disk = small_disk(
        tmp_path,
        {
            "config.txt": b"arm_64bit=1\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n"
            b"[cm4]\nkernel=other\n",
            "cmdline.txt": b"console=tty0 console=ttyS1,115200 root=systemimg:ABCD-1234 "
            b"boot=genpack rootwait\n",
            "vmlinuz": b"kernel",
            "initrd.img": b"initrd",
            "bcm2710-rpi-3-b-plus.dtb": b"dtb",
        },
        table="mbr",
    )
    settings = BootTestSettings("raspi3b", dtb="bcm2710-rpi-3-b-plus.dtb", memory_mib=4096)
    vm = make_vm(disk, settings)
    try:
        argv = vm.argv()
        assert option(argv, "-machine") == ["raspi3b"]
        assert option(argv, "-m") == ["1024"]  # the board's own size, whatever was asked
        (kernel,), (initrd,), (dtb,) = (
            option(argv, name) for name in ("-kernel", "-initrd", "-dtb")
        )
        assert Path(kernel).read_bytes() == b"kernel" and Path(initrd).read_bytes() == b"initrd"
        assert Path(dtb).name == "bcm2710-rpi-3-b-plus.dtb"
        assert option(argv, "-append") == [
            "console=tty0 console=ttyS1,115200 root=systemimg:ABCD-1234 boot=genpack rootwait "
            + BOOT_TEST_ARGUMENT
        ]
        assert f"file={disk},format=raw,if=sd" in option(argv, "-drive")
    finally:
        vm.close()
    missing = Raspi3VM(disk, dtb="bcm2711-rpi-4-b.dtb")
    with pytest.raises(ImageBootError, match=r"bcm2711-rpi-4-b\.dtb is not on the image's FAT"):
        missing.argv()
    missing.close()


@pytest.mark.parametrize("machine", ["", "raspi4b", "pc"])
def test_a_machine_the_harness_lacks_is_refused(tmp_path: Path, machine: str) -> None:
    with pytest.raises(ValueError):
        make_vm(tmp_path / "disk.img", BootTestSettings(machine))


# --------------------------------------------------------------------------------------------
# The boot-test configuration and the status file on the FAT partition
# --------------------------------------------------------------------------------------------


def test_system_cfg_adds_the_argument_to_the_images_own_and_skips_the_menu() -> None:
    assert uefi_boot_config(None).decode().splitlines()[1:] == [
        f'set kernel_args="$kernel_args {BOOT_TEST_ARGUMENT}"',
        "set timeout=0",
        "set default=0",
    ]
    own = b'set kernel_args="debug"\nset timeout=10\n'
    text = uefi_boot_config(own).decode()
    assert text.startswith('set kernel_args="debug"\nset timeout=10\n')
    # The image's own arguments stay; its menu wait is overridden (later lines win).
    assert text.index("set timeout=0") > text.index("set timeout=10")


def test_status_read_back_names_applied_rejected_and_unknown_keys(tmp_path: Path) -> None:
    ini = "hostname = boottest\r\nip_address = 10.0.2.300/24\r\ncolour = blue\r\n"
    result = validate_system_ini(parse_ini(ini.encode()), capabilities=frozenset({"ethernet"}))
    report = status_report(result, image="minimal (pc-x86_64)", build="b1")
    disk = small_disk(tmp_path, {"system.img": b"squashfs"})
    write_boot_file(disk, "system-status.txt", report.encode("utf-8-sig"))
    from image_builder.image_tools import read_status

    applied, rejected = status_keys(read_status(disk) or {})
    assert applied == {"hostname": "boottest"}
    assert set(rejected) == {"ip_address", "colour"}
    assert rejected["colour"] == "unknown key"
    assert rejected["ip_address"]
    assert status_problem(read_status(disk) or {}) == ""


def test_a_status_file_saying_the_agent_failed_fails_the_boot_test(tmp_path: Path) -> None:
    from appliance import agent

    result = validate_system_ini(parse_ini(b""), capabilities=frozenset({"ethernet"}))
    report = status_report(result, image="minimal", build="b1", notes=[agent.AGENT_FAILED_NOTE])
    disk = small_disk(tmp_path, {"system.img": b"squashfs"})
    write_boot_file(disk, "system-status.txt", report.encode("utf-8-sig"))
    from image_builder.image_tools import read_status

    assert status_problem(read_status(disk) or {}) == (
        f"system.ini was not applied: the status file says {agent.AGENT_FAILED_NOTE!r}"
    )


# --------------------------------------------------------------------------------------------
# The host's failures, a machine that never gets anywhere, cancelling
# --------------------------------------------------------------------------------------------


def boot_test_processes(marker: Path) -> list[int]:
    """PIDs of processes whose command line names `marker` (the disk copy's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(marker).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_qemu_missing_from_the_host_is_a_host_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = small_disk(tmp_path, {"system.img": b"squashfs"})
    bin_dir = tmp_path / "bin"  # the disk tools, but no QEMU
    bin_dir.mkdir()
    for tool in ("cp", "sfdisk", "mcopy", "mtype", "mdel"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(BootTestHostError, match="qemu-system-x86_64 is not installed"):
        run_boot_test(disk, BootTestSettings("q35"), workdir=tmp_path / "work",
                      console_log=tmp_path / "console.log")  # fmt: skip
    assert list((tmp_path / "work").iterdir()) == []


def test_missing_firmware_is_a_host_error(tmp_path: Path) -> None:
    disk = small_disk(tmp_path, {"system.img": b"squashfs"})
    settings = BootTestSettings("q35", firmware=str(tmp_path / "nowhere/OVMF_CODE.fd"))
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    with pytest.raises(
        BootTestHostError, match=r"firmware file .*nowhere/OVMF_CODE\.fd is missing"
    ):
        run_boot_test(disk, settings, workdir=tmp_path / "work", console_log=tmp_path / "c.log")


def uefi_host() -> None:
    if shutil.which("qemu-system-x86_64") is None or not OVMF_CODE.is_file():
        pytest.skip("qemu-system-x86_64 or OVMF is not installed")


def test_qemu_failing_before_the_guest_runs_is_a_host_error(tmp_path: Path) -> None:
    uefi_host()
    disk = small_disk(tmp_path, {"system.img": b"squashfs"})
    # More memory than QEMU can give a guest: it exits with an error before any firmware runs.
    settings = BootTestSettings("q35", memory_mib=2**40, timeout_seconds=60)
    with pytest.raises(BootTestHostError, match=r"QEMU exited with status 1: .*memory"):
        run_boot_test(disk, settings, workdir=tmp_path / "work", console_log=tmp_path / "c.log")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_disk_that_never_boots_fails_at_the_deadline_and_qemu_is_gone(tmp_path: Path) -> None:
    uefi_host()
    disk = small_disk(tmp_path, {"system.img": b"not an operating system"})
    lines: list[str] = []
    result = run_boot_test(
        disk, BootTestSettings("q35", timeout_seconds=8), workdir=tmp_path / "work",
        console_log=tmp_path / "console.log", system_ini="hostname = boottest\r\n",
        log=lines.append,
    )  # fmt: skip
    assert not result.passed
    assert result.reason == "no login prompt after 8 s"
    assert result.login_seconds is None and result.applied == {}
    assert result.console_log == tmp_path / "console.log"
    assert "[boot test] FAILED: no login prompt after 8 s" in result.console_log.read_text()
    assert any("booting under qemu-system-x86_64 -machine q35" in line for line in lines)
    assert list((tmp_path / "work").iterdir()) == []  # the copy is removed
    assert boot_test_processes(tmp_path / "work") == []
    # The artifact itself was not touched: no system.ini, no system.cfg written into it.
    assert read_boot_file(disk, "system.cfg") is None
    assert read_boot_file(disk, "system.ini") is None


def test_cancelling_stops_qemu_within_seconds(tmp_path: Path) -> None:
    uefi_host()
    disk = small_disk(tmp_path, {"system.img": b"not an operating system"})
    calls: list[int] = []

    def should_continue() -> bool:
        calls.append(1)
        if len(calls) == 3:
            assert boot_test_processes(tmp_path / "work"), "QEMU should be running by now"
        return len(calls) < 4

    started = time.monotonic()
    with pytest.raises(BootTestCancelled):
        run_boot_test(disk, BootTestSettings("q35", timeout_seconds=300),
                      workdir=tmp_path / "work", console_log=tmp_path / "console.log",
                      should_continue=should_continue)  # fmt: skip
    # Asked about once a second (it may query a database), not on every console chunk.
    assert 2 <= time.monotonic() - started < 30
    assert boot_test_processes(tmp_path / "work") == []
    assert list((tmp_path / "work").iterdir()) == []


def test_boot_phases_split_the_time_to_login_at_the_consoles_marks() -> None:
    from image_builder.boottest import Watch, boot_phases

    watch = Watch(login_at=75.0, init_at=25.0, init_kernel_seconds=3.777847, userspace_at=35.2)

    phases = boot_phases(watch)

    assert phases == {
        "firmware and boot loader": 21.2,
        "kernel": 3.8,
        "initramfs": 10.2,
        "system until login": 39.8,
    }
    assert sum(phases.values()) == pytest.approx(75.0, abs=0.2)
    assert boot_phases(Watch(login_at=75.0, init_at=25.0, init_kernel_seconds=3.7)) == {}


def test_the_watch_finds_the_marks_on_a_real_console_line() -> None:
    from image_builder.boottest import INIT_RE, WELCOME

    line = "[    3.777847] Run /init as init process\r\n"
    assert float(INIT_RE.search(line).group(1)) == pytest.approx(3.777847)
    assert WELCOME in "\x1b[0mWelcome to \x1b[1mDebian GNU/Linux 12 (bookworm)\x1b[0m!"


def test_systemd_analyze_blame_is_read_as_the_slowest_units() -> None:
    from image_builder.boottest import blame_seconds, slowest_units

    assert blame_seconds("1min 2.345s") == pytest.approx(62.345)
    assert blame_seconds("812ms") == pytest.approx(0.812)
    assert blame_seconds("1h 2min 3s") == pytest.approx(3723)
    blame = (
        "         5.120s genpack-agent.service\n"
        "1min 2.500s dev-vda.device\n"
        "    812ms systemd-udevd.service\n"
        "   730us sys-kernel-config.mount\n"
        "Bootup is not yet finished (FinishTimestampMonotonic=0).\n"
        "not a row at all\n"
    )
    assert slowest_units(blame) == (
        ("dev-vda.device", 62.5),
        ("genpack-agent.service", 5.12),
        ("systemd-udevd.service", 0.81),
        ("sys-kernel-config.mount", 0.0),
    )
    many = "".join(f"{n}.0s unit-{n}.service\n" for n in range(40))
    assert [unit for unit, _ in slowest_units(many, count=3)] == [
        "unit-39.service", "unit-38.service", "unit-37.service",
    ]  # fmt: skip
    assert slowest_units(None) == () and slowest_units("") == ()
