"""The initramfs, cached beside the base trees: a rebuild whose new packages change nothing
the initramfs is made of takes the one made before instead of running update-initramfs and
zstd -17 again (~9 s of a ~40 s warm rebuild of the KVM guest).

An entry is `<base cache>/initramfs-<key>/` with the finished `initramfs` and an entry.json
that says what it was made from; it shares the base cache's locks, atomic publication, size
bound and least-recently-used pruning (base_cache.py). What is checked before reuse:

- **What decides what goes in** (the key): initramfs-tools' configuration, hooks and scripts
  (ours among them), modprobe and udev configuration, ld.so's configuration, fstab and
  crypttab, keyboard settings, the kernel's module tree after the profile's cut, the names of
  the firmware files a driver could ask for, and the versions of the packages that own any
  of these (a microcode package changes its blobs, not its hook); with the builder version,
  architecture, kernel version and the boot-medium driver list.
- **The files copied in**: when an entry is stored, each member of the archive is traced to
  the tree file with the same content (at the same path, else anywhere: klibc, busybox and
  our hook's tools are copied under other names). On use every one of those must still hash
  the same. A member the tree does not hold was written by a hook, from the inputs above.
- **Which program a name finds**: hooks copy programs by name (`command -v`); a package that
  adds one of those names earlier on PATH would change the pick, so where each member's name
  exists on PATH is part of the check.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base_cache import ENTRY_FILE, BaseCache
from .bootchain import CpioMember, cpio_archive, early_archive_length
from .errors import BuildError
from .runner import Runner
from .spec import BUILDER_VERSION, BuildSpec

STEP = "boot"
INITRAMFS = "initramfs"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# Read by mkinitramfs and the hooks Debian ships: every file under them counts, by content.
CONTENT_INPUTS = (
    "etc/initramfs-tools", "usr/share/initramfs-tools", "etc/modprobe.d", "usr/lib/modprobe.d",
    "etc/udev", "usr/lib/udev/rules.d", "etc/systemd/network", "usr/lib/systemd/network",
    "etc/ld.so.conf", "etc/ld.so.conf.d", "etc/fstab", "etc/crypttab", "etc/default/keyboard",
    "etc/console-setup",
)  # fmt: skip
# Copied only when a module names them: which exist counts (what is copied is traced).
NAME_INPUTS = ("usr/lib/firmware",)
SEARCH_PATH = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin")


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def walk(root: Path, relative: str) -> Iterator[Path]:
    top = root / relative
    if top.is_file() or top.is_symlink():
        yield top
        return
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            yield Path(directory, name)


def describe(root: Path, path: Path, *, content: bool) -> str:
    info = path.lstat()
    relative = path.relative_to(root)
    if path.is_symlink():
        return f"{relative} -> {os.readlink(path)}"
    return f"{relative} {info.st_mode:o} {file_digest(path) if content else info.st_size}"


def package_owners(root: Path, prefixes: tuple[str, ...]) -> dict[str, str]:
    """Package → version, for every package owning a file under one of `prefixes`."""
    from .rootfs import installed_versions

    versions = installed_versions(root)
    owners = {}
    wanted = tuple(f"/{prefix}" for prefix in prefixes)
    for listing in sorted((root / "var/lib/dpkg/info").glob("*.list")):
        package = listing.stem.split(":")[0]
        lines = listing.read_text(errors="replace").splitlines()
        if package in versions and any(line.startswith(wanted) for line in lines):
            owners[package] = versions[package]
    return owners


def input_key(spec: BuildSpec, root: Path, kernel_version: str, modules: tuple[str, ...]) -> str:
    modules_tree = f"usr/lib/modules/{kernel_version}"
    lines = [
        json.dumps([BUILDER_VERSION, spec.arch, kernel_version, sorted(modules)]),
        *(describe(root, p, content=True) for i in (*CONTENT_INPUTS, modules_tree)
          for p in walk(root, i)),
        *(describe(root, p, content=False) for i in NAME_INPUTS for p in walk(root, i)),
    ]  # fmt: skip
    # Merged /usr: dpkg lists files under /lib that the tree has under usr/lib.
    owned = (*CONTENT_INPUTS, modules_tree)
    owned += tuple(p.removeprefix("usr/") for p in owned if p.startswith("usr/lib/"))
    lines.append(json.dumps(package_owners(root, owned)))
    return "initramfs-" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:24]


def members(initramfs: bytes, runner: Runner, scratch: Path) -> list[CpioMember]:
    """Every member of the early (uncompressed) and main (zstd) archives."""
    found = []
    offset = 0
    early = early_archive_length(initramfs)
    while offset < early:
        part, offset = cpio_archive(initramfs, offset)
        found += part
        while offset < early and initramfs[offset] == 0:
            offset += 1
    main = initramfs[early:]
    if not main.startswith(ZSTD_MAGIC):
        raise ValueError("the main archive is not zstd")
    packed, plain = scratch / "main.zst", scratch / "main.cpio"
    packed.write_bytes(main)
    runner.run(["zstd", "-d", "-q", "-f", str(packed), "-o", str(plain)], step=STEP, quiet=True)
    found += cpio_archive(plain.read_bytes())[0]
    return found


def on_path(root: Path, names: set[str]) -> dict[str, list[str]]:
    return {
        name: [d for d in SEARCH_PATH if os.path.lexists(root / d / name)] for name in sorted(names)
    }


def program_names(found: list[CpioMember]) -> set[str]:
    return {
        Path(m.name).name
        for m in found
        if m.content and m.mode & 0o111 and ("bin/" in m.name or "libexec/" in m.name)
    }


def trace_sources(root: Path, found: list[CpioMember]) -> dict[str, str]:
    """Tree path → sha256 of every tree file a member is a copy of."""
    sources: dict[str, str] = {}
    unmatched: dict[str, int] = {}  # digest → size
    for member in found:
        if not member.content or member.mode & 0o170000 != 0o100000:
            continue
        digest = hashlib.sha256(member.content).hexdigest()
        same_path = root / member.name
        if same_path.is_file() and not same_path.is_symlink() and file_digest(same_path) == digest:
            sources[member.name] = digest
        else:
            unmatched[digest] = len(member.content)
    sizes = set(unmatched.values())  # only files of a member's size are worth hashing
    for path in walk(root, ".") if unmatched else ():
        if path.is_file() and not path.is_symlink() and path.stat().st_size in sizes:
            digest = file_digest(path)
            if digest in unmatched:
                sources[os.path.normpath(path.relative_to(root))] = digest
    return sources


@dataclass(frozen=True)
class InitramfsCache:
    store: BaseCache

    def restore(self, key: str, root: Path, target: Path, runner: Runner) -> bool:
        """Copy the entry's initramfs to `target` when everything it was made from is as it
        was; False when there is no such entry or something changed."""
        with self.store.locked(key, exclusive=False):
            entry = self.store.entry(key)
            try:
                info = json.loads((entry / ENTRY_FILE).read_text())
            except (OSError, ValueError):
                return False
            changed = self.changed(root, info)
            if changed:
                runner.reporter.log(f"initramfs cache: {key} not reused ({changed} changed)")
                return False
            shutil.copyfile(entry / INITRAMFS, target)
            os.utime(entry / ENTRY_FILE)
        target.chmod(0o644)
        runner.reporter.log(f"initramfs cache: reused {key} (nothing it is made from changed)")
        return True

    @staticmethod
    def changed(root: Path, info: dict) -> str | None:
        for relative, digest in info.get("sources", {}).items():
            path = root / relative
            if not path.is_file() or path.is_symlink() or file_digest(path) != digest:
                return f"/{relative}"
        recorded = info.get("on_path", {})
        if on_path(root, set(recorded)) != recorded:
            return "a program name on PATH"
        return None

    def save(self, key: str, root: Path, initramfs: Path, runner: Runner) -> None:
        """Store `initramfs` as the entry for `key`; a failure is logged, never raised (a
        full cache disk must not fail the build)."""
        staging = None
        try:
            staging = self.store.staging(key)
            found = members(initramfs.read_bytes(), runner, staging)
            for scratch in staging.iterdir():
                scratch.unlink()
            info = {
                "size": initramfs.stat().st_size,
                "created": time.time(),
                "sources": trace_sources(root, found),
                "on_path": on_path(root, program_names(found)),
            }
            shutil.copyfile(initramfs, staging / INITRAMFS)
            self.store.publish(key, staging, info, runner)
        except (OSError, ValueError, BuildError) as error:
            runner.reporter.log(f"initramfs cache: could not store the initramfs: {error}")
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            return
        runner.reporter.log(f"initramfs cache: stored {key} ({len(info['sources'])} sources)")
        self.store.prune(runner, keep=key)
