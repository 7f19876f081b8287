"""The read-ahead list: files the boot reads first, which the initramfs starts reading into the
page cache as soon as system.img is mounted (appliance/initramfs/init), on the CPU the boot
leaves idle.

Every page of system.img is xz-unpacked on first read; under emulation that is most of why
systemd takes seconds to start from system.img and a fraction of one from an ext4 root, and
the agent's Python as long again. Read ahead, the unpacking runs beside the initramfs' own
work and systemd's start instead of before them. The list is the programs on the way to login
with the libraries they load (DT_NEEDED, followed through RUNPATH and the loader's
directories), then the agent and the bytecode of the standard library left for it, capped so a
big image never reads more than a boot needs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .treefiles import resolve_in_tree

READ_AHEAD = "usr/lib/genpack/read-ahead"
# In the order the boot runs them: PID 1, journald and udev, the agent, networkd and resolved,
# the getty and login.
BOOT_PROGRAMS = (
    "usr/lib/systemd/systemd", "usr/lib/systemd/systemd-journald", "usr/bin/udevadm",
    "usr/bin/python3", "usr/lib/systemd/systemd-networkd", "usr/lib/systemd/systemd-resolved",
    "usr/sbin/agetty", "usr/bin/login",
)  # fmt: skip
AGENT_DIR = "usr/lib/genpack"
MAX_BYTES = 48 * 2**20
NEEDED_RE = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
RUNPATH_RE = re.compile(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]")


def inside(root: Path, path: str) -> Path | None:
    """The file at `path` with its links followed inside the tree, or None."""
    found = resolve_in_tree(root, path)
    return found if found is not None and found.is_file() else None


def library_dirs(root: Path) -> list[str]:
    triplets = [p.name for p in (root / "usr/lib").glob("*-linux-gnu*") if p.is_dir()]
    return [*(f"/usr/lib/{t}" for t in triplets), "/usr/lib", *(f"/lib/{t}" for t in triplets)]


def dynamic_section(path: Path) -> str:
    result = subprocess.run(
        ["readelf", "-d", "-W", str(path)], capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else ""


def with_libraries(root: Path, programs: list[Path]) -> list[Path]:
    """`programs`, each followed by the libraries it loads that are not listed yet."""
    ordered: list[Path] = []
    seen: set[Path] = set()
    search = library_dirs(root)

    def add(path: Path) -> None:
        if path in seen:
            return
        seen.add(path)
        ordered.append(path)
        section = dynamic_section(path)
        runpaths = [d for match in RUNPATH_RE.findall(section) for d in match.split(":")]
        for name in NEEDED_RE.findall(section):
            for directory in [*runpaths, *search]:
                found = inside(root, f"{directory}/{name}")
                if found is not None:
                    add(found)
                    break

    for program in programs:
        add(program)
    return ordered


def agent_files(root: Path) -> list[Path]:
    agent = sorted(p for p in (root / AGENT_DIR).rglob("*") if p.is_file() and not p.is_symlink())
    stdlib = sorted((root / "usr/lib").glob("python3*/__pycache__/*.pyc"))
    stdlib += sorted((root / "usr/lib").glob("python3*/*/__pycache__/*.pyc"))
    stdlib += sorted((root / "usr/lib").glob("python3*/lib-dynload/*.so"))
    return [p for p in [*agent, *stdlib] if p.is_file()]


def read_ahead_list(root: Path) -> list[str]:
    programs = [found for name in BOOT_PROGRAMS if (found := inside(root, name)) is not None]
    files = with_libraries(root, programs) + agent_files(root)
    listed: list[str] = []
    total = 0
    seen: set[Path] = set()
    for path in files:
        if path in seen or path.name == Path(READ_AHEAD).name:
            continue
        seen.add(path)
        size = path.stat().st_size
        if total + size > MAX_BYTES:
            break
        total += size
        listed.append(str(path.relative_to(root)))
    return listed


def write_read_ahead_list(root: Path) -> int:
    """Write the list (tree-relative paths, one per line; no path has a blank in it, or it is
    left out: the initramfs splits on white space). Returns how many files it names."""
    names = [name for name in read_ahead_list(root) if not re.search(r"\s", name)]
    target = root / READ_AHEAD
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(f"{name}\n" for name in names))
    return len(names)
