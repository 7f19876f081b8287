"""The boot test: a finished disk image booted under QEMU (software emulation) the way a device
boots it, with a test system.ini, until the device has written its status file and powered off.

    run_boot_test(disk, settings, *, workdir, console_log, system_ini=None, secrets=(),
                  should_continue=lambda: True, log=lambda line: None) -> BootTestResult

The artifact is never changed: a sparse copy in `workdir` is booted (for raspi3b grown to a
power of two, as QEMU's SD card needs) and removed afterwards. The copy gets the test
system.ini and the kernel argument `genpack.boottest=1` (UEFI: a system.cfg on its FAT
partition, which the GRUB menu sources; raspi3b: appended to cmdline.txt's command line, as
QEMU is the Pi firmware here). In that mode the device's agent writes its status file, waits
for the serial console's login prompt, prints BOOT_TEST_MARKER on the console and powers off:
readiness needs no password in the image.

A failing image is a result (passed=False, the reason in words), never an exception: a kernel
panic, an initramfs rescue shell or systemd's emergency mode on the console ends the test at
once. Only the host's own failures raise BootTestHostError (the caller may retry those), and
should_continue() returning False raises BootTestCancelled. QEMU is killed on every way out.
The console log is written as it arrives, without terminal escapes, secrets masked.
"""

from __future__ import annotations

import errno
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from appliance.system_ini import BOOT_ANALYSIS_FILE_NAME

from .image_tools import (
    ImageError,
    delete_boot_file,
    read_boot_file,
    read_status,
    write_boot_file,
    write_system_ini,
)
from .qemu import (
    POWER_DOWN_PATTERN,
    ImageBootError,
    QemuError,
    QemuVM,
    Raspi3VM,
    clean,
    dead_end,
    machine_class,
)
from .secrets import mask_secrets

BOOT_TEST_ARGUMENT = "genpack.boottest=1"
# Printed by appliance/agent.py on the console in boot-test mode (its BOOT_TEST_MARKER).
BOOT_TEST_MARKER = "genpack-boottest: status written"
STATUS_FILE = "system-status.txt"
# appliance/agent.py's AGENT_FAILED_NOTE: system.ini was not applied at all.
AGENT_FAILED_NOTE = "the settings agent did not run or failed"
LOGIN_RE = re.compile(r"\S login: ")
POWER_DOWN_RE = re.compile(POWER_DOWN_PATTERN)
POLL_SECONDS = 1.0  # should_continue() is asked about this often, the deadline at least so
POWER_OFF_GRACE_SECONDS = 15  # after the kernel's "Power down", for QEMU to exit by itself
CONTEXT_LINES = 200  # console lines kept to explain a dead end
DEAD_END_LINGER_SECONDS = 3.0  # for the rest of a dead end's line (a panic's reason)


@dataclass(frozen=True)
class BootTestSettings:
    machine: str  # "q35" | "virt" | "raspi3b"  ("" = not emulated: caller skips)
    firmware: str = ""  # UEFI code file (OVMF/AAVMF); "" → the default for the machine
    dtb: str = ""  # raspi3b: the DTB file name on the FAT partition
    memory_mib: int = 1024
    timeout_seconds: float = 600


@dataclass(frozen=True)
class BootTestResult:
    passed: bool
    reason: str  # "" when passed; else in words
    login_seconds: float | None  # QEMU start → serial console "login:" prompt
    applied: dict[str, str]  # from the status file read back from the FAT partition
    rejected: dict[str, str]
    console_log: Path  # the serial console log written (secrets masked)
    # Where the time to login went (boot_phases), in seconds; empty if the console lacked it.
    phases: dict[str, float] = field(default_factory=dict)
    # The units that took longest to start (systemd-analyze blame, read back from the FAT).
    slowest_units: tuple[tuple[str, float], ...] = ()


class BootTestHostError(Exception):
    """The host failed (QEMU or firmware missing, QEMU crashed, no disk space): retry."""


class BootTestCancelled(Exception):
    """should_continue() returned False."""


def uefi_boot_config(existing: bytes | None) -> bytes:
    """system.cfg for the boot test: the image's own system.cfg (if any) first, then the
    boot-test argument added to whatever kernel arguments it set, and no menu wait."""
    lines = []
    if existing:
        lines.append(existing.decode("utf-8", errors="replace").rstrip("\n"))
    lines += [
        "# genpack boot test (added to a copy of the image)",
        f'set kernel_args="$kernel_args {BOOT_TEST_ARGUMENT}"',
        "set timeout=0",
        "set default=0",
    ]
    return ("\n".join(lines) + "\n").encode()


