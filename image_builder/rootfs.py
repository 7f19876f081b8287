"""Step 1: the root filesystem tree, made by mmdebstrap from the Debian mirror.

Mode "root" (we are root on build hosts) run inside a private mount namespace (`unshare -m`):
whatever mmdebstrap mounts into the tree disappears with the process, even when the caller
kills the process group, so a cancelled build can never leave /proc or /dev bind mounts under
the work directory (and `rm -rf` of the work directory can never reach the host's /dev).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from .errors import BuildError
from .options import SOURCES_DIR, EngineOptions, host_source
from .runner import Runner
from .spec import BuildSpec

STEP = "rootfs"

# What the engine's own boot chain and on-device agent need, whatever the blueprint says.
ENGINE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "kmod",
    "iproute2",
    "initramfs-tools",
    "e2fsprogs",  # e2fsck/resize2fs for the data partition, in the initramfs
    "fdisk",  # sfdisk: grows the data partition on first boot
    "python3",  # the system.ini agent; python3-minimal lacks json and dataclasses
    "systemd-resolved",  # DNS for DHCP and static setups without a resolv.conf writer
    "systemd-timesyncd",  # the ntp key
    # init-system-helpers depends on "usrmerge | usr-is-merged"; without this apt picks
    # usrmerge, which drags in perl (~45 MB) for a conversion the tree does not need.
    "usr-is-merged",
)
# The Wi-Fi client the agent drives from system.ini, and the regulatory database the kernel
# reads for wifi_country; only profiles with the "wifi" capability carry them.
WIFI_PACKAGES = ("wpasupplicant", "wireless-regdb")


def engine_packages(spec: BuildSpec) -> tuple[str, ...]:
    """What the engine installs for this spec, beside the profile's and the blueprint's."""
    wifi = WIFI_PACKAGES if "wifi" in spec.capabilities else ()
    return (*ENGINE_PACKAGES, *wifi)


# Files nobody reads on an appliance. Copyright files stay (licence obligations, a few 100 KB).
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/bash-completion/*",
    "path-exclude=/usr/share/zsh/*",
)

# Merged /usr the way debootstrap makes it (directory links first, then usr-is-merged),
# with mmdebstrap's own hooks. Without them apt satisfies init-system-helpers' "usrmerge |
# usr-is-merged" with usrmerge, which converts the tree with perl: perl and three perl
# libraries (~50 MB) stayed in every image after usrmerge was purged.
MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr"

MISSING_PACKAGE_RES = (
    re.compile(r"E: Unable to locate package (\S+)"),
    re.compile(r"E: Package '([^']+)' has no installation candidate"),
    re.compile(r"E: Couldn't find any package by (?:glob|regex) '([^']+)'"),
)


def sources_lines(spec: BuildSpec, options: EngineOptions) -> list[str]:
    """One-line apt sources: the chosen mirror for the suite, plus -updates and -security
    (an appliance should get security fixes).

    -updates is a suite of the same archive: read from the chosen mirror when the host uses
    -updates at all. -security is an archive of its own: the one the caller names
    (EngineOptions.security_mirror), else the host's entry for it, if any. The site's package
    index reads the same URLs, so the updates it announces are what a rebuild installs."""
    components = " ".join(spec.components)
    lines = [f"deb {options.mirror_for(spec.suite)} {spec.suite} {components}"]
    updates = spec.suite + "-updates"
    if uri := host_source(updates, SOURCES_DIR):
        lines.append(f"deb {options.mirror or uri} {updates} {components}")
    security = spec.suite + "-security"
    if uri := options.security_mirror or host_source(security, SOURCES_DIR):
        lines.append(f"deb {uri} {security} {components}")
    return list(dict.fromkeys(lines))


def cache_link_in_hook(cache_dir: Path) -> str:
    """Setup hook: hard-link the shared cache's .debs into the new tree's apt archive.

    Hard links are safe to share: apt never rewrites a .deb in place (a re-download lands in
    partial/ and is renamed over the link), and publish_to_cache() only ever adds complete
    files by rename, so a reader sees either no file or a whole one; no lock is needed.
    """
    cache = shlex.quote(str(cache_dir))
    return (
        'mkdir -p "$1/var/cache/apt/archives/partial"; '
        f'for f in {cache}/*.deb; do [ -e "$f" ] || continue; '
        'ln -f "$f" "$1/var/cache/apt/archives/" 2>/dev/null '
        '|| cp -f "$f" "$1/var/cache/apt/archives/"; done'
    )


# Every dpkg and maintainer script runs emulated under qemu-user for a foreign architecture
# (~20x slower), and every fsync of a tree that is squashed minutes later is wasted:
# - force-unsafe-io: dpkg unpacks without fsync (the tree is thrown away if the build fails);
# - NoTriggers + ConfigurePending: apt runs each trigger (ldconfig, systemd, ...) once, at
#   the end, instead of after every dpkg call.
# man-db's trigger cannot run: the engine never installs man-db, and man pages are excluded.
SPEED_OPTIONS = (
    "--dpkgopt=force-unsafe-io",
    '--aptopt=DPkg::NoTriggers "true"',
    '--aptopt=DPkg::ConfigurePending "true"',
    '--aptopt=DPkg::TriggersPending "true"',
)

# Run update-initramfs once, at the end (bootchain), instead of after every kernel/udev install.
DIVERT_INITRAMFS_HOOK = (
    'chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && '
    'ln -sf /bin/true "$1/usr/sbin/update-initramfs"'
)


def fetch_hook(packages: tuple[str, ...], target: Path, arch: str) -> str:
    """Customize hook: download `packages` for their files only (nothing is installed) with
    the host's apt, native even for a foreign tree, reading the tree's sources and lists."""
    names = " ".join(shlex.quote(name) for name in packages)
    directory = shlex.quote(str(target))
    options = (
        f'-o Dir="$1" -o APT::Architecture={arch} -o APT::Architectures={arch} '
        "-o APT::Sandbox::User=root"
    )
    return f"mkdir -p {directory} && cd {directory} && apt-get -q {options} download {names}"


def build_rootfs(
    spec: BuildSpec,
    root: Path,
    options: EngineOptions,
    runner: Runner,
    *,
    boot_packages: tuple[str, ...] = (),
    fetch: tuple[str, ...] = (),
    fetch_dir: Path | None = None,
) -> None:
    """boot_packages: what the boot scheme installs; fetch: what it only downloads, into
    fetch_dir (GRUB's modules for a foreign architecture)."""
    packages = sorted({*engine_packages(spec), *spec.all_packages(), *boot_packages})
    argv: list[str] = [
        "unshare", "--mount", "--propagation", "private", "--",
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--architectures={spec.arch}",
        f"--components={','.join(spec.components)}",
        f"--include={','.join(packages)}",
        '--aptopt=Apt::Install-Recommends "false"',
        '--aptopt=Acquire::Retries "3"',
        *(f"--dpkgopt={option}" for option in DPKG_EXCLUDES),
        *SPEED_OPTIONS,
        f"--essential-hook={DIVERT_INITRAMFS_HOOK}",
        # Keep downloaded .debs: publish_to_cache() shares them, trim removes them.
        "--skip=essential/unlink",
        "--skip=cleanup/apt/cache",
    ]  # fmt: skip
    argv.append(f"--hook-dir={MERGED_USR_HOOKS}")
    if options.apt_cache_dir is not None:
        options.apt_cache_dir.mkdir(parents=True, exist_ok=True)
        argv.append(f"--setup-hook={cache_link_in_hook(options.apt_cache_dir)}")
    if fetch and fetch_dir is not None:
        argv.append(f"--customize-hook={fetch_hook(fetch, fetch_dir, spec.arch)}")
    argv += [spec.suite, str(root), *sources_lines(spec, options)]

    missing: list[str] = []

    def watch(line: str) -> None:
        for pattern in MISSING_PACKAGE_RES:
            match = pattern.search(line)
            if match:
                missing.append(match.group(1))

    def hint(_tail: list[str]) -> str | None:
        if missing:
            names = ", ".join(dict.fromkeys(missing))
            return (
                f"package(s) not found in Debian {spec.suite}/{spec.arch} "
                f"({', '.join(spec.components)}): {names}"
            )
        return None

    runner.run(argv, step=STEP, on_line=watch, failure_hint=hint)
    if missing:  # apt may only warn for some of these; still a broken blueprint
        raise BuildError(STEP, hint([]) or "")
    if options.apt_cache_dir is not None:
        publish_to_cache(root, options.apt_cache_dir, runner)


def publish_to_cache(root: Path, cache_dir: Path, runner: Runner) -> None:
    """Add this build's new .debs to the shared cache, each by link-or-copy then rename."""
    archives = root / "var/cache/apt/archives"
    added = 0
    for deb in archives.glob("*.deb"):
        target = cache_dir / deb.name
        if target.exists():
            continue
        tmp = cache_dir / f".{deb.name}.{os.getpid()}.tmp"
        try:
            try:
                os.link(deb, tmp)
            except OSError:
                tmp.write_bytes(deb.read_bytes())
            os.replace(tmp, target)
            added += 1
        except OSError as error:  # a full cache disk must not fail the build
            runner.reporter.log(f"apt cache: could not store {deb.name}: {error}")
            tmp.unlink(missing_ok=True)
    runner.reporter.log(f"apt cache: {added} new package(s) stored in {cache_dir}")
