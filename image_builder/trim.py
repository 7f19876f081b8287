"""Step 4: remove what must not or need not ship: host leftovers, caches, per-device identity."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from . import readahead, slim
from .chroot import Chroot
from .runner import Runner
from .spec import BuildSpec

STEP = "trim"
REMOVE_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/archives/partial",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "var/cache/debconf/*-old",
    "var/lib/dpkg/*-old",
    "var/log/apt/*",
    "var/log/dpkg.log",
    "var/log/alternatives.log",
    "var/lib/dbus/machine-id",
    "etc/ssh/ssh_host_*",  # made at first boot by genpack-ssh-keygen.service
    "tmp/*",
    "var/tmp/*",
    "root/.bash_history",
)


def default_hostname(spec: BuildSpec) -> str:
    """The blueprint name as an RFC 1123 label (system.ini's hostname overrides it)."""
    label = re.sub(r"[^a-z0-9-]+", "-", spec.name.lower()).strip("-")[:63].strip("-")
    return label or "appliance"


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def trim_docs(root: Path) -> int:
    """Keep only each package's /usr/share/doc/<package>/copyright (the licence, which the
    SBOM reads and distribution requires) of the documentation. dpkg's path-excludes
    (rootfs.DPKG_EXCLUDES) already keep the rest out of every package it installs; this also
    catches what maintainer scripts and setup commands put there. A <package> that is a link
    to a sibling's directory stays: it leads to the copyright file they share."""
    docs = root / "usr/share/doc"
    if not docs.is_dir() or docs.is_symlink():
        return 0
    removed = 0
    for entry in sorted(docs.iterdir()):
        if entry.is_symlink():
            continue
        if not entry.is_dir():
            remove_path(entry)
            removed += 1
            continue
        for child in sorted(entry.iterdir()):
            if child.name != "copyright" or child.is_dir():
                remove_path(child)
                removed += 1
        if not any(entry.iterdir()):
            entry.rmdir()
    return removed


def trim(spec: BuildSpec, root: Path, chroot: Chroot, runner: Runner) -> None:
    slim.drop_package_manager(spec, chroot)
    slim.drop_perl(spec, chroot)
    slim.trim_python(spec, chroot)
    slim.trim_hardware_names(spec, chroot)
    removed = 0
    for pattern in REMOVE_GLOBS:
        for path in root.glob(pattern):
            remove_path(path)
            removed += 1
    runner.reporter.log(f"trim: removed {removed} cache/log/identity paths")
    runner.reporter.log(f"trim: removed {trim_docs(root)} documentation paths (copyright kept)")
    listed = readahead.write_read_ahead_list(root)
    runner.reporter.log(f"read-ahead: {listed} files for the initramfs to read first")

    hostname = default_hostname(spec)
    (root / "etc/hostname").write_text(hostname + "\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n"
        "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"
    )
    # The build host's resolver must not ship; systemd-resolved provides one at run time.
    resolv = root / "etc/resolv.conf"
    remove_path(resolv)
    resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    # Empty, not absent: systemd then treats the first boot as first boot and makes a new id.
    (root / "etc/machine-id").write_text("")