def make_vm(disk: Path, settings: BootTestSettings) -> QemuVM:
    """The machine the settings name, booting `disk` in boot-test mode (ValueError for an
    unknown machine; "" means the profile is not emulated and there is nothing to run)."""
    if not settings.machine:
        raise ValueError("the profile is not emulated: there is no boot test to run")
    cls = machine_class(settings.machine)
    if issubclass(cls, Raspi3VM):
        return cls(disk, dtb=settings.dtb, kernel_args=BOOT_TEST_ARGUMENT)
    return cls(disk, memory_mib=settings.memory_mib, firmware=settings.firmware or None)


class ConsoleLog:
    """The serial console as text, line by line: scanned in memory, written masked."""

    def __init__(self, path: Path, secrets: Sequence[str]) -> None:
        self.path = path
        self.secrets = [secret for secret in secrets if secret]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[str] = path.open("w", encoding="utf-8")
        self.consumed = 0  # bytes of the console turned into complete lines
        self.lines: list[str] = []  # the last CONTEXT_LINES complete lines
        self.partial = ""  # the line being printed (a prompt has no newline after it)
        self.before: list[str] = []  # the complete lines before the last feed()'s new text

    def feed(self, buffer: bytes) -> str:
        """Take the console's new bytes; returns the new text to scan (new complete lines and
        the current partial line)."""
        end = buffer.rfind(b"\n") + 1
        new_lines: list[str] = []
        if end > self.consumed:
            new_lines = clean(buffer[self.consumed : end]).split("\n")[:-1]
            self.consumed = end
            for line in new_lines:
                self.handle.write(self.mask(line) + "\n")
            self.handle.flush()
        self.partial = clean(buffer[self.consumed :])
        self.before = self.lines
        self.lines = [*self.lines, *new_lines][-CONTEXT_LINES:]
        return "\n".join([*new_lines, self.partial])

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secrets)

    def note(self, line: str) -> None:
        """A line of the boot test's own, marked as such, in the log."""
        self.handle.write(self.mask(f"[boot test] {line}") + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.partial:
            self.handle.write(self.mask(self.partial) + "\n")
            self.partial = ""
        self.handle.close()

    def tail(self, count: int = 15) -> str:
        return "\n".join(self.mask(line) for line in [*self.lines, self.partial][-count:])


@dataclass
class Watch:
    """What the console showed so far."""

    login_at: float | None = None
    marker_at: float | None = None
    init_at: float | None = None  # "Run /init as init process": the initramfs starts
    init_kernel_seconds: float | None = None  # ...at this kernel time (its printk stamp)
    userspace_at: float | None = None  # systemd's "Welcome to" from the real root
    powered_down_at: float | None = None
    failure: str = ""
    notes: list[str] = field(default_factory=list)


# The kernel starts the initramfs (its printk time stamp says when, in kernel time), then
# systemd greets from the real root; both are on every console these images have.
INIT_RE = re.compile(r"\[\s*(\d+\.\d+)\] Run /init as init process")
WELCOME = "Welcome to "
PHASES = ("firmware and boot loader", "kernel", "initramfs", "system until login")


def boot_phases(watch: Watch) -> dict[str, float]:
    """Seconds per phase from QEMU start to the login prompt: the firmware and boot loader
    (until the kernel's clock starts), the kernel (its own stamp of starting /init), the
    initramfs (to systemd's greeting), the system (to `login:`). Empty when a mark is missing."""
    marks = [watch.init_at, watch.init_kernel_seconds, watch.userspace_at, watch.login_at]
    if None in marks:
        return {}
    init_at, kernel, userspace_at, login_at = (float(mark or 0) for mark in marks)
    durations = (
        max(0.0, init_at - kernel),
        kernel,
        userspace_at - init_at,
        login_at - userspace_at,
    )
    return {name: round(seconds, 1) for name, seconds in zip(PHASES, durations, strict=True)}


BLAME_ROW = re.compile(r"^\s*((?:\d+h )?(?:\d+min )?[\d.]+(?:ms|us|µs|s)?)\s+(\S+)\s*$")
BLAME_UNITS = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6}
SLOWEST_UNITS = 12


