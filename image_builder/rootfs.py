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
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from .base_cache import base_key, remove
from .chroot import Chroot
from .errors import BuildError
from .options import SOURCES_DIR, EngineOptions, host_source
from .runner import Runner
from .secrets import manifest_sources
from .spec import BUILDER_VERSION, BuildSpec

POLICY_RC_D = "#!/bin/sh\nexit 101\n"  # services are not started in an image tree

STEP = "rootfs"

# What the engine's own boot chain and on-device agent need, whatever the blueprint says.
ENGINE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "kmod",
    "iproute2",
    "busybox",  # the initramfs' shell and small tools (initramfs.py)
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

# update-initramfs never runs: the engine packs its own initramfs (initramfs.py) from the tree.
# Diverted for good, so the kernel's and udev's postinst triggers do nothing (on the device too).
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


def base_packages(spec: BuildSpec, boot_packages: tuple[str, ...]) -> list[str]:
    """What every build of the profile installs: the engine's, the profile's, the boot
    scheme's packages. The blueprint's own come on top (blueprint_packages)."""
    profile = {spec.kernel_package, *spec.firmware_packages, *spec.extra_packages}
    return sorted({*engine_packages(spec), *profile, *boot_packages})


def blueprint_packages(spec: BuildSpec, base: list[str]) -> list[str]:
    return sorted({*spec.packages, *spec.buildtime_packages} - set(base))


def mmdebstrap_argv(
    spec: BuildSpec, root: Path, options: EngineOptions, packages: list[str]
) -> list[str]:
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
        # Keep downloaded .debs (publish_to_cache() shares them, trim removes them) and the
        # package lists (the blueprint's packages are installed from them next).
        "--skip=essential/unlink",
        "--skip=cleanup/apt/cache",
        "--skip=cleanup/apt/lists",
        f"--hook-dir={MERGED_USR_HOOKS}",
    ]  # fmt: skip
    if options.apt_cache_dir is not None:
        options.apt_cache_dir.mkdir(parents=True, exist_ok=True)
        argv.append(f"--setup-hook={cache_link_in_hook(options.apt_cache_dir)}")
    return [*argv, spec.suite, str(root), *sources_lines(spec, options)]


def base_inputs(spec: BuildSpec, options: EngineOptions, packages: list[str]) -> dict:
    """What a base tree is made of (base_cache.py's key; versions are checked on use). A
    mirror's password is masked: it changes nothing in the tree and must not reach a key."""
    argv = mmdebstrap_argv(spec, Path("/base"), replace(options, apt_cache_dir=None), packages)
    return {"builder_version": BUILDER_VERSION, "argv": manifest_sources(argv)}


class MissingPackages:
    """Watches apt's output for names it cannot find: a broken blueprint, said plainly."""

    def __init__(self, spec: BuildSpec) -> None:
        self.spec = spec
        self.names: list[str] = []

    def watch(self, line: str) -> None:
        for pattern in MISSING_PACKAGE_RES:
            match = pattern.search(line)
            if match:
                self.names.append(match.group(1))

    def hint(self, _tail: list[str] | None = None) -> str | None:
        if not self.names:
            return None
        spec = self.spec
        return (
            f"package(s) not found in Debian {spec.suite}/{spec.arch} "
            f"({', '.join(spec.components)}): {', '.join(dict.fromkeys(self.names))}"
        )

    def check(self) -> None:
        if self.names:  # apt may only warn for some of these; still a broken blueprint
            raise BuildError(STEP, self.hint() or "")


def installed_versions(root: Path) -> dict[str, str]:
    from .sbom import paragraphs

    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    return {
        p["package"]: p.get("version", "")
        for p in paragraphs(status)
        if p.get("status", "").endswith(" installed")
    }


def drop_debs(root: Path) -> None:
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def make_base(
    spec: BuildSpec, root: Path, options: EngineOptions, runner: Runner, packages: list[str]
) -> None:
    missing = MissingPackages(spec)
    argv = mmdebstrap_argv(spec, root, options, packages)
    runner.run(argv, step=STEP, on_line=missing.watch, failure_hint=missing.hint)
    missing.check()
    if options.apt_cache_dir is not None:
        publish_to_cache(root, options.apt_cache_dir, runner)
    drop_debs(root)  # shared by the .deb cache, never part of a cached base


