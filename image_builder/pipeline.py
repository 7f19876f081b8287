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

from . import assemble, boot, bootchain, customize, initramfs, rootfs, sbom, trim
from .assemble import Artifact
from .chroot import Chroot
from .errors import BuildError
from .options import EngineOptions
from .report import Reporter, TeeReporter
from .runner import Runner
from .secrets import is_secret_key, manifest_sources, manifest_spec, secret_values
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
    kernel_modules: list[str] | None = None,
) -> dict:
    """manifest.json: what was built from what. Technicians download it, so the spec is the
    scrubbed one (no password hashes, file contents, setup commands or secret defaults), and
    a mirror's password is not in its apt sources."""
    return {
        "builder_version": BUILDER_VERSION,
        "build": build_id,
        "spec": manifest_spec(spec.to_dict()),
        "spec_hash": spec.spec_hash(),
        "fat_uuid": fat_uuid,
        "kernel_command_line": kernel_command_line,
        "sources": manifest_sources(sources) if isinstance(sources, list) else sources,
        "packages": {name: p["version"] for name, p in sorted(packages.items())},
        "installed_size_kib": {name: p["installed_kib"] for name, p in sorted(packages.items())},
        # The kernel modules the image carries (image_builder/kmods.py chose them).
        "kernel_modules": sorted(kernel_modules or ()),
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


class _Build:
    """One run of build(): the steps in order, each a method, sharing the run's state."""

    def __init__(
        self, spec: BuildSpec, workdir: Path, options: EngineOptions, reporter: Reporter,
        system_ini: str | None,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.workdir = workdir
        self.options = options
        self.system_ini = system_ini
        self.stage = workdir / "out"
        self.stage.mkdir()
        self.tee = TeeReporter(reporter, self.stage / "build.log")
        self.runner = Runner(self.tee, default_timeout=options.command_timeout)
        self.runner.add_secrets(build_secrets(spec, system_ini))
        self.tee.mask = self.runner.mask
        self.root = workdir / "root"
        self.chroot = Chroot(self.root, self.runner)
        self.build_id = options.build_id
        self.timings: dict[str, float] = {}
        self.volume_id = bootchain.new_fat_volume_id()
        self.disk = self.stage / f"{spec.name}-{spec.profile}.img"
        self.system_img = self.stage / "system.img"
        self.packages: dict[str, dict[str, str]] = {}
        self.kernel_modules: list[str] = []  # what the module cut kept (bootchain)
        self.produced: list[tuple[str, Path]] = []
        self.scheme = boot.scheme_for(spec)
        self.fetched = workdir / "fetched"  # .debs the boot scheme takes files from
        self.boot_files_dir = workdir / "boot-files"
        self.boot_files: dict[str, Path] = {}  # FAT destination → file, made by the scheme

    def run_steps(self) -> None:
        spec, root, runner = self.spec, self.root, self.runner
        steps: list[tuple[str, Callable[[], object]]] = [
            ("rootfs", self.rootfs),
            ("customize", lambda: customize.customize(spec, root, self.chroot, self.build_id)),
            ("boot", self.boot),
            ("trim", lambda: trim.trim(spec, root, self.chroot, runner)),
            ("squashfs", self.squashfs),
            ("disk", self.disk_image),
            ("outputs", self.outputs),
        ]
        for index, (name, action) in enumerate(steps, 1):
            self.tee.step(name, index, len(STEPS))
            started = time.monotonic()
            action()
            self.timings[name] = round(time.monotonic() - started, 1)
            self.tee.log(f"step {name} done in {self.timings[name]} s")
            self.tee.progress(index / len(STEPS))

    def rootfs(self) -> None:
        rootfs.build_rootfs(
            self.spec,
            self.root,
            self.options,
            self.runner,
            boot_packages=self.scheme.packages(self.spec),
            fetch=self.scheme.fetched_packages(self.spec),
            fetch_dir=self.fetched,
        )

    def boot(self) -> None:
        spec = self.spec
        version = bootchain.kernel_version(self.root)
        boot_modules = self.scheme.initramfs_modules(spec)
        self.kernel_modules = bootchain.cut_kernel_modules(
            spec,
            self.root,
            self.chroot,
            version,
            boot_modules=boot_modules,
            device_trees=self.scheme.device_trees(self.root, version),
        )
        bootchain.place_kernel(self.root, version)
        initramfs.make_initramfs(
            self.root, version, boot_modules, self.runner, self.workdir / "initramfs"
        )
        self.tee.log(
            f"kernel {version}: /boot/kernel, /boot/initramfs "
            f"({(self.root / 'boot/initramfs').stat().st_size // 1024} KiB)"
        )
        self.boot_files_dir.mkdir()
        context = boot.BootContext(
            spec=spec,
            root=self.root,
            files_dir=self.boot_files_dir,
            fetched_dir=self.fetched,
            volume_id=self.volume_id,
            kernel_version=version,
            runner=self.runner,
        )
        self.boot_files = self.scheme.prepare(context)

    def squashfs(self) -> None:
        self.packages.update(assemble.installed_packages(self.root, self.runner))
        # Read before the product's files land: they cannot stand in for dpkg's status or a
        # package's copyright file.
        bill = sbom.sbom_document(self.spec, self.root, self.build_id)
        # Last change to the tree, after every command that runs in it (setup commands,
        # services, purges, update-initramfs, trim) and after the package list is read.
        customize.place_product_files(self.spec, self.root, self.runner)
        assemble.write_metadata(self.spec, self.root, self.build_id, self.packages)
        assemble.stamp_etc_up_to_date(self.root)
        sbom.write_sbom(bill, self.root / sbom.SBOM_IN_IMAGE)
        published = sbom.write_sbom(
            bill, self.stage / f"{self.spec.name}-{self.spec.profile}.spdx.json"
        )
        self.produced.append(("sbom", published))
        self.tee.log(
            f"SBOM: {len(bill['packages']) - 1} packages (SPDX 2.3), /{sbom.SBOM_IN_IMAGE}"
        )
        assemble.make_squashfs(self.spec, self.root, self.system_img, self.runner)
        self.tee.log(f"system.img: {self.system_img.stat().st_size / 2**20:.1f} MiB")
        if not self.options.keep_workdir:
            remove_tree(self.root)

    def disk_image(self) -> None:
        workdir = self.workdir
        ini_path = workdir / "system.ini"
        ini_text = self.system_ini
        if ini_text is None:
            ini_text = default_system_ini(self.spec, self.build_id)
        ini_path.write_bytes(ini_text.encode("utf-8"))
        readme = workdir / "README.TXT"
        readme.write_text(readme_text(self.spec, self.build_id))
        fat_image = workdir / "fat.img"
        files = {
            **self.boot_files,
            "system.img": self.system_img,
            "system.ini": ini_path,
            "README.TXT": readme,
        }
        assemble.make_fat(
            path=fat_image,
            size_mib=assemble.fat_size_mib(self.system_img, self.boot_files.values()),
            volume_id=self.volume_id,
            files=files,
            runner=self.runner,
        )
        assemble.assemble_disk(
            disk=self.disk,
            fat_image=fat_image,
            data_label=assemble.data_label(self.volume_id),
            table=self.spec.partition_table,
            boot_partition=self.scheme.partition,
            workdir=workdir,
            runner=self.runner,
        )
        fat_image.unlink()
        self.produced.extend([("system-img", self.system_img), ("disk-raw", self.disk)])

    def outputs(self) -> None:
        self.produced.extend(assemble.compress_outputs(self.spec, self.disk, self.runner))

    def publish_to(self, outdir: Path) -> BuildResult:
        """Checksums and manifest next to the images, then everything into outdir at once."""
        stage = self.stage
        sums = assemble.write_sums(stage, self.produced)
        artifacts = [
            Artifact(kind, path, path.stat().st_size, assemble.sha256_file(path))
            for kind, path in self.produced
        ]
        manifest = manifest_data(
            self.spec,
            build_id=self.build_id,
            fat_uuid=bootchain.fat_uuid(self.volume_id),
            kernel_command_line=self.scheme.kernel_command_line(self.spec, self.volume_id),
            sources=rootfs.sources_lines(self.spec, self.options),
            packages=self.packages,
            artifacts=artifacts,
            timings=self.timings,
            kernel_modules=self.kernel_modules,
        )
        manifest_path = assemble.write_manifest(stage / "manifest.json", manifest)
        self.tee.log(f"build finished: {sum(self.timings.values()):.0f} s in steps")
        self.tee.close()
        extra = [sums, manifest_path, stage / "build.log"]
        published = publish([path for _, path in self.produced] + extra, outdir)
        by_name = {path.name: path for path in published}
        final = [Artifact(a.kind, by_name[a.path.name], a.size, a.sha256) for a in artifacts]
        for kind, path in zip(("sha256sums", "manifest", "log"), extra, strict=True):
            moved = by_name[path.name]
            final.append(Artifact(kind, moved, moved.stat().st_size, assemble.sha256_file(moved)))
        return BuildResult(
            artifacts=final,
            timings=self.timings,
            spec_hash=self.spec.spec_hash(),
            fat_uuid=bootchain.fat_uuid(self.volume_id),
            build_id=self.build_id,
            packages={name: p["version"] for name, p in self.packages.items()},
        )


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
    run = _Build(spec, workdir, options, reporter, system_ini)
    try:
        run.run_steps()
        return run.publish_to(outdir)
    except BuildError as error:
        run.tee.log(f"BUILD FAILED in step {error.step}: {error.message}")
        raise
    finally:
        run.tee.close()
        if not options.keep_workdir:
            remove_tree(workdir)