def blame_seconds(text: str) -> float:
    """systemd's time span ("1min 2.345s", "812ms") in seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(h|min|ms|us|µs|s)", text):
        total += float(number) * BLAME_UNITS[unit]
    return total


def slowest_units(text: str | None, count: int = SLOWEST_UNITS) -> tuple[tuple[str, float], ...]:
    """The first `count` rows of `systemd-analyze blame` (slowest first) as (unit, seconds)."""
    rows = []
    for line in (text or "").splitlines():
        match = BLAME_ROW.match(line)
        if match and (seconds := blame_seconds(match.group(1))) >= 0:
            rows.append((match.group(2)[:100], round(seconds, 2)))
    return tuple(sorted(rows, key=lambda row: -row[1])[:count])


def read_boot_analysis(copy: Path) -> tuple[tuple[str, float], ...]:
    try:
        data = read_boot_file(copy, BOOT_ANALYSIS_FILE_NAME)
    except ImageError:
        return ()
    return slowest_units(data.decode("utf-8", "replace") if data else None)


def run_boot_test(
    disk: Path,
    settings: BootTestSettings,
    *,
    workdir: Path,
    console_log: Path,
    system_ini: str | None = None,
    secrets: Sequence[str] = (),
    should_continue: Callable[[], bool] = lambda: True,
    log: Callable[[str], None] = lambda line: None,
) -> BootTestResult:
    """Boot a copy of `disk` under QEMU; see the module docstring."""
    deadline = time.monotonic() + settings.timeout_seconds
    disk = Path(disk)
    if not disk.is_file():
        raise FileNotFoundError(f"{disk}: no such disk image")
    try:
        console = ConsoleLog(Path(console_log), secrets)
    except OSError as error:
        raise BootTestHostError(f"cannot write the console log {console_log}: {error}") from error
    copy = Path(workdir) / f"boot-test-{disk.stem}.img"
    vm: QemuVM | None = None

    def result(
        reason: str,
        watch: Watch | None = None,
        status: dict | None = None,
        units: tuple[tuple[str, float], ...] = (),
    ) -> BootTestResult:
        if reason:
            console.note(f"FAILED: {reason}")
            log(f"boot test failed: {reason}")
        applied, rejected = status_keys(status or {})
        login = watch.login_at if watch is not None else None
        return BootTestResult(
            passed=not reason,
            reason=reason,
            login_seconds=None if login is None else round(login, 1),
            applied=applied,
            rejected=rejected,
            console_log=Path(console_log),
            phases=boot_phases(watch) if watch is not None else {},
            slowest_units=units,
        )

    try:
        try:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            vm = make_vm(copy, settings)
            vm.check_host()
            log(f"copying {disk.name} for the boot test")
            _copy_disk(disk, copy, power_of_two=isinstance(vm, Raspi3VM))
            _personalise(copy, vm, system_ini)
        except QemuError as error:
            raise BootTestHostError(str(error)) from error
        except ImageError as error:
            return result(f"the image's boot partition cannot be prepared: {error}")
        if not should_continue():
            raise BootTestCancelled("the boot test was cancelled")
        try:
            vm.start()
        except ImageBootError as error:
            return result(str(error))
        except QemuError as error:
            raise BootTestHostError(str(error)) from error
        log(f"booting under {vm.BINARY} -machine {vm.MACHINE} (software emulation)")
        console.note(f"{vm.BINARY} -machine {vm.MACHINE}, timeout {settings.timeout_seconds:g} s")
        watch = _watch(vm, console, deadline, settings.timeout_seconds, should_continue, log)
        vm.kill()  # raspi3b never stops by itself; the others have already
        if watch.failure:
            return result(watch.failure, watch)
        try:
            status = read_status(copy)
        except ImageError as error:  # the device left its boot partition unreadable
            return result(f"the status file could not be read back: {error}", watch)
        if status is None:
            return result("the status file was not written", watch)
        units = read_boot_analysis(copy)
        problem = status_problem(status)
        if problem:
            return result(problem, watch, status, units)
        applied, rejected = status_keys(status)
        log(f"status read back: applied {sorted(applied)}, rejected {sorted(rejected)}")
        return result("", watch, status, units)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise BootTestHostError(f"no space left for the boot test in {workdir}") from error
        raise BootTestHostError(f"the boot test could not run on this host: {error}") from error
    finally:
        if vm is not None:
            vm.close()
        console.close()
        copy.unlink(missing_ok=True)


def _text_dict(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def status_problem(status: dict) -> str:
    """Why a status file the device wrote still fails the boot test, or ""."""
    notes = status.get("notes")
    for note in notes if isinstance(notes, list) else []:
        if str(note).startswith(AGENT_FAILED_NOTE):
            return f"system.ini was not applied: the status file says {note!r}"
    return ""


def status_keys(status: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(applied, rejected) from a parsed status file; a key the device did not know is
    rejected too ("unknown key"): a typo in system.ini is what a technician must see."""
    applied = _text_dict(status.get("applied"))
    rejected = _text_dict(status.get("rejected"))
    unknown = status.get("unknown")
    for key in unknown if isinstance(unknown, list) else []:
        rejected.setdefault(str(key), "unknown key")
    return applied, rejected


def _copy_disk(disk: Path, copy: Path, *, power_of_two: bool) -> None:
    result = subprocess.run(
        ["cp", "--sparse=always", str(disk), str(copy)], capture_output=True, text=True
    )
    if result.returncode != 0:
        message = result.stderr.strip()
        code = errno.ENOSPC if "No space left" in message else errno.EIO
        raise OSError(code, f"copying {disk.name} failed: {message}")
    if power_of_two:  # QEMU's SD card model needs a power-of-two size
        size = copy.stat().st_size
        with copy.open("r+b") as handle:
            handle.truncate(1 << (size - 1).bit_length())


