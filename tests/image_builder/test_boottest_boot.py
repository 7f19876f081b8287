"""The product's boot test (image_builder.boottest) on real images: the session's board builds
(conftest.BoardBuilds) booted with the settings their seeded profile carries. An image whose init
system is broken on purpose is boot-tested through the real worker (tests/builds/
test_real_engine.py), which builds it once."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from image_builder import BuildResult
from image_builder.boottest import BOOT_TEST_MARKER, PHASES, BootTestSettings, run_boot_test
from image_builder.image_tools import read_boot_file
from image_builder.secrets import CRYPT_HASH_RE

from .boards import PC, RPI, seeded_profile

pytestmark = pytest.mark.slow

WIFI_KEY = "boot-test wifi key 9f2c"
# A good key, a bad value and a typo: applied, rejected, rejected as unknown.
TEST_SYSTEM_INI = (
    "hostname = boottest\r\nip_address = 10.0.2.300/24\r\ncolour = blue\r\n"
    f"wifi_ssid = nowhere\r\nwifi_key = {WIFI_KEY}\r\n"
)


def profile_settings(slug: str) -> BootTestSettings:
    """The seeded profile's boot-test settings. GENPACK_TEST_BOOT_TIMEOUT=<seconds> allows a
    slower boot on a busy shared host (a Pi under TCG there took over 600 s); what is tested
    stays the same."""
    profile = seeded_profile(slug)
    settings = BootTestSettings(
        machine=profile.boot_test_machine,
        firmware=profile.boot_test_firmware,
        dtb=profile.boot_test_dtb,
        memory_mib=profile.boot_test_memory_mib,
        timeout_seconds=profile.boot_test_timeout_seconds,
    )
    if os.environ.get("GENPACK_TEST_BOOT_TIMEOUT"):
        timeout = float(os.environ["GENPACK_TEST_BOOT_TIMEOUT"])
        settings = dataclasses.replace(settings, timeout_seconds=timeout)
    return settings


def untouched(result: BuildResult) -> None:
    disk = result.artifact("disk-raw").path
    assert disk.stat().st_size == result.artifact("disk-raw").size
    for name in ("system.cfg", "system-status.txt"):
        assert read_boot_file(disk, name) is None, f"the boot test wrote {name} into the artifact"


@pytest.mark.parametrize("board", [PC, RPI], ids=["pc-q35", "rpi-raspi3b"])
def test_the_boot_test_passes_and_reads_what_system_ini_applied(
    board: str, board_builds, tmp_path: Path
) -> None:
    result = board_builds.get(board)
    settings = profile_settings(board)
    lines: list[str] = []
    started = time.monotonic()
    outcome = run_boot_test(
        result.artifact("disk-raw").path, settings, workdir=tmp_path / "work",
        console_log=tmp_path / "console.log", system_ini=TEST_SYSTEM_INI,
        secrets=[WIFI_KEY], log=lines.append,
    )  # fmt: skip
    took = time.monotonic() - started
    log = outcome.console_log.read_text()
    assert outcome.passed, f"{outcome.reason}\n{log[-3000:]}"
    assert outcome.reason == ""
    assert outcome.login_seconds is not None and 5 < outcome.login_seconds < took
    # Where the time went: every phase measured, adding up to the time to login.
    assert list(outcome.phases) == list(PHASES)
    assert all(seconds > 0 for seconds in outcome.phases.values()), outcome.phases
    assert sum(outcome.phases.values()) == pytest.approx(outcome.login_seconds, abs=0.5)
    # systemd's own account, read back from the FAT: the agent's units among them.
    units = dict(outcome.slowest_units)
    assert 3 <= len(units) <= 12 and all(seconds >= 0 for seconds in units.values())
    assert "genpack-agent.service" in units, units
    assert list(units.values()) == sorted(units.values(), reverse=True)
    assert outcome.applied["hostname"] == "boottest"
    assert "ip_address" not in outcome.applied and "ip_address" in outcome.rejected
    assert outcome.rejected["colour"] == "unknown key"
    assert "boottest login: " in log and BOOT_TEST_MARKER in log
    assert "reboot: Power down" in log
    assert WIFI_KEY not in log
    assert CRYPT_HASH_RE.search(log) is None  # the root password's hash never shows
    assert any(line.startswith("login prompt after") for line in lines)
    assert list((tmp_path / "work").iterdir()) == []  # the copy is gone
    untouched(result)
