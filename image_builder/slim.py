"""What an appliance never runs, taken out of the tree (the trim step calls it).

- The package manager: system.img is read-only and replaced whole to update, so apt, its
  keyring and the libraries only it uses (GnuTLS, libstdc++ ...) are dead weight (~3 MiB
  packed). apt itself removes them (its autoremove knows what only apt needed), and only
  when that removes nothing anybody asked for.
- Python's standard library beyond what the agent imports, when the agent is the image's
  only Python program: modulefinder, run with the image's own Python, follows the agent's
  imports (every branch, so more than any one run needs); the rest of the stdlib goes,
  with its bytecode and extension modules.

Both are skipped when the blueprint or its profile names the package, or anything in the
image could use it; dpkg's database is updated by apt, so the SBOM and manifest, read after
this, list what is really there.
"""

from __future__ import annotations

import json
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
    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    users = []
    for package in paragraphs(status):
        name = package.get("package", "")
        if not package.get("status", "").endswith(" installed") or PYTHON_FAMILY.match(name):
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
