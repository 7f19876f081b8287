"""The appliance's code works on the device's Python: the host's Debian python3 (3.11).

The rest of the suite runs on the project's newer Python; a construct 3.11 lacks, or an import
from outside the standard library, would pass there and fail on every device at boot.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DEVICE_PYTHON = Path("/usr/bin/python3")  # Debian bookworm's, like the image's
DEVICE_VERSION = (3, 11)
SAMPLES = len(list((HERE.parent / "data" / "system_ini").glob("*.ini")))


def _version(python: Path) -> tuple[int, int]:
    out = subprocess.run(
        [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    major, minor = out.split()
    return int(major), int(minor)


def test_appliance_imports_and_meets_the_corpus_on_the_device_python() -> None:
    if not DEVICE_PYTHON.exists():
        pytest.skip(f"{DEVICE_PYTHON} is missing (install Debian's python3)")
    if _version(DEVICE_PYTHON) != DEVICE_VERSION:
        pytest.skip(f"{DEVICE_PYTHON} is not Python {DEVICE_VERSION}, the device's version")
    run = subprocess.run(
        [str(DEVICE_PYTHON), "-I", str(HERE / "device_python.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert summary.startswith("python 3.11."), summary
    # Not vacuous: the whole corpus was checked, and the package's modules were all imported.
    assert f"{SAMPLES} samples" in summary and SAMPLES >= 20, summary
    modules = int(summary.split(": ", 1)[1].split()[0])
    assert modules >= len(list((HERE.parents[1] / "appliance").rglob("*.py"))), summary
