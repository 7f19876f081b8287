"""What an appliance never runs, taken out of the tree (the trim step calls it).

- The package manager: system.img is read-only and replaced whole to update, so apt, its
  keyring and the libraries only it uses (GnuTLS, libstdc++ ...) are dead weight (~3 MiB
  packed). apt itself removes them (its autoremove knows what only apt needed), and only
  when that removes nothing anybody asked for.
- Python's standard library beyond what the agent imports, when the agent is the image's
  only Python program: modulefinder, run with the image's own Python, follows the agent's
  imports (every branch, so more than any one run needs); the rest of the stdlib goes,
  with its bytecode and extension modules.
- Perl (perl-base, ~1.5 MiB packed): Essential in Debian for the packaging tools' own
  scripts (debconf, adduser, update-rc.d ...), which only package installation runs.
- udev's hardware *name* databases (vendor and model names, OUIs: ~2 MiB packed), read only by
  tools that print names; the index udev looks up (hwdb.bin) is rebuilt without them, so
  keyboard, mouse and sensor fixes stay.

Each is skipped when the blueprint or its profile names the package, or anything in the
image could use it; dpkg's database is updated by apt or dpkg, so the SBOM and manifest,
read after this, list what is really there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .chroot import Chroot
from .sbom import paragraphs
from .spec import BuildSpec

STEP = "trim"

PACKAGE_MANAGER = "apt"

# The interpreter's own packages: they depend on each other, not on the agent.
PYTHON_FAMILY = re.compile(r"^(lib)?python3(\.\d+)?(-minimal|-stdlib)?$")
PYTHON_DEPENDENCY = re.compile(r"(^|[\s,|])(lib)?python3(\.\d+)?([-\s,(|]|$)")
AGENT = "/usr/lib/genpack/agent.py"
PERL = "perl-base"
# The packaging tools whose scripts are Perl: maintainer scripts run them at install time.
PERL_PACKAGING = frozenset(
    {PERL, "debconf", "adduser", "dpkg", "init-system-helpers", "libpam-runtime", "ucf",
     "linux-base"}
)  # fmt: skip
PERL_FAMILY = re.compile(r"^(perl(-\S+)?|libperl\S*|\S+-perl)$")
PERL_DEPENDENCY = re.compile(r"(^|[\s,|])(perl(-base)?|perlapi-\S+|libperl[\d.]+)([\s,(|:]|$)")
# Where no script lives: skipped by the scan for Perl programs.
NOT_SCANNED = ("usr/lib/modules", "usr/lib/firmware", "usr/share/zoneinfo", "var/lib/dpkg")
HWDB_DIR = "usr/lib/udev/hwdb.d"
# Names only (ID_VENDOR_FROM_DATABASE ...), for lsusb, lspci, networkctl and sound servers'
# labels; the functional databases (keyboard, mouse, sensors, net names, classes) stay.
HARDWARE_NAME_DATABASES = (
    "20-OUI.hwdb", "20-pci-vendor-model.hwdb", "20-usb-vendor-model.hwdb",
    "20-acpi-vendor.hwdb", "20-bluetooth-vendor-product.hwdb", "20-sdio-vendor-model.hwdb",
)  # fmt: skip
HARDWARE_NAME_READERS = frozenset(
    {"usbutils", "pciutils", "hwdata", "pulseaudio", "pipewire", "network-manager"}
)
# Imported by name at start-up or for debugging only, never by the agent's code paths.
ALWAYS_KEPT = {"encodings", "site", "sitecustomize", "_sitebuiltins", "sysconfig", "os"}
NEVER_FOLLOWED = (
    # Reached from the agent's modules only through help(), tests or an interactive debugger.
    "pydoc", "pydoc_data", "doctest", "pdb", "bdb", "cmd", "code", "codeop", "unittest",
    "test", "distutils", "webbrowser", "tkinter", "idlelib", "lib2to3", "ensurepip", "venv",
    "turtle", "_testcapi", "_testinternalcapi",
)  # fmt: skip

# Run inside the tree by its Python: prints the top-level names the agent's imports reach.
IMPORT_CLOSURE = """\
import json, sys
from modulefinder import ModuleFinder
finder = ModuleFinder(path=["/usr/lib/genpack", *sys.path[1:]], excludes=json.loads(sys.argv[2]))
finder.run_script(sys.argv[1])
print(json.dumps(sorted(finder.modules)))
"""


def drop_package_manager(spec: BuildSpec, chroot: Chroot) -> list[str]:
    """Purge apt and what only it needed; returns the packages removed (none when apt was
    asked for, or when removing it would take a package somebody installed on purpose)."""
    if PACKAGE_MANAGER in spec.all_packages():
        return []
    simulated = chroot.run(
        "apt-get", "-s", "purge", "--autoremove", "--allow-remove-essential", PACKAGE_MANAGER,
        step=STEP, quiet=True, keep_output=True,
    ).output  # fmt: skip
    removed = re.findall(r"^Purg (\S+)", simulated, re.MULTILINE)
    manual = set(
        chroot.run("apt-mark", "showmanual", step=STEP, quiet=True, keep_output=True).output.split()
    )
    wanted = (set(removed) & manual) - {PACKAGE_MANAGER}
    if not removed or wanted:
        chroot.runner.reporter.log(
            f"slim: apt stays (removing it would remove {', '.join(sorted(wanted))})"
            if wanted
            else "slim: apt is not installed"
        )
        return []
    chroot.run(
        "apt-get", "purge", "-y", "-q", "--autoremove", "--allow-remove-essential",
        PACKAGE_MANAGER, step=STEP, quiet=True,
    )  # fmt: skip
    chroot.runner.reporter.log(f"slim: removed the package manager: {' '.join(removed)}")
    return removed


def python_users(root: Path) -> list[str]:
    """Installed packages, other than Python's own, that depend on Python."""
    users = []
    for package in installed_packages(root):
        name = package.get("package", "")
        if PYTHON_FAMILY.match(name):
            continue
        depends = f"{package.get('depends', '')}, {package.get('pre-depends', '')}"
        if PYTHON_DEPENDENCY.search(depends):
            users.append(name)
    return users


