"""Boot a raw disk image under QEMU (TCG) and watch its serial console.

Three machines, chosen by name (MACHINES, the profile's boot-test machine): "q35" (x86_64 with
OVMF), "virt" (aarch64 with AAVMF) and "raspi3b" (the Raspberry Pi 3 board with the image as
its SD card; QEMU does not run the Pi's GPU firmware, so the kernel, device tree, initramfs and
cmdline.txt are taken from the image's own FAT partition and given to QEMU, as the firmware
would). The UEFI firmware file, the device tree and the memory size are settings.

User-mode networking with restrict=on: the guest gets QEMU's built-in DHCP (10.0.2.15/24,
gateway 10.0.2.2) but cannot send a single packet to any other host. raspi3b has no network
device QEMU can attach (its Ethernet sits on USB), so a Pi boots without any interface.

dead_end() names the consoles of a boot that can never reach its goal (a kernel panic, an
initramfs rescue shell, systemd's emergency mode...): expect() and the boot test give up at
once instead of at their timeout. QEMU runs in its own process group and is killed on close().

Standard library only; knows nothing of builds or the web.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .image_tools import read_boot_file

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
RASPI3B_DTB = "bcm2837-rpi-3-b.dtb"
RASPI3B_MEMORY_MIB = 1024  # the board has exactly 1 GiB; QEMU refuses any other size

# Terminal escapes (CSI, OSC, charset selection, reset) and the other C0 controls but tab and
# newline: what a serial console log must not carry.
ANSI_RE = re.compile(
    rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]"
    rb"|\x1b[@-Z\\^_=>c78]"
)
CONTROL_RE = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")

# (pattern, what it means): single-line patterns over the cleaned console text.
DEAD_ENDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), meaning)
    for pattern, meaning in (
        (r"Kernel panic - not syncing: ?(?P<detail>.*)", "kernel panic"),
        (r"(?P<detail>Failed to execute /\S*init\b.*)", "init failed"),
        (r"(?P<detail>switch_root: can't execute .*)", "init failed"),
        (r"(?P<detail>run-init: .*)", "init failed"),
        (r"(?P<detail>No init found\..*)", "init failed"),
        (r"(?P<detail>genpack-boottest: status not written.*)", "the status agent failed"),
        (r"You are in emergency mode", "systemd emergency mode"),
        (r"(?:Press Enter|Give root password) for maintenance", "systemd emergency mode"),
        # sulogin's words in emergency mode when root has no password (most appliances)
        (r"Cannot open access to console, the root account is locked", "systemd emergency mode"),
        (r"Freezing execution\.", "systemd crashed"),
        (r"\(initramfs\) ", "initramfs rescue shell"),
    )
)
# Lines worth naming as the cause of an emergency mode or a rescue shell.
CAUSE_RE = re.compile(r"^(?:\[FAILED\]|\[DEPEND\]|genpack: |Failed |ERROR|mount: |.*\bnot found)")


def clean(raw: bytes) -> str:
    """Console bytes as text without terminal escapes, carriage returns and other controls."""
    return CONTROL_RE.sub(b"", ANSI_RE.sub(b"", raw)).decode("utf-8", errors="replace")


def dead_end(text: str, before: Sequence[str] = ()) -> str | None:
    """Why the console `text` (one or more lines) shows a boot that can no longer succeed, in
    words (e.g. "kernel panic: Attempted to kill init! exitcode=0x00000100"), or None.
    `before`: the lines printed before `text`, searched for the cause of an emergency shell."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        for pattern, meaning in DEAD_ENDS:
            match = pattern.search(line)
            if not match:
                continue
            detail = match.groupdict().get("detail")
            if detail is not None:
                return f"{meaning}: {detail.strip()}" if detail.strip() else meaning
            cause = _cause([*before, *lines[:index]])
            return f"{meaning} (after: {cause})" if cause else meaning
    return None


def _cause(lines: Sequence[str]) -> str:
    for line in reversed(lines[-60:]):
        text = re.sub(r"^\[\s*\d+\.\d+\]\s*", "", line.strip())  # kernel timestamps
        if CAUSE_RE.match(text):
            return text
    return ""


