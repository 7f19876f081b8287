"""UEFI with GRUB (PCs, KVM guests, arm64 servers and VMs): one standalone GRUB EFI binary.

The binary at EFI/BOOT/BOOT{X64,AA64}.EFI carries its config and every module it needs, so the
FAT holds nothing else of GRUB's; it loop-mounts system.img and boots the kernel inside it.
GRUB's modules come from the host when it has them for the target (grub-efi-amd64-bin on x86
hosts), otherwise from the target's own package, fetched from the mirror and never installed.
"""

from __future__ import annotations

from pathlib import Path

from .. import bootchain
from ..customize import device_file
from ..errors import BuildError
from ..spec import BuildSpec
from . import BootContext, BootPartition

STEP = "boot"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

# Per architecture: GRUB platform, its package, the removable-media file name UEFI looks for.
PLATFORMS = {
    "amd64": ("x86_64-efi", "grub-efi-amd64-bin", "BOOTX64.EFI"),
    "arm64": ("arm64-efi", "grub-efi-arm64-bin", "BOOTAA64.EFI"),
}
GRUB_MODULES = (
    "normal linux search search_fs_uuid loopback squash4 xzio gzio fat part_gpt part_msdos "
    "configfile echo test true sleep efi_gop ls cat reboot halt minicmd"
)
X86_ONLY_MODULES = "efi_uga"  # the UGA protocol exists only in x86 firmware


def host_modules(platform: str) -> Path:
    return Path("/usr/lib/grub") / platform


class UefiGrub:
    name = "uefi-grub"
    partition = BootPartition(gpt_type=ESP_TYPE, mbr_type="ef")

    def packages(self, spec: BuildSpec) -> tuple[str, ...]:
        return ()

    def fetched_packages(self, spec: BuildSpec) -> tuple[str, ...]:
        platform, package, _ = PLATFORMS[spec.arch]
        return () if host_modules(platform).is_dir() else (package,)

    def device_trees(self, root: Path, kernel_version: str) -> list[Path]:
        return []

    def initramfs_modules(self, spec: BuildSpec) -> tuple[str, ...]:
        return ()  # the hook's PC / VM list covers UEFI machines of both architectures

    def kernel_command_line(self, spec: BuildSpec, volume_id: str) -> str:
        return " ".join(
            arg
            for arg in (
                f"root=systemimg:{bootchain.fat_uuid(volume_id)}",
                "boot=genpack",
                bootchain.kernel_command_line(spec),
            )
            if arg
        )

    def modules_dir(self, context: BootContext) -> Path:
        platform, package, _ = PLATFORMS[context.spec.arch]
        if host_modules(platform).is_dir():
            return host_modules(platform)
        unpacked = context.files_dir / "grub-modules"
        debs = sorted(context.fetched_dir.glob(f"{package}_*.deb"))
        if not debs:
            raise BuildError(STEP, f"{package} was not fetched from the mirror")
        context.runner.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], step=STEP)
        return unpacked / "usr/lib/grub" / platform

    def prepare(self, context: BootContext) -> dict[str, Path]:
        spec = context.spec
        platform, _, file_name = PLATFORMS[spec.arch]
        title = f"{spec.name} {spec.version}".strip()
        uuid = bootchain.fat_uuid(context.volume_id)
        config = (
            device_file("grub.cfg.in")
            .decode()
            .replace("@FAT_UUID_LOWER@", uuid.lower())
            .replace("@FAT_UUID@", uuid)
            .replace("@KERNEL_ARGS@", bootchain.kernel_command_line(spec))
            .replace("@TITLE@", title.replace('"', "'"))
        )
        config_path = context.files_dir / "grub.cfg"
        config_path.write_text(config)
        modules = GRUB_MODULES + (f" {X86_ONLY_MODULES}" if spec.arch == "amd64" else "")
        output = context.files_dir / file_name
        context.runner.run(
            [
                "grub-mkstandalone",
                f"--format={platform}",
                f"--directory={self.modules_dir(context)}",
                f"--output={output}",
                f"--install-modules={modules}",
                "--modules=part_gpt part_msdos fat",
                "--locales=",
                "--fonts=",
                "--themes=",
                "--compress=xz",
                f"boot/grub/grub.cfg={config_path}",
            ],
            step=STEP,
        )
        return {f"EFI/BOOT/{file_name}": output}
