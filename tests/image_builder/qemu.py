"""Boot a raw disk image under QEMU (TCG) and talk to it over the serial console.

Three machines: QemuVM (x86_64 q35 with OVMF), Arm64UefiVM (aarch64 `virt` with AAVMF) and
Raspi3VM (the `raspi3b` board with the image as its SD card; QEMU does not run the Pi's GPU
firmware, so the kernel, device tree, initramfs and cmdline.txt are taken from the image's own
FAT partition and given to QEMU, as the firmware would).

User-mode networking with restrict=on: the guest gets QEMU's built-in DHCP (10.0.2.15/24,
gateway 10.0.2.2) but cannot send a single packet to any other host. raspi3b has no network
device QEMU can attach (its Ethernet sits on USB), so a Pi boots without any interface.

expect() gives up at once on a kernel panic or an initramfs rescue shell: a boot that cannot
succeed fails in seconds instead of at its timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
ANSI_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1bc")
# Consoles of a boot that will never reach its goal.
DEAD_END_RE = re.compile(
    rb"Kernel panic - not syncing|\(initramfs\) |genpack: .*not found|Press Enter for maintenance"
)


def clean(raw: bytes) -> str:
    """Console bytes as text without terminal escapes and carriage returns."""
    return ANSI_RE.sub(b"", raw).replace(b"\r", b"").decode("utf-8", errors="replace")


class QemuTimeout(AssertionError):
    pass


class QemuVM:
    def __init__(self, image: Path, *, memory_mib: int = 1024, log_path: Path | None = None):
        self.image = Path(image)
        self.memory_mib = memory_mib
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.position = 0  # expect() searches from here
        self._lock = threading.Condition()
        self._vars_dir = tempfile.TemporaryDirectory(prefix="genpack-ovmf-")
        self._marker = 0
        self.started_at = 0.0

    def firmware_vars(self, template: Path) -> Path:
        variables = Path(self._vars_dir.name) / template.name
        shutil.copyfile(template, variables)  # firmware writes its boot entries there
        return variables

    def argv(self) -> list[str]:
        variables = self.firmware_vars(OVMF_VARS)
        return [
            "qemu-system-x86_64",
            "-machine", "q35",
            "-accel", "tcg,thread=multi",
            "-smp", "2",
            "-m", str(self.memory_mib),
            "-nographic",
            "-monitor", "none",
            "-serial", "stdio",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={variables}",
            "-drive", f"file={self.image},format=raw,if=virtio",
            "-netdev", "user,id=net0,restrict=on",
            "-device", "virtio-net-pci,netdev=net0",
            "-no-reboot",
        ]  # fmt: skip

    def start(self) -> QemuVM:
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
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
        with self._lock:
            self._lock.notify_all()

    @property
    def text(self) -> str:
        return clean(self.buffer)

    def expect(self, pattern: str, timeout: float) -> str:
        """Wait for `pattern` (regex) after the last match; returns the text up to its end."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                match = regex.search(self.buffer, self.position)
                if match:
                    text = clean(self.buffer[self.position : match.end()])
                    self.position = match.end()
                    return text
                remaining = deadline - time.monotonic()
                exited = self.process is not None and self.process.poll() is not None
                dead_end = DEAD_END_RE.search(self.buffer, self.position)
                if remaining <= 0 or exited or dead_end:
                    tail = clean(self.buffer[-3000:])
                    why = "QEMU exited" if exited else f"no {pattern!r} after {timeout:.0f} s"
                    if dead_end:
                        why = f"boot failed ({dead_end.group().decode(errors='replace')!r})"
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
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def close(self) -> None:
        self.kill()
        self._vars_dir.cleanup()

    def __enter__(self) -> QemuVM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Arm64UefiVM(QemuVM):
    """The generic ARM64 profile: aarch64 `virt` with AAVMF (UEFI), the image on virtio."""

    def argv(self) -> list[str]:
        return [
            "qemu-system-aarch64",
            "-machine", "virt",
            "-cpu", "cortex-a72",
            "-accel", "tcg,thread=multi",
            "-smp", "2",
            "-m", str(self.memory_mib),
            "-nographic",
            "-monitor", "none",
            "-serial", "stdio",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={AAVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.firmware_vars(AAVMF_VARS)}",
            "-drive", f"file={self.image},format=raw,if=virtio",
            "-netdev", "user,id=net0,restrict=on",
            "-device", "virtio-net-pci,netdev=net0",
            "-no-reboot",
        ]  # fmt: skip


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
    kernel, DTB, initramfs and command line come from the image's own FAT partition."""

    DTB = "bcm2837-rpi-3-b.dtb"

    def __init__(self, image: Path, **kwargs: object) -> None:
        super().__init__(image, memory_mib=1024, **kwargs)  # raspi3b has exactly 1 GiB
        self._boot_dir = tempfile.TemporaryDirectory(prefix="genpack-raspi-")

    def boot_file(self, name: str) -> Path:
        from image_builder.image_tools import read_boot_file

        data = read_boot_file(self.image, name)
        assert data is not None, f"{name} is not on the image's FAT partition"
        path = Path(self._boot_dir.name) / name
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
        return names

    def argv(self) -> list[str]:
        names = self.firmware_config()
        cmdline = self.boot_file("cmdline.txt").read_text().splitlines()[0].strip()
        return [
            "qemu-system-aarch64",
            "-machine", "raspi3b",
            "-m", "1024",
            "-kernel", str(self.boot_file(names["kernel"])),
            "-initrd", str(self.boot_file(names["initramfs"])),
            "-dtb", str(self.boot_file(self.DTB)),
            "-append", cmdline,
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
            self.expect(r"reboot: Power down|System halted|Power down", timeout)
        finally:
            self.kill()

    def close(self) -> None:
        super().close()
        self._boot_dir.cleanup()