class QemuError(Exception):
    """The host cannot run the machine: QEMU or its firmware is missing, or QEMU failed."""


class ImageBootError(Exception):
    """The image lacks what the machine boots from (e.g. a kernel file on its FAT partition)."""


class QemuTimeout(Exception):
    """expect() gave up: timeout, QEMU exited, or the console reached a dead end."""


def firmware_vars_template(code: Path) -> Path:
    """The variable store shipped beside a UEFI code file (OVMF_CODE_4M.fd → OVMF_VARS_4M.fd)."""
    return code.with_name(code.name.replace("CODE", "VARS"))


class QemuVM:
    """x86_64 `q35` with OVMF (UEFI), the image on virtio."""

    MACHINE = "q35"
    BINARY = "qemu-system-x86_64"
    DEFAULT_FIRMWARE: Path | None = OVMF_CODE

    def __init__(
        self,
        image: Path,
        *,
        memory_mib: int = 1024,
        firmware: Path | str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.image = Path(image)
        self.memory_mib = memory_mib
        self.firmware = Path(firmware) if firmware else self.DEFAULT_FIRMWARE
        self.log_path = log_path  # the raw console bytes, for tests; the boot test masks its own
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.stderr = b""
        self.position = 0  # expect() searches from here
        self._lock = threading.Condition()
        self._work = tempfile.TemporaryDirectory(prefix="genpack-qemu-")
        self._marker = 0
        self.started_at = 0.0

    # -- the command line --------------------------------------------------------------------

    def required_files(self) -> list[Path]:
        if self.firmware is None:
            return []
        return [self.firmware, firmware_vars_template(self.firmware)]

    def check_host(self) -> None:
        """QemuError naming what the host lacks to run this machine."""
        if shutil.which(self.BINARY) is None:
            raise QemuError(f"{self.BINARY} is not installed (or not on PATH)")
        for path in self.required_files():
            if not path.is_file():
                raise QemuError(f"the firmware file {path} is missing on this host")

    def firmware_vars(self) -> Path:
        assert self.firmware is not None
        template = firmware_vars_template(self.firmware)
        variables = Path(self._work.name) / template.name
        shutil.copyfile(template, variables)  # firmware writes its boot entries there
        return variables

    def uefi_args(self) -> list[str]:
        return [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.firmware}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.firmware_vars()}",
        ]  # fmt: skip

    def machine_args(self) -> list[str]:
        return ["-machine", self.MACHINE]

    def argv(self) -> list[str]:
        return [
            self.BINARY,
            *self.machine_args(),
            "-accel", "tcg,thread=multi",
            "-smp", "2",
            "-m", str(self.memory_mib),
            "-nographic",
            "-monitor", "none",
            "-serial", "stdio",
            *self.uefi_args(),
            "-drive", f"file={self.image},format=raw,if=virtio",
            "-netdev", "user,id=net0,restrict=on",
            "-device", "virtio-net-pci,netdev=net0",
            "-no-reboot",
        ]  # fmt: skip

    # -- running -----------------------------------------------------------------------------

    def start(self) -> QemuVM:
        self.check_host()
        argv = self.argv()
        self.started_at = time.monotonic()
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: kill() stops all of it
            )
        except OSError as error:
            raise QemuError(f"cannot start {argv[0]}: {error}") from error
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        log = self.log_path.open("ab") if self.log_path else None
        while True:
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                break
            if log:
                log.write(chunk)
                log.flush()
            with self._lock:
                self.buffer += chunk
                self._lock.notify_all()
        if log:
            log.close()
        self.process.wait()
        with self._lock:
            self._lock.notify_all()

    def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := os.read(self.process.stderr.fileno(), 4096):
            self.stderr = (self.stderr + chunk)[-16384:]

    @property
    def text(self) -> str:
        return clean(self.buffer)

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait_for_output(self, since: int, timeout: float) -> int:
        """Block until the console has more than `since` bytes, QEMU exited or `timeout`
        passed; returns the console's length."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.buffer) <= since and not self.exited:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return len(self.buffer)

    def expect(self, pattern: str, timeout: float) -> str:
        """Wait for `pattern` (regex) after the last match; returns the text up to its end."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        scan_from = self.position  # dead ends: only lines not scanned yet (and the last one)
        with self._lock:
            while True:
                match = regex.search(self.buffer, self.position)
                if match:
                    text = clean(self.buffer[self.position : match.end()])
                    self.position = match.end()
                    return text
                remaining = deadline - time.monotonic()
                why = dead_end(clean(self.buffer[scan_from:]))
                scan_from = max(scan_from, self.buffer.rfind(b"\n") + 1)
                if remaining <= 0 or self.exited or why:
                    tail = clean(self.buffer[-3000:])
                    if not why:
                        why = (
                            "QEMU exited"
                            if self.exited
                            else f"no {pattern!r} after {timeout:.0f} s"
                        )
                    raise QemuTimeout(f"{why}; console tail:\n{tail}")
                self._lock.wait(min(remaining, 1.0))

    def send(self, text: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def wait_for_login_prompt(self, timeout: float = 300) -> float:
        """Seconds from QEMU start to the getty's `login:` prompt."""
        self.expect(r"login: ", timeout)
        return time.monotonic() - self.started_at

    def login(self, user: str = "root", password: str = "genpack", timeout: float = 120) -> None:
        self.send(user + "\n")
        self.expect(r"Password: ", timeout)
        self.send(password + "\n")
        self.expect(r"# ", timeout)
        # Quiet kernel messages on the console so they do not interleave with command output.
        # No prompt, no echo, no bracketed paste: run() then sees only the command's output.
        self.run(
            "PS1=; dmesg -n 1; stty -echo cols 500; bind 'set enable-bracketed-paste off'",
            timeout=timeout,
        )

    def run(self, command: str, timeout: float = 120) -> tuple[int, str]:
        """Run a shell command on the serial console; returns (exit status, output)."""
        self._marker += 1
        tag = f"GENPACK{self._marker}X"
        # The marker is built by the shell so that the echoed command line does not match.
        self.send(f'{command}; echo "@{tag[:4]}""{tag[4:]}:$?@"\n')
        text = self.expect(rf"@{tag}:(\d+)@", timeout)
        match = re.search(rf"@{tag}:(\d+)@", text)
        assert match is not None
        body = text[: match.start()]
        lines = [line for line in body.split("\n") if tag[4:] not in line]
        return int(match.group(1)), "\n".join(lines).strip()

    # -- stopping ----------------------------------------------------------------------------

    CAN_POWER_OFF = True  # the machine stops QEMU itself when the guest powers off

    def poweroff(self, timeout: float = 120) -> None:
        self.send("poweroff\n")
        self.wait_exit(timeout)

    def wait_exit(self, timeout: float) -> None:
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            self.kill()
            raise QemuTimeout(f"QEMU did not power off within {timeout} s") from error

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.kill()
        self._work.cleanup()

    def __enter__(self) -> QemuVM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Arm64UefiVM(QemuVM):
    """The generic ARM64 profile: aarch64 `virt` with AAVMF (UEFI), the image on virtio."""

    MACHINE = "virt"
    BINARY = "qemu-system-aarch64"
    DEFAULT_FIRMWARE = AAVMF_CODE

    def machine_args(self) -> list[str]:
        return ["-machine", self.MACHINE, "-cpu", "cortex-a72"]


def sd_card_copy(image: Path, target: Path) -> Path:
    """QEMU's SD card model needs a power-of-two size: a sparse copy, grown to the next one
    (the device then grows its data partition into the rest, as on a real, larger card)."""
    subprocess.run(["cp", "--sparse=always", str(image), str(target)], check=True)
    size = target.stat().st_size
    with target.open("r+b") as handle:
        handle.truncate(1 << (size - 1).bit_length())
    return target


class Raspi3VM(QemuVM):
    """QEMU's `raspi3b` with the image as its SD card, booted as the Pi firmware would: the
    kernel, initramfs and command line come from the image's own FAT partition (config.txt
    and cmdline.txt), the device tree `dtb` too. `kernel_args` are appended to cmdline.txt's."""

    MACHINE = "raspi3b"
    BINARY = "qemu-system-aarch64"
    DEFAULT_FIRMWARE = None  # QEMU loads the kernel itself
    CAN_POWER_OFF = False
    DTB = RASPI3B_DTB

    def __init__(
        self,
        image: Path,
        *,
        dtb: str = "",
        kernel_args: str = "",
        memory_mib: int = RASPI3B_MEMORY_MIB,
        firmware: Path | str | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(image, memory_mib=RASPI3B_MEMORY_MIB, firmware=None, log_path=log_path)
        self.dtb = dtb or self.DTB
        self.kernel_args = kernel_args

    def boot_file(self, name: str) -> Path:
        data = read_boot_file(self.image, name)
        if data is None:
            raise ImageBootError(f"{name} is not on the image's FAT partition")
        path = Path(self._work.name) / name
        path.write_bytes(data)
        return path

    def firmware_config(self) -> dict[str, str]:
        """kernel= and initramfs from config.txt, as the firmware reads them ([all] part)."""
        names: dict[str, str] = {}
        section = "all"
        for line in self.boot_file("config.txt").read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "all" and line.startswith("kernel="):
                names["kernel"] = line.partition("=")[2]
            elif section == "all" and line.startswith("initramfs "):
                names["initramfs"] = line.split()[1]
        missing = {"kernel", "initramfs"} - set(names)
        if missing:
            raise ImageBootError(f"config.txt names no {' and no '.join(sorted(missing))}")
        return names

    def command_line(self) -> str:
        lines = self.boot_file("cmdline.txt").read_text().splitlines()
        cmdline = lines[0].strip() if lines else ""
        return f"{cmdline} {self.kernel_args}".strip()

    def argv(self) -> list[str]:
        names = self.firmware_config()
        return [
            self.BINARY,
            "-machine", self.MACHINE,
            "-m", str(self.memory_mib),
            "-kernel", str(self.boot_file(names["kernel"])),
            "-initrd", str(self.boot_file(names["initramfs"])),
            "-dtb", str(self.boot_file(self.dtb)),
            "-append", self.command_line(),
            "-drive", f"file={self.image},format=raw,if=sd",
            "-nographic",
            "-monitor", "none",
            # The first serial port is the PL011 (Bluetooth on a Pi), the second the mini
            # UART (ttyS1): the console cmdline.txt names.
            "-serial", "null",
            "-serial", "stdio",
            "-no-reboot",
        ]  # fmt: skip

    def poweroff(self, timeout: float = 120) -> None:
        """raspi3b cannot power off: wait until the console says so, then stop QEMU."""
        self.send("sync; poweroff\n")
        try:
            self.expect(POWER_DOWN_PATTERN, timeout)
        finally:
            self.kill()


# What the kernel prints as the last thing before it powers off (or halts).
POWER_DOWN_PATTERN = r"reboot: Power down|System halted"
MACHINES: dict[str, type[QemuVM]] = {
    QemuVM.MACHINE: QemuVM,
    Arm64UefiVM.MACHINE: Arm64UefiVM,
    Raspi3VM.MACHINE: Raspi3VM,
}


def machine_class(name: str) -> type[QemuVM]:
    """The VM class for a boot-test machine name; ValueError for one this harness lacks."""
    try:
        return MACHINES[name]
    except KeyError:
        known = ", ".join(sorted(MACHINES))
        raise ValueError(f"no QEMU machine {name!r} in the boot test (known: {known})") from None


__all__ = [
    "MACHINES",
    "Arm64UefiVM",
    "ImageBootError",
    "QemuError",
    "QemuTimeout",
    "QemuVM",
    "Raspi3VM",
    "clean",
    "dead_end",
    "machine_class",
    "sd_card_copy",
]