@contextmanager
def host_resolver(root: Path) -> Iterator[None]:
    """The host's /etc/resolv.conf in the tree while apt downloads (the tree's own points at
    systemd-resolved, which does not run in a chroot); what was there comes back after."""
    resolv = root / "etc/resolv.conf"
    saved = resolv.with_name("resolv.conf.genpack-saved")
    had = resolv.is_symlink() or resolv.exists()
    if had:
        os.replace(resolv, saved)
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
        yield
    finally:
        resolv.unlink(missing_ok=True)
        if had:
            os.replace(saved, resolv)


def stale_packages(chroot: Chroot) -> list[str]:
    """Refresh the copy's package lists; the base packages the archive has newer versions of.
    A list that cannot be fetched fails the build (--error-on=any): an unchecked base must
    not pass for a current one."""
    with host_resolver(chroot.root):
        chroot.run("apt-get", "update", "-q", "--error-on=any", step=STEP, quiet=True)
    simulated = chroot.run(
        "apt-get", "-s", "-q", "dist-upgrade", step=STEP, quiet=True, keep_output=True
    ).output
    return re.findall(r"^Inst (\S+)", simulated, re.MULTILINE)


def base_tree(
    spec: BuildSpec, root: Path, options: EngineOptions, runner: Runner, packages: list[str]
) -> None:
    """The base in `root`: copied from the cache when it holds a current one, else made."""
    cache = options.base_cache()
    if cache is None:
        make_base(spec, root, options, runner, packages)
        return
    key = base_key(base_inputs(spec, options, packages))
    log = runner.reporter.log
    if options.fresh_base:
        log("base cache: not used (a fresh base was asked for: the latest packages)")
    elif cache.copy_out(key, root, runner) is not None:
        if not (stale := stale_packages(Chroot(root, runner))):
            log(f"base cache: reused base {key} ({len(packages)} packages asked for)")
            return
        log(f"base cache: base {key} is stale ({len(stale)} newer in the archive: "
            f"{', '.join(stale[:8])}): making a fresh one")  # fmt: skip
        remove(root, runner)
    else:
        log(f"base cache: no base {key} yet: making it")
    make_base(spec, root, options, runner, packages)
    try:
        cache.store(key, root, installed_versions(root), runner)
    except (OSError, BuildError) as error:  # a full cache disk must not fail the build
        log(f"base cache: could not store the base: {error}")


def install_blueprint_packages(
    spec: BuildSpec, root: Path, options: EngineOptions, runner: Runner, packages: list[str]
) -> None:
    """apt-get install in the tree, services kept from starting (policy-rc.d), the .deb
    cache linked in and filled as mmdebstrap does it."""
    if not packages:
        return
    chroot = Chroot(root, runner)
    if options.apt_cache_dir is not None:
        runner.run(["sh", "-c", cache_link_in_hook(options.apt_cache_dir), "link", str(root)],
                   step=STEP, quiet=True)  # fmt: skip
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    missing = MissingPackages(spec)
    try:
        with host_resolver(root):
            chroot.run(
                "env", "DEBIAN_FRONTEND=noninteractive",
                "apt-get", "install", "-y", "-q", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-unsafe-io", *packages,
                step=STEP, on_line=missing.watch, failure_hint=missing.hint,
            )  # fmt: skip
    finally:
        policy.unlink(missing_ok=True)
    missing.check()
    if options.apt_cache_dir is not None:
        publish_to_cache(root, options.apt_cache_dir, runner)


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
    """The base tree (base_tree), then the blueprint's packages on top. boot_packages: what
    the boot scheme installs; fetch: what it only downloads, into fetch_dir (GRUB's modules
    for a foreign architecture)."""
    base = base_packages(spec, boot_packages)
    base_tree(spec, root, options, runner, base)
    install_blueprint_packages(spec, root, options, runner, blueprint_packages(spec, base))
    if fetch and fetch_dir is not None:
        hook = fetch_hook(fetch, fetch_dir, spec.arch)
        runner.run(["sh", "-c", hook, "fetch", str(root)], step=STEP)


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