def mentions_python(spec: BuildSpec) -> bool:
    """The blueprint's own files, commands and services may be Python programs."""
    texts = [*spec.setup_commands, *spec.services]
    for entry in (*spec.files, *spec.build_files):
        texts += [entry["path"], str(entry.get("content", "")), str(entry.get("content_b64", ""))]
    return any("python" in text.lower() for text in texts) or any(
        entry["path"].endswith(".py") or "content_b64" in entry
        for entry in (*spec.files, *spec.build_files)
    )


def python_kept_reason(spec: BuildSpec, root: Path) -> str | None:
    """Why the whole standard library stays, or None when the agent is its only user."""
    if any(PYTHON_FAMILY.match(name) for name in spec.all_packages()):
        return "the blueprint or profile installs Python itself"
    if users := python_users(root):
        return f"{', '.join(users[:5])} use it"
    if mentions_python(spec):
        return "the blueprint's files, commands or services may run Python"
    dist_packages = root / "usr/lib/python3/dist-packages"
    if dist_packages.is_dir() and any(dist_packages.iterdir()):
        return "Python libraries are installed in dist-packages"
    return None


def stdlib_dir(root: Path) -> Path | None:
    found = sorted(path for path in (root / "usr/lib").glob("python3.*") if path.is_dir())
    return found[-1] if len(found) == 1 else None


def agent_imports(chroot: Chroot, python: str) -> set[str]:
    script = chroot.root / "tmp/genpack-import-closure.py"
    script.write_text(IMPORT_CLOSURE)
    try:
        output = chroot.run(
            python, "/tmp/genpack-import-closure.py", AGENT, json.dumps(NEVER_FOLLOWED),
            step=STEP, quiet=True,
        ).output  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    return set(json.loads(output.strip().splitlines()[-1]))


def trim_python(spec: BuildSpec, chroot: Chroot) -> int:
    """Remove the stdlib modules the agent cannot reach; returns how many entries went."""
    root, log = chroot.root, chroot.runner.reporter.log
    lib = stdlib_dir(root)
    if lib is None or not (root / AGENT.lstrip("/")).is_file():
        return 0
    if reason := python_kept_reason(spec, root):
        log(f"slim: Python's standard library stays whole: {reason}")
        return 0
    modules = agent_imports(chroot, f"/usr/bin/{lib.name}")
    kept = ALWAYS_KEPT | {name.split(".")[0] for name in modules}
    removed = 0
    for entry in sorted(lib.iterdir()):
        name = entry.name.removesuffix(".py")
        if entry.name in {"__pycache__", "lib-dynload"} or entry.name.startswith(
            ("_sysconfigdata", "config-")
        ):
            continue
        if name not in kept:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed += 1
    for compiled in sorted((lib / "__pycache__").glob("*.pyc")):
        if compiled.name.split(".")[0] not in kept:
            compiled.unlink()
    for extension in sorted((lib / "lib-dynload").glob("*.so")):
        if extension.name.split(".")[0] not in modules:
            extension.unlink()
            removed += 1
    log(f"slim: Python's standard library cut to the agent's imports ({removed} entries removed)")
    return removed


