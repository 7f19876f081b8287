"""Engine build vs the same package set built by hand with the raw tools, in one run.

    python bench/build.py [--spec tests/image_builder/data/minimal.json] [--workdir DIR] [--no-boot]
    python bench/build.py --board arm64-uefi     # the minimal blueprint for a seeded profile
    python bench/build.py --board kvm-x86_64 --warm-rebuild [PACKAGE]   # incremental builds

Prints: wall time of both, each from an empty .deb cache of its own (issue 14's target ratio
<= 0.5; `--warm-cache` shares the host's cache instead; for arm64 also the engine's own time
against ARM64_TARGET_SECONDS), system.img sizes (ratio to the by-hand image, and to the
board's size target: the KVM guest <= 40 MiB, the PC <= 60 MiB without its firmware, whose
share is printed apart), the kernel modules kept, boot-to-login time of the engine image under
QEMU (TCG), where the engine's time went (its steps, and mmdebstrap's phases read from
build.log), and what system.img is made of. Run as root on a build host
(scripts/install-build-host.sh).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from image_builder import BuildSpec, EngineOptions, NullReporter, build  # noqa: E402
from image_builder.assemble import squashfs_block  # noqa: E402
from image_builder.boot import scheme_for  # noqa: E402
from image_builder.options import DEFAULT_CACHE_DIR  # noqa: E402
from image_builder.rootfs import (  # noqa: E402
    cache_link_in_hook,
    engine_packages,
    fetch_hook,
    sources_lines,
)

MIB = 2**20
ARM64_TARGET_SECONDS = 530  # half of a first hand-run arm64 prototype on these 2-core hosts
# system.img targets (MiB) of the minimal blueprint; the PC's counts everything but firmware.
SIZE_TARGETS_MIB = {"kvm-x86_64": 40, "pc-x86_64": 60}
GRUB = {"amd64": ("x86_64-efi", "BOOTX64.EFI"), "arm64": ("arm64-efi", "BOOTAA64.EFI")}
# mmdebstrap's progress lines, in the order it prints them: where the rootfs step's time goes.
MMDEBSTRAP_PHASES = (
    ("I: running apt-get update", "apt update"),
    ("I: downloading packages", "download"),
    ("I: extracting archives", "extract essential"),
    ("I: installing essential packages", "install essential (dpkg)"),
    ("I: installing remaining packages", "install the rest (apt + dpkg)"),
    ("I: running --customize-hook", "customize hooks"),
    ("I: cleaning package lists", "cleanup"),
)


def run(argv: list[str], **kwargs) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, **kwargs)


def hand_build(spec: BuildSpec, workdir: Path, cache: Path) -> tuple[float, Path]:
    """What a person would type: mmdebstrap, enable the service, mksquashfs the whole tree
    (kernel and initramfs included, same compressor), GRUB + FAT + GPT assembly."""
    root, out = workdir / "root", workdir / "out"
    out.mkdir(parents=True)
    packages = sorted(
        {*engine_packages(spec), *spec.all_packages(), *scheme_for(spec).packages(spec)}
    )
    platform, efi_name = GRUB[spec.arch]
    modules = Path("/usr/lib/grub") / platform
    fetched = workdir / "fetched"
    hooks = [f'--customize-hook=chroot "$1" systemctl enable {" ".join(spec.services)}']
    if not modules.is_dir():  # GRUB for a foreign architecture: its package's files
        hooks.append(
            f"--customize-hook={fetch_hook((f'grub-efi-{spec.arch}-bin',), fetched, spec.arch)}"
        )
    started = time.monotonic()
    run(
        [
            "unshare", "--mount", "--propagation", "private", "--",
            "mmdebstrap", "--mode=root", "--variant=minbase", f"--architectures={spec.arch}",
            f"--components={','.join(spec.components)}", f"--include={','.join(packages)}",
            f"--setup-hook={cache_link_in_hook(cache)}", *hooks,
            spec.suite, str(root), *sources_lines(spec, EngineOptions()),
        ],
        timeout=3600,
    )  # fmt: skip
    if not modules.is_dir():
        run(["dpkg-deb", "-x", str(next(fetched.glob("*.deb"))), str(fetched / "x")])
        modules = fetched / "x/usr/lib/grub" / platform
    system_img = out / "system.img"
    run(["mksquashfs", str(root), str(system_img), "-noappend", "-no-progress",
         "-comp", "xz", "-b", "1M"], timeout=1800)  # fmt: skip
    cfg = workdir / "grub.cfg"
    cfg.write_text(
        "search --file --set=root /system.img\nloopback loop /system.img\n"
        "linux (loop)/vmlinuz root=/dev/sda2\ninitrd (loop)/initrd.img\nboot\n"
    )
    efi = workdir / efi_name
    run(["grub-mkstandalone", "-O", platform, "-d", str(modules), "-o", str(efi),
         f"boot/grub/grub.cfg={cfg}"])  # fmt: skip
    fat_mib = max(64, 2 * system_img.stat().st_size // MIB + 32)
    fat = workdir / "fat.img"
    run(["mkfs.vfat", "-F", "32", "-C", str(fat), str(fat_mib * 1024)])
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    run(["mmd", "-i", str(fat), "::EFI", "::EFI/BOOT"], env=env)
    run(["mcopy", "-i", str(fat), str(efi), f"::EFI/BOOT/{efi_name}"], env=env)
    run(["mcopy", "-i", str(fat), str(system_img), "::system.img"], env=env)
    data = workdir / "data.img"
    run(["mke2fs", "-q", "-t", "ext4", str(data), "64M"])
    disk = out / "disk.img"
    with disk.open("wb") as handle:
        handle.truncate((fat_mib + 66) * MIB)
    layout = f"label: gpt\nstart=2048, size={fat_mib * 2048}, type=U\nsize=131072, type=L\n"
    run(["sfdisk", str(disk)], input=layout.encode())
    run(["dd", f"if={fat}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse"])
    run(["dd", f"if={data}", f"of={disk}", "bs=1M", f"seek={1 + fat_mib}", "conv=notrunc,sparse"])
    return time.monotonic() - started, system_img


def grub_modules(arch: str, hand_dir: Path) -> Path:
    """GRUB's EFI modules: the host's, or those hand_build fetched for a foreign arch."""
    platform, _ = GRUB[arch]
    host = Path("/usr/lib/grub") / platform
    return host if host.is_dir() else hand_dir / "fetched/x/usr/lib/grub" / platform


def plain_debian_disk(root: Path, workdir: Path, arch: str, hand_dir: Path) -> Path:
    """The reference a product manager would compare with: the same packages (hand_build's
    tree) booted the stock way, Debian's kernel and its own initramfs (MODULES=most) with
    the root file system on an ext4 partition, GRUB from an ESP on the same UEFI firmware."""
    platform, efi_name = GRUB[arch]
    kernel = sorted((root / "boot").glob("vmlinuz-*"))[-1].name
    initrd = sorted((root / "boot").glob("initrd.img-*"))[-1].name
    cfg = workdir / "plain-grub.cfg"
    cfg.write_text(
        "insmod part_gpt\ninsmod ext2\nsearch --label --set=root plainroot\n"
        f"linux /boot/{kernel} root=LABEL=plainroot rw console=tty0 console=ttyS0,115200\n"
        f"initrd /boot/{initrd}\nboot\n"
    )
    efi = workdir / f"plain-{efi_name}"
    run(["grub-mkstandalone", "-O", platform, "-d", str(grub_modules(arch, hand_dir)),
         "-o", str(efi), f"boot/grub/grub.cfg={cfg}"])  # fmt: skip
    esp = workdir / "plain-esp.img"
    run(["mkfs.vfat", "-F", "32", "-C", str(esp), str(64 * 1024)])
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    run(["mmd", "-i", str(esp), "::EFI", "::EFI/BOOT"], env=env)
    run(["mcopy", "-i", str(esp), str(efi), f"::EFI/BOOT/{efi_name}"], env=env)
    root_mib = du_kib(root) * 3 // 2 // 1024 + 256
    part = workdir / "plain-root.img"
    run(["mke2fs", "-q", "-t", "ext4", "-L", "plainroot", "-d", str(root), str(part),
         f"{root_mib}M"], timeout=1800)  # fmt: skip
    disk = workdir / "plain-debian.img"
    with disk.open("wb") as handle:
        handle.truncate((64 + root_mib + 2) * MIB)
    layout = f"label: gpt\nstart=2048, size={64 * 2048}, type=U\nsize={root_mib * 2048}, type=L\n"
    run(["sfdisk", str(disk)], input=layout.encode())
    run(["dd", f"if={esp}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse"])
    run(["dd", f"if={part}", f"of={disk}", "bs=1M", "seek=65", "conv=notrunc,sparse"])
    return disk


def firmware_share(root: Path, workdir: Path) -> int:
    """Bytes /usr/lib/firmware takes in system.img: the directory packed alone the same way
    (the engine's compressor and block size), and the CPU microcode in front of the initramfs
    (stored as is), which the engine moves there from /usr/lib/firmware."""
    from image_builder.initramfs import early_archive_length

    initramfs = root / "boot/initramfs"
    microcode = early_archive_length(initramfs.read_bytes()) if initramfs.is_file() else 0
    firmware = root / "usr/lib/firmware"
    if not firmware.is_dir():
        return microcode
    packed = workdir / "firmware.sqfs"
    run(["mksquashfs", str(firmware), str(packed), "-noappend", "-no-progress",
         "-comp", "xz", "-b", squashfs_block(root)], timeout=1800)  # fmt: skip
    return packed.stat().st_size + microcode


def du_kib(path: Path) -> int:
    if not path.exists():
        return 0
    output = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout
    return int(output.split()[0])


def breakdown(root: Path, manifest: dict) -> None:
    print("\nWhat system.img holds (uncompressed, from the engine's tree):")
    total = du_kib(root)
    parts = {
        "kernel modules (usr/lib/modules)": "usr/lib/modules",
        "firmware (usr/lib/firmware)": "usr/lib/firmware",
        "kernel (boot/kernel)": "boot/kernel",
        "initramfs (boot/initramfs, compressed)": "boot/initramfs",
        "python3 stdlib (usr/lib/python3.*)": "usr/lib/python3.11",
        "usr/share": "usr/share",
        "var/lib (dpkg database...)": "var/lib",
    }
    for label, relative in parts.items():
        size = du_kib(root / relative)
        print(f"  {label:42} {size / 1024:8.1f} MiB  {100 * size / total:5.1f} %")
    print(f"  {'whole tree':42} {total / 1024:8.1f} MiB")
    sizes = manifest["installed_size_kib"]
    largest = sorted(sizes.items(), key=lambda item: -int(item[1] or 0))[:12]
    print("\nLargest packages (dpkg Installed-Size):")
    for name, kib in largest:
        print(f"  {name:42} {int(kib) / 1024:8.1f} MiB")


def rootfs_phases(build_log: Path) -> list[tuple[str, float]]:
    """Seconds between mmdebstrap's progress lines ("HH:MM:SS I: ..." in build.log)."""
    marks: list[tuple[str, float]] = []
    end = 0.0
    for line in build_log.read_text(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        try:
            hours, minutes, seconds = (int(part) for part in stamp.split(":"))
        except ValueError:
            continue
        moment = hours * 3600 + minutes * 60 + seconds
        for prefix, label in MMDEBSTRAP_PHASES:
            if text.startswith(prefix) and label not in {name for name, _ in marks}:
                marks.append((label, moment))
        if "step rootfs done" in text:
            end = moment
            break
    bounds = [moment for _, moment in marks] + [end]
    return [(label, bounds[i + 1] - moment) for i, (label, moment) in enumerate(marks)]


def boot_time(
    disk: Path, workdir: Path, arch: str, name: str, *, no_menu: bool = False
) -> dict[str, float]:
    """Seconds from QEMU start to the serial console's login prompt, and per phase as the
    boot test splits it (boottest.PHASES). no_menu: a system.cfg that skips the engine's 2 s
    boot menu (the plain reference has none), as the boot test does."""
    from image_builder.boottest import INIT_RE, PHASES
    from image_builder.image_tools import write_boot_file
    from image_builder.qemu import Arm64UefiVM, QemuVM

    copy = workdir / f"{name}-boot.img"
    subprocess.run(["cp", "--sparse=always", str(disk), str(copy)], check=True)
    if no_menu:
        write_boot_file(copy, "system.cfg", b"set timeout=0\n")
    machine = Arm64UefiVM if arch == "arm64" else QemuVM
    with machine(copy, log_path=workdir / f"{name}-console.log") as vm:
        init_line = vm.expect(INIT_RE.pattern, 600)
        init_at = time.monotonic() - vm.started_at
        vm.expect("Welcome to ", 600)
        welcome_at = time.monotonic() - vm.started_at
        login_at = vm.wait_for_login_prompt(600)
        vm.kill()
    kernel = float(INIT_RE.search(init_line).group(1))  # type: ignore[union-attr]
    durations = (init_at - kernel, kernel, welcome_at - init_at, login_at - welcome_at)
    return {"to login": login_at, **dict(zip(PHASES, durations, strict=True))}


def spec_from_file(path: Path) -> BuildSpec:
    return BuildSpec.from_dict(json.loads(path.read_text())).normalise()


def board_spec(board: str) -> BuildSpec:
    """The minimal blueprint merged with a seeded profile, as the web merges it."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genpack_site.settings")
    django.setup()
    from blueprints.buildspec import buildspec_for
    from tests.image_builder.boards import minimal_blueprint, seeded_profile

    # As a product manager's build gets it: without the tests' access point and hwsim radio.
    return buildspec_for(minimal_blueprint(), seeded_profile(board))


def timed_build(spec: BuildSpec, workdir: Path, name: str, **options) -> tuple[float, object]:
    started = time.monotonic()
    result = build(
        spec,
        workdir=workdir / f"{name}-work",
        outdir=workdir / f"{name}-out",
        options=EngineOptions(build_id="bench", **options),
        reporter=NullReporter(),
    )
    return time.monotonic() - started, result


def warm_rebuild(spec: BuildSpec, workdir: Path, package: str) -> int:
    """Issue 14's incremental builds: the blueprint, then the blueprint plus `package` on
    the cached base, against cold builds of that same spec (fresh base; an empty .deb cache
    and the warm one), and the warm image's files against the cold one's."""
    from dataclasses import replace

    from image_builder import image_diff

    changed = replace(spec, packages=(*spec.packages, package)).normalise()
    bases, debs = workdir / "base-cache", workdir / "deb-cache"
    first, _ = timed_build(spec, workdir, "first", base_cache_dir=bases, apt_cache_dir=debs)
    warm, warm_result = timed_build(
        changed, workdir, "warm", base_cache_dir=bases, apt_cache_dir=debs
    )
    cold, cold_result = timed_build(
        changed, workdir, "cold", base_cache_dir=workdir / "cold-bases", fresh_base=True,
        apt_cache_dir=workdir / "cold-debs",
    )  # fmt: skip
    cold_debs, _ = timed_build(
        changed, workdir, "cold-warm-debs", base_cache_dir=workdir / "cold-bases",
        fresh_base=True, apt_cache_dir=debs,
    )  # fmt: skip
    print(f"Spec {spec.name} ({spec.profile}) + {package}")
    print(f"  first build (cold, makes the base)      {first:8.1f} s")
    print(f"  warm rebuild, + {package:22} {warm:8.1f} s")
    print(f"  cold build of the same spec             {cold:8.1f} s   ratio {warm / cold:.2f}"
          "  <= 0.50 (fresh base, empty .deb cache)")  # fmt: skip
    print(f"  cold build, .deb cache warm             {cold_debs:8.1f} s   ratio "
          f"{warm / cold_debs:.2f}  (fresh base only)")  # fmt: skip
    print(
        "  warm rebuild's steps: " + ", ".join(f"{k} {v} s" for k, v in warm_result.timings.items())
    )
    print(
        "  cold build's steps:   " + ", ".join(f"{k} {v} s" for k, v in cold_result.timings.items())
    )
    diff = image_diff.compare(
        cold_result.artifact("system-img").path, warm_result.artifact("system-img").path,
        workdir / "diff",
    )  # fmt: skip
    beyond = diff.beyond()
    print(f"  same files as the cold build: {diff.files} files compared (unsquashfs -lls, "
          f"sha256); differing: {', '.join(diff.differing) or 'none'}")  # fmt: skip
    print(
        f"  differences beyond build times: {len(beyond)} {'(PASS)' if not beyond else beyond[:20]}"
    )
    return 0 if not beyond else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "tests/image_builder/data/minimal.json")
    parser.add_argument(
        "--board", help="a seeded profile (e.g. arm64-uefi): the minimal blueprint built for it"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/genpack-bench"))
    parser.add_argument("--no-boot", action="store_true")
    parser.add_argument(
        "--warm-cache", action="store_true", help="both builds use the host's .deb cache"
    )
    parser.add_argument(
        "--warm-rebuild", metavar="PACKAGE", nargs="?", const="less",
        help="measure a rebuild on the cached base after adding PACKAGE (default: less)",
    )  # fmt: skip
    args = parser.parse_args()
    spec = board_spec(args.board) if args.board else spec_from_file(args.spec)
    if args.workdir.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(args.workdir)], check=True)
    args.workdir.mkdir(parents=True)
    if args.warm_rebuild:
        return warm_rebuild(spec, args.workdir, args.warm_rebuild)

    caches = (DEFAULT_CACHE_DIR, DEFAULT_CACHE_DIR)
    if not args.warm_cache:  # cold: each build downloads every package itself
        caches = (args.workdir / "cache-engine", args.workdir / "cache-hand")
        for cache in caches:
            cache.mkdir()
    started = time.monotonic()
    result = build(
        spec,
        workdir=args.workdir / "engine-work",
        outdir=args.workdir / "engine-out",
        # An empty base cache: a cold build as the worker makes one (it stores the base).
        options=EngineOptions(
            keep_workdir=True,
            build_id="bench",
            apt_cache_dir=caches[0],
            base_cache_dir=args.workdir / "base-cache",
        ),
        reporter=NullReporter(),
    )
    engine_seconds = time.monotonic() - started
    engine_img = result.artifact("system-img").path
    hand_seconds, hand_img = hand_build(spec, args.workdir / "hand", caches[1])
    engine_root = args.workdir / "engine-work" / "root"
    firmware = firmware_share(engine_root, args.workdir)

    engine_size, hand_size = engine_img.stat().st_size, hand_img.stat().st_size
    name = args.board or args.spec.name
    print(f"Spec {name} ({spec.profile}, {spec.arch}, {len(result.packages)} packages installed)")
    cache = "warm .deb cache" if args.warm_cache else "cold .deb cache"
    print(f"{'':24}{'engine':>12}{'by hand':>12}{'ratio':>8}  target")
    print(
        f"{'wall time (s)':24}{engine_seconds:12.1f}{hand_seconds:12.1f}"
        f"{engine_seconds / hand_seconds:8.2f}  <= 0.50 ({cache})"
    )
    print(f"{'system.img (MiB)':24}{engine_size / MIB:12.1f}{hand_size / MIB:12.1f}"
          f"{engine_size / hand_size:8.2f}")  # fmt: skip
    print(f"  of which firmware     {firmware / MIB:12.1f}")
    target = SIZE_TARGETS_MIB.get(spec.profile)
    if target:
        measured = engine_size - firmware
        print(f"{'without firmware':24}{measured / MIB:12.1f}{target:12.0f}"
              f"{measured / MIB / target:8.2f}  <= 1.00 (target, MiB)")  # fmt: skip
    manifest = json.loads(result.artifact("manifest").path.read_text())
    print(f"kernel modules kept: {len(manifest.get('kernel_modules', []))}")
    if spec.arch == "arm64":
        print(
            f"{'arm64 engine vs target':24}{engine_seconds:12.1f}{ARM64_TARGET_SECONDS:12.0f}"
            f"{engine_seconds / ARM64_TARGET_SECONDS:8.2f}  <= 1.00"
        )
    print("\nWhere the engine's time went:")
    for step, seconds in result.timings.items():
        print(f"  {step:42} {seconds:8.1f} s")
    for phase, seconds in rootfs_phases(result.artifact("log").path):
        print(f"    rootfs: {phase:34} {seconds:8.1f} s")
    if not args.no_boot:
        disk = result.artifact("disk-raw").path
        engine = boot_time(disk, args.workdir, spec.arch, "engine", no_menu=True)
        hand_dir = args.workdir / "hand"
        plain = plain_debian_disk(hand_dir / "root", args.workdir, spec.arch, hand_dir)
        reference = boot_time(plain, args.workdir, spec.arch, "plain")
        print(f"boot to login: prompt (QEMU TCG, UEFI, {spec.arch}; no boot menu wait), seconds:")
        print(f"{'':24}{'engine':>12}{'plain Debian':>14}{'ratio':>8}  target")
        for phase, seconds in engine.items():
            ratio = seconds / reference[phase] if reference[phase] else float("nan")
            target = "  <= 1.00 (plain: stock kernel + initramfs, ext4 root)"
            print(f"{phase[:24]:24}{seconds:12.1f}{reference[phase]:14.1f}{ratio:8.2f}"
                  f"{target if phase == 'to login' else ''}")  # fmt: skip
    breakdown(engine_root, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
