"""build(): a normalised BuildSpec in, published artifacts out.

Everything happens in `workdir`; only a complete set of artifacts is moved to `outdir`, so a
failed or cancelled build leaves nothing there (the caller publishes atomically too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import assemble, bootchain, customize, rootfs, trim
from .assemble import Artifact
from .chroot import Chroot
from .errors import BuildError
from .options import EngineOptions
from .report import Reporter, TeeReporter
from .runner import Runner
from .secrets import is_secret_key, manifest_spec, secret_values
from .spec import BUILDER_VERSION, BuildSpec

STEPS = ("rootfs", "customize", "boot", "trim", "squashfs", "disk", "outputs")


@dataclass
class BuildResult:
    artifacts: list[Artifact]
    timings: dict[str, float]
    spec_hash: str
    fat_uuid: str
    build_id: str = "local"
    packages: dict[str, str] = field(default_factory=dict)

    def artifact(self, kind: str) -> Artifact:
        return next(a for a in self.artifacts if a.kind == kind)


def default_system_ini(spec: BuildSpec, build_id: str) -> str:
    from appliance import system_ini

    settings = []
    for item in spec.settings:
        settings.append(system_ini.AppSetting(**{**item, "choices": tuple(item["choices"])}))
    header = f"{spec.name} {spec.version} for {spec.profile}, build {build_id}".replace("  ", " ")
    return system_ini.render_system_ini(
        {},
        capabilities=frozenset(spec.capabilities or ("ethernet",)),
        app_settings=settings,
        header=header,
    )


def build_secrets(spec: BuildSpec, system_ini_text: str | None = None) -> list[str]:
    """Values the build log must never show: the spec's secrets (secrets.py) and the secret
    keys of the system.ini that goes onto the boot partition (the default Wi-Fi key)."""
    from appliance import system_ini

    values = secret_values(spec.to_dict())
    if system_ini_text:
        parsed = system_ini.parse_ini(system_ini_text)
        sections = [parsed.top, *parsed.sections.values()]
        values += [
            value
            for keys in sections
            for key, value in keys.items()
            if is_secret_key(key) and len(value) >= 4
        ]
    return values


def manifest_data(
    spec: BuildSpec,
    *,
    build_id: str,
    fat_uuid: str,
    kernel_command_line: str,
    sources: object,
    packages: dict[str, dict[str, str]],
    artifacts: list[Artifact],
    timings: dict[str, float],
) -> dict:
    """manifest.json: what was built from what. Technicians download it, so the spec is the
    scrubbed one (no password hashes, file contents, setup commands or secret defaults)."""
    return {
        "builder_version": BUILDER_VERSION,
        "build": build_id,
        "spec": manifest_spec(spec.to_dict()),
        "spec_hash": spec.spec_hash(),
        "fat_uuid": fat_uuid,
        "kernel_command_line": kernel_command_line,
        "sources": sources,
        "packages": {name: p["version"] for name, p in sorted(packages.items())},
        "installed_size_kib": {name: p["installed_kib"] for name, p in sorted(packages.items())},
        "artifacts": [
            {"kind": a.kind, "name": a.path.name, "size": a.size, "sha256": a.sha256}
            for a in artifacts
        ],
        "timings": timings,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def readme_text(spec: BuildSpec, build_id: str) -> str:
    text = (
        customize.device_file("README.TXT.in")
        .decode()
        .replace("@TITLE@", f"{spec.name} {spec.version} ({spec.profile})".replace("  ", " "))
        .replace("@BUILD@", build_id)
        .replace("@DATE@", time.strftime("%Y-%m-%d"))
    )
    return text.replace("\n", "\r\n")


def remove_tree(path: Path) -> None:
    """rm with --one-file-system: a stray mount in the tree stops it instead of being emptied."""
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def publish(files: list[Path], outdir: Path) -> list[Path]:
    """Move finished files into outdir: a fresh staging directory renamed into place when
    outdir is absent or empty, so readers never see half a set."""
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    for path in files:
        shutil.move(str(path), staging / path.name)
    if outdir.exists() and not any(outdir.iterdir()):
        outdir.rmdir()
    if not outdir.exists():
        os.replace(staging, outdir)
    else:  # caller gave a non-empty directory: add our files one by one (each atomic)
        for path in staging.iterdir():
            os.replace(path, outdir / path.name)
        staging.rmdir()
    return [outdir / path.name for path in files]


def build(
    spec: BuildSpec,
    *,
    workdir: Path,
    outdir: Path,
    options: EngineOptions,
    reporter: Reporter,
    system_ini: str | None = None,
) -> BuildResult:
    spec = spec.normalise()
    workdir = Path(workdir).resolve()
    outdir = Path(outdir).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        raise BuildError("prepare", f"work directory {workdir} is not empty")
    workdir.mkdir(parents=True, exist_ok=True)
    stage = workdir / "out"
    stage.mkdir()
    tee = TeeReporter(reporter, stage / "build.log")
    runner = Runner(tee, default_timeout=options.command_timeout)
    runner.add_secrets(build_secrets(spec, system_ini))
    tee.mask = runner.mask
    root = workdir / "root"
    chroot = Chroot(root, runner)
    build_id = options.build_id
    timings: dict[str, float] = {}
    volume_id = bootchain.new_fat_volume_id()
    base = f"{spec.name}-{spec.profile}"
    disk = stage / f"{base}.img"
    system_img = stage / "system.img"
    packages: dict[str, dict[str, str]] = {}
    produced: list[tuple[str, Path]] = []

    def run_step(index: int, name: str, action: Callable[[], object]) -> None:
        tee.step(name, index, len(STEPS))
        started = time.monotonic()
        action()
        timings[name] = round(time.monotonic() - started, 1)
        tee.log(f"step {name} done in {timings[name]} s")
        tee.progress(index / len(STEPS))

    def do_boot() -> None:
        version = bootchain.make_initramfs(spec, root, chroot)
        bootchain.place_kernel(root, version)
        tee.log(
            f"kernel {version}: /boot/kernel, /boot/initramfs "
            f"({(root / 'boot/initramfs').stat().st_size // 1024} KiB)"
        )

    def do_squashfs() -> None:
        packages.update(assemble.installed_packages(root, runner))
        # Last change to the tree, after every command that runs in it (setup commands,
        # services, purges, update-initramfs, trim) and after the package list is read.
        customize.place_product_files(spec, root, runner)
        assemble.write_metadata(spec, root, build_id, packages)
        assemble.make_squashfs(spec, root, system_img, runner)
        tee.log(f"system.img: {system_img.stat().st_size / 2**20:.1f} MiB")
        if not options.keep_workdir:
            remove_tree(root)

    def do_disk() -> None:
        efi = bootchain.make_grub_efi(spec, volume_id, workdir, runner)
        ini_path = workdir / "system.ini"
        ini_text = system_ini if system_ini is not None else default_system_ini(spec, build_id)
        ini_path.write_bytes(ini_text.encode("utf-8"))
        readme = workdir / "README.TXT"
        readme.write_text(readme_text(spec, build_id))
        fat_image = workdir / "fat.img"
        assemble.make_fat(
            path=fat_image,
            size_mib=assemble.fat_size_mib(system_img),
            volume_id=volume_id,
            files={
                "EFI/BOOT/BOOTX64.EFI": efi,
                "system.img": system_img,
                "system.ini": ini_path,
                "README.TXT": readme,
            },
            runner=runner,
        )
        assemble.assemble_disk(
            disk=disk,
            fat_image=fat_image,
            data_label=assemble.data_label(volume_id),
            workdir=workdir,
            runner=runner,
        )
        fat_image.unlink()
        produced.extend([("system-img", system_img), ("disk-raw", disk)])

    def do_outputs() -> None:
        produced.extend(assemble.compress_outputs(spec, disk, runner))

    try:
        run_step(1, "rootfs", lambda: rootfs.build_rootfs(spec, root, options, runner))
        run_step(2, "customize", lambda: customize.customize(spec, root, chroot, build_id))
        run_step(3, "boot", do_boot)
        run_step(4, "trim", lambda: trim.trim(spec, root, chroot, runner))
        run_step(5, "squashfs", do_squashfs)
        run_step(6, "disk", do_disk)
        run_step(7, "outputs", do_outputs)
        sums = assemble.write_sums(stage, produced)
        artifacts = [
            Artifact(kind, path, path.stat().st_size, assemble.sha256_file(path))
            for kind, path in produced
        ]
        manifest = manifest_data(
            spec,
            build_id=build_id,
            fat_uuid=bootchain.fat_uuid(volume_id),
            kernel_command_line=bootchain.kernel_command_line(spec),
            sources=rootfs.sources_lines(spec, options),
            packages=packages,
            artifacts=artifacts,
            timings=timings,
        )
        manifest_path = assemble.write_manifest(stage / "manifest.json", manifest)
        tee.log(f"build finished: {sum(timings.values()):.0f} s in steps")
        tee.close()
        extra = [sums, manifest_path, stage / "build.log"]
        published = publish([path for _, path in produced] + extra, outdir)
        by_name = {path.name: path for path in published}
        final = [Artifact(a.kind, by_name[a.path.name], a.size, a.sha256) for a in artifacts] + [
            Artifact(
                kind,
                by_name[path.name],
                by_name[path.name].stat().st_size,
                assemble.sha256_file(by_name[path.name]),
            )
            for kind, path in zip(("sha256sums", "manifest", "log"), extra, strict=True)
        ]
        return BuildResult(
            artifacts=final,
            timings=timings,
            spec_hash=spec.spec_hash(),
            fat_uuid=bootchain.fat_uuid(volume_id),
            build_id=build_id,
            packages={name: p["version"] for name, p in packages.items()},
        )
    except BuildError as error:
        tee.log(f"BUILD FAILED in step {error.step}: {error.message}")
        raise
    finally:
        tee.close()
        if not options.keep_workdir:
            remove_tree(workdir)