def installed_packages(root: Path) -> list[dict[str, str]]:
    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    return [p for p in paragraphs(status) if p.get("status", "").endswith(" installed")]


def file_owners(root: Path) -> dict[str, str]:
    """Path (as it is in the merged-/usr tree) -> the package that installed it."""
    owners: dict[str, str] = {}
    for listing in (root / "var/lib/dpkg/info").glob("*.list"):
        package = listing.name.removesuffix(".list").split(":")[0]
        for line in listing.read_text(errors="replace").splitlines():
            for prefix in ("/bin/", "/sbin/", "/lib/", "/lib64/"):
                if line.startswith(prefix):
                    line = "/usr" + line
            owners[line] = package
    return owners


def perl_programs(root: Path) -> list[str]:
    """Files whose first line runs Perl, other than the packaging tools' own."""
    owners = file_owners(root)
    found = []
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [d for d in dirs if (here / d).relative_to(root).as_posix() not in NOT_SCANNED]
        for name in files:
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as handle:
                first = handle.read(128).split(b"\n", 1)[0]
            where = "/" + path.relative_to(root).as_posix()
            if (
                first.startswith(b"#!")
                and b"perl" in first
                and owners.get(where) not in PERL_PACKAGING
            ):
                found.append(where)
    return sorted(found)


def perl_kept_reason(spec: BuildSpec, root: Path) -> str | None:
    """Why Perl stays, or None when only the packaging tools could run it."""
    if PACKAGE_MANAGER in spec.all_packages():
        return "apt stays, and installing packages runs debconf, which is Perl"
    if any(PERL_FAMILY.match(name) for name in spec.all_packages()):
        return "the blueprint or profile installs Perl or a Perl library"
    users = [
        p["package"]
        for p in installed_packages(root)
        if p["package"] not in PERL_PACKAGING
        and PERL_DEPENDENCY.search(f"{p.get('depends', '')}, {p.get('pre-depends', '')}")
    ]
    if users:
        return f"{', '.join(users[:5])} use it"
    if any("perl" in text.lower() for text in (*spec.setup_commands, *spec.services)):
        return "the blueprint's commands or services mention Perl"
    if programs := perl_programs(root):
        return f"Perl programs are installed: {', '.join(programs[:3])}"
    return None


def drop_perl(spec: BuildSpec, chroot: Chroot) -> bool:
    """Purge perl-base when nothing but the packaging tools uses it (after apt is gone: apt
    would refuse to work with the dependencies this leaves unmet)."""
    root, log = chroot.root, chroot.runner.reporter.log
    if not (root / f"var/lib/dpkg/info/{PERL}.list").exists():
        return False
    if reason := perl_kept_reason(spec, root):
        log(f"slim: Perl stays: {reason}")
        return False
    chroot.run(
        "dpkg", "--purge", "--force-remove-essential", "--force-depends", PERL,
        step=STEP, quiet=True,
    )  # fmt: skip
    log("slim: removed Perl (only the packaging tools' scripts used it)")
    return True


def trim_hardware_names(spec: BuildSpec, chroot: Chroot) -> list[str]:
    """Drop udev's name-only databases and rebuild hwdb.bin from the rest; returns the
    files removed (none when a package that shows hardware names is installed)."""
    root, log = chroot.root, chroot.runner.reporter.log
    present = [name for name in HARDWARE_NAME_DATABASES if (root / HWDB_DIR / name).exists()]
    if not present or not (root / "usr/bin/systemd-hwdb").exists():
        return []
    installed = {p["package"] for p in installed_packages(root)}
    if readers := sorted((installed | set(spec.all_packages())) & HARDWARE_NAME_READERS):
        log(f"slim: udev's hardware names stay: {', '.join(readers)} show them")
        return []
    for name in present:
        (root / HWDB_DIR / name).unlink()
    # --usr: into /usr/lib/udev/hwdb.bin, where the package put it (system.img's /etc
    # would shadow it); the blueprint's own /etc/udev/hwdb.d files are compiled in too.
    chroot.run("systemd-hwdb", "update", "--usr", step=STEP, quiet=True)
    log(f"slim: removed udev's hardware name databases ({len(present)} files), hwdb.bin rebuilt")
    return present