def _personalise(copy: Path, vm: QemuVM, system_ini: str | None) -> None:
    if system_ini is not None:
        write_system_ini(copy, system_ini)
    delete_boot_file(copy, STATUS_FILE)  # a stale one must not pass for this boot's
    if not isinstance(vm, Raspi3VM):  # raspi3b: the argument is on QEMU's -append
        existing = read_boot_file(copy, "system.cfg")
        write_boot_file(copy, "system.cfg", uefi_boot_config(existing))


def _watch(
    vm: QemuVM,
    console: ConsoleLog,
    deadline: float,
    timeout: float,
    should_continue: Callable[[], bool],
    log: Callable[[str], None],
) -> Watch:
    """Follow the console until the machine powered off, failed, or the deadline passed."""
    watch = Watch()
    seen = 0
    asked = 0.0
    printing_dead_end_since = 0.0
    while True:
        now = time.monotonic()
        if now - asked >= POLL_SECONDS:  # once a second: it may ask a database
            asked = now
            if not should_continue():
                raise BootTestCancelled("the boot test was cancelled")
        seen = vm.wait_for_output(seen, min(POLL_SECONDS, max(0.0, deadline - now)))
        text = console.feed(vm.buffer[:seen])
        now = time.monotonic()
        if watch.login_at is None and LOGIN_RE.search(text):
            watch.login_at = now - vm.started_at
            log(f"login prompt after {watch.login_at:.0f} s")
        if watch.init_at is None and (found := INIT_RE.search(text)):
            watch.init_at = now - vm.started_at
            watch.init_kernel_seconds = float(found.group(1))
        if watch.userspace_at is None and watch.init_at is not None and WELCOME in text:
            watch.userspace_at = now - vm.started_at
        if watch.marker_at is None and BOOT_TEST_MARKER in text:
            watch.marker_at = now - vm.started_at
            log(f"the device wrote its status file after {watch.marker_at:.0f} s")
        # A dead end on a complete line ends the test at once; one still being printed (a
        # panic's reason follows its first words) gets DEAD_END_LINGER_SECONDS to finish, so
        # the reason and the log say what the console said.
        complete, _, partial = text.rpartition("\n")
        why = dead_end(complete, console.before) if complete else None
        if why:
            watch.failure = why
            return watch
        if dead_end(partial, console.lines):
            printing_dead_end_since = printing_dead_end_since or now
            if now - printing_dead_end_since >= DEAD_END_LINGER_SECONDS or vm.exited:
                watch.failure = dead_end(partial, console.lines)
                return watch
        if watch.powered_down_at is None and POWER_DOWN_RE.search(text):
            watch.powered_down_at = now
        exited = vm.exited
        done = exited or (
            watch.powered_down_at is not None
            and (not vm.CAN_POWER_OFF or now - watch.powered_down_at > POWER_OFF_GRACE_SECONDS)
        )
        if done:
            # Whatever QEMU printed last is in the buffer once it exited.
            console.feed(vm.buffer)
            code = vm.returncode if exited else 0
            if code not in (0, None) and watch.powered_down_at is None:
                stderr = vm.stderr.decode(errors="replace").strip()[-2000:]
                raise BootTestHostError(f"QEMU exited with status {code}: {stderr or 'no message'}")
            watch.failure = _ended_reason(watch, console)
            if not watch.failure:
                log("powered off")
            return watch
        if now >= deadline:
            watch.failure = _timeout_reason(watch, timeout)
            return watch


def _ended_reason(watch: Watch, console: ConsoleLog) -> str:
    if watch.marker_at is None:
        return (
            "the machine stopped (powered off or reset) before the status file was written; "
            f"last console lines: {console.tail(3)!r}"
        )
    if watch.login_at is None:
        return "no login prompt on the serial console before the machine powered off"
    return ""


def _timeout_reason(watch: Watch, timeout: float) -> str:
    if watch.login_at is None:
        return f"no login prompt after {timeout:.0f} s"
    if watch.marker_at is None:
        return (
            f"the status file was not written within {timeout:.0f} s "
            f"(no {BOOT_TEST_MARKER!r} on the console)"
        )
    return f"the machine did not power off within {timeout:.0f} s"


__all__ = [
    "BOOT_TEST_ARGUMENT",
    "BOOT_TEST_MARKER",
    "BootTestCancelled",
    "BootTestHostError",
    "BootTestResult",
    "BootTestSettings",
    "run_boot_test",
    "uefi_boot_config",
]
