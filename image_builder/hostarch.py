"""Which architectures this machine can really build images for.

Its own, and a foreign one only when foreign binaries really run here: an arm64 chroot on an
x86 host executes every maintainer script through qemu-user, so the kernel's binfmt_misc
entry must be registered *and* enabled, and (where Debian's `arch-test` is installed) a real
arm64 program must run. A worker asks this once at start to decide which build queues it
takes; without it, an arm64 build would be claimed by a host that fails it at the first
`dpkg --configure`.

Plain Python, no Django: `python -m image_builder.hostarch` prints the answer.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
# platform.machine() → the Debian architecture the builder names it.
NATIVE = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# Native architecture → the foreign ones the builder can make there, and the binfmt_misc
# entry (as qemu-user-static / qemu-user-binfmt register it) each one needs.
FOREIGN = {"amd64": {"arm64": "qemu-aarch64"}}
ARCH_TEST_SECONDS = 30


def native_architecture(machine: str | None = None) -> str | None:
    """This machine's Debian architecture, or None for one the builder does not know."""
    return NATIVE.get((machine if machine is not None else platform.machine()).lower())


def _first_line(path: Path) -> str:
    try:
        return path.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return ""


def binfmt_enabled(entry: str, binfmt_dir: Path = BINFMT_DIR) -> bool:
    """Whether binfmt_misc as a whole and its `entry` (e.g. qemu-aarch64) are enabled."""
    return (
        _first_line(binfmt_dir / "status") == "enabled"
        and _first_line(binfmt_dir / entry) == "enabled"
    )


def arch_test_passes(arch: str, command: str = "arch-test") -> bool | None:
    """Whether `arch-test <arch>` runs a program of that architecture here; None when
    arch-test is not installed (then binfmt_misc alone decides)."""
    program = shutil.which(command)
    if program is None:
        return None
    try:
        run = subprocess.run(
            [program, arch], capture_output=True, timeout=ARCH_TEST_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def foreign_works(
    arch: str,
    native: str | None,
    *,
    binfmt_dir: Path = BINFMT_DIR,
    arch_test: str = "arch-test",
) -> bool:
    entry = FOREIGN.get(native or "", {}).get(arch)
    if entry is None or not binfmt_enabled(entry, binfmt_dir):
        return False
    return arch_test_passes(arch, arch_test) is not False


def buildable_architectures(
    *,
    machine: str | None = None,
    binfmt_dir: Path = BINFMT_DIR,
    arch_test: str = "arch-test",
) -> list[str]:
    """The architectures this machine can build: its own first, then each foreign one whose
    programs really run here."""
    native = native_architecture(machine)
    found = [native] if native else []
    for arch in FOREIGN.get(native or "", {}):
        if foreign_works(arch, native, binfmt_dir=binfmt_dir, arch_test=arch_test):
            found.append(arch)
    return found


if __name__ == "__main__":
    print(" ".join(buildable_architectures()) or "none")
