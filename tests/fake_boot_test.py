"""A stand-in for image_builder.boottest that boots nothing, with the same API.

Workers in the tests load it through GENPACK_BOOT_TEST_MODULE=tests.fake_boot_test (see
tests/harness.py fake_boot_test_env), as tests/fake_engine.py stands in for the engine. It
reads the test system.ini the way a device does (appliance.system_ini), writes a console log,
and returns a BootTestResult; environment variables choose what happens:

- FAKE_BOOT_TEST_SECONDS: how long "QEMU" runs, asking should_continue every 0.1 s (to cancel
  it, or to kill its worker);
- FAKE_BOOT_TEST_FAIL=panic: the image does not boot (a kernel panic on the console);
- FAKE_BOOT_TEST_HOST_ERROR=<words>: the host cannot run it (BootTestHostError), for the first
  FAKE_BOOT_TEST_HOST_ERRORS attempts (all of them when unset);
- FAKE_BOOT_TEST_MARKS: a directory where every run leaves a file saying how it ended.

It is a careless device on purpose: its console echoes the secret values of system.ini and its
applied keys carry them unmasked, so what the site shows is the site's own masking.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appliance.system_ini import is_secret_key, parse_ini, validate_system_ini


class BootTestHostError(Exception):
    """The host could not run the test (QEMU missing or crashing, no disk space)."""


class BootTestCancelled(Exception):
    """should_continue() returned False."""


@dataclass(frozen=True)
class BootTestSettings:
    machine: str
    firmware: str = ""
    dtb: str = ""
    memory_mib: int = 1024
    timeout_seconds: float = 600


@dataclass(frozen=True)
class BootTestResult:
    passed: bool
    reason: str
    login_seconds: float | None
    applied: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    console_log: Path = Path()
    phases: dict[str, float] = field(default_factory=dict)
    slowest_units: tuple[tuple[str, float], ...] = ()


# A TCG boot of a PC image, as image_builder.boottest.boot_phases measures one.
PHASES = {
    "firmware and boot loader": 21.4,
    "kernel": 3.8,
    "initramfs": 9.9,
    "system until login": 40.2,
}
# systemd-analyze blame of the same boot, as image_builder.boottest.slowest_units reads it.
UNITS = (
    ("genpack-agent.service", 9.87),
    ("systemd-udev-trigger.service", 4.2),
    ("<b>x.service", 0.5),
)
PANIC = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00"


def _marks() -> Path | None:
    marks = os.environ.get("FAKE_BOOT_TEST_MARKS")
    return Path(marks) if marks else None


def runs_so_far() -> int:
    """How many runs left a mark (across processes and retries)."""
    marks = _marks()
    return len(list(marks.iterdir())) if marks and marks.exists() else 0


def _mark(outcome: str) -> None:
    """Leave a file saying how this run ended in FAKE_BOOT_TEST_MARKS."""
    if marks := _marks():
        marks.mkdir(parents=True, exist_ok=True)
        (marks / f"{time.monotonic_ns()}-{os.getpid()}").write_text(outcome)


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
    host_error = os.environ.get("FAKE_BOOT_TEST_HOST_ERROR", "")
    if host_error and runs_so_far() < int(os.environ.get("FAKE_BOOT_TEST_HOST_ERRORS", "1000")):
        _mark("host-error")
        raise BootTestHostError(host_error)
    if not disk.is_file():
        raise BootTestHostError(f"{disk} is not there")
    workdir.mkdir(parents=True, exist_ok=True)
    console_log.parent.mkdir(parents=True, exist_ok=True)
    log(f"fake QEMU {settings.machine}, {settings.memory_mib} MiB, firmware {settings.firmware}")
    # A device with Ethernet and Wi-Fi, keeping every app section as text.
    parsed = validate_system_ini(
        parse_ini(system_ini or ""),
        capabilities=frozenset({"ethernet", "wifi"}),
        app_settings=None,
    )
    with console_log.open("w", encoding="utf-8") as console:
        console.write(f"[    0.000000] Linux version 6.1.0-fake ({settings.machine})\n")
        console.write(f"[    0.000001] booting {disk.name}\n")
        settings_given = dict(parsed.values)
        for section, keys in parsed.app_sections.items():
            settings_given.update({f"{section}.{key}": value for key, value in keys.items()})
        for key, value in settings_given.items():
            if is_secret_key(key.rpartition(".")[2]):
                console.write(f"careless-agent: {key} is {value}\n")  # a leaky device
        console.flush()
        started = time.monotonic()
        seconds = float(os.environ.get("FAKE_BOOT_TEST_SECONDS", "0"))
        while time.monotonic() - started < seconds:
            if not should_continue():
                console.write("qemu: terminating on signal 15\n")
                _mark(f"cancelled after {time.monotonic() - started:.1f} s")
                raise BootTestCancelled
            time.sleep(0.1)
        if os.environ.get("FAKE_BOOT_TEST_FAIL") == "panic":
            console.write(f"[    2.345678] {PANIC}\n")
            _mark("failed")
            return BootTestResult(
                passed=False,
                reason=f"the kernel panicked: {PANIC}",
                login_seconds=None,
                console_log=console_log,
            )
        hostname = parsed.values.get("hostname", "debian")
        console.write(f"\nDebian GNU/Linux 12 {hostname} ttyS0\n\n{hostname} login: \n")
    applied = {key: str(value) for key, value in settings_given.items()}
    _mark("passed")
    return BootTestResult(
        passed=True,
        reason="",
        login_seconds=float(os.environ.get("FAKE_BOOT_TEST_LOGIN_SECONDS", "12.5")),
        applied=applied,
        rejected=dict(parsed.rejected),
        console_log=console_log,
        phases=dict(PHASES),
        slowest_units=UNITS,
    )
