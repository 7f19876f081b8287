"""Kernel modules by board (image_builder/kmods.py) on a small module tree made here."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from image_builder import BuildSpec, bootchain, kmods
from image_builder.errors import SpecError

from .conftest import minimal_spec_data

MLX = "drivers/net/ethernet/mellanox"
# path under kernel/ → what modules.dep says it needs
MODULES = {
    "drivers/block/virtio_blk.ko": ["drivers/virtio/virtio_ring.ko"],
    "drivers/virtio/virtio_ring.ko": [],
    "drivers/net/ethernet/intel/e1000/e1000.ko": [],
    "drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko": [f"{MLX}/mlxfw/mlxfw.ko"],
    f"{MLX}/mlxfw/mlxfw.ko": [],
    "drivers/net/usb/smsc95xx.ko": ["drivers/net/usb/usbnet.ko", "drivers/net/mii.ko"],
    "drivers/net/usb/usbnet.ko": ["drivers/net/mii.ko"],
    "drivers/net/mii.ko": [],
    "drivers/mmc/host/sdhci-iproc.ko": ["drivers/mmc/host/sdhci-pltfm.ko"],
    "drivers/mmc/host/sdhci-pltfm.ko": [],
    "drivers/gpu/drm/nouveau/nouveau.ko": [],
    "drivers/gpu/drm/amd/amdgpu/amdgpu.ko": [],
    "drivers/gpu/drm/i915/i915.ko": [],
    "fs/ext4/ext4.ko": ["fs/jbd2/jbd2.ko"],
    "fs/jbd2/jbd2.ko": [],
    "fs/btrfs/btrfs.ko": [],
    "crypto/crc32c_generic.ko": [],
    "lib/test_bpf.ko": [],
    "drivers/ata/ahci.ko": [],
    "drivers/scsi/sd_mod.ko": [],
    "drivers/scsi/lpfc/lpfc.ko": [
        "drivers/scsi/scsi_transport_fc.ko", "drivers/nvme/host/nvme-fc.ko",
    ],
    "drivers/scsi/scsi_transport_fc.ko": [],
    "drivers/nvme/host/nvme-fc.ko": [],
    "drivers/nvme/host/nvme.ko": [],
}  # fmt: skip
ALIASES = (
    "alias of:N*T*Cbrcm,bcm2835-sdhciC* sdhci_iproc\n"
    "alias of:N*T*Cbrcm,bcm2835-sdhci sdhci_iproc\n"
    "alias crc32c crc32c_generic\n"
    "alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000\n"
)


@pytest.fixture
def tree(tmp_path: Path) -> kmods.ModuleTree:
    return module_tree(tmp_path / "6.1.0-test")


def module_tree(directory: Path) -> kmods.ModuleTree:
    lines = []
    for path, deps in MODULES.items():
        file = directory / "kernel" / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"\x7fELF module " + path.encode())
        lines.append(f"kernel/{path}: " + " ".join(f"kernel/{dep}" for dep in deps))
    (directory / "modules.dep").write_text("\n".join(lines) + "\n")
    (directory / "modules.alias").write_text(
        "# Aliases extracted from modules themselves.\n" + ALIASES
    )
    (directory / "modules.softdep").write_text("softdep ext4 pre: crc32c\n")
    (directory / "modules.builtin").write_text("kernel/drivers/block/loop.ko\n")
    return kmods.ModuleTree.read(directory)


def kept(tree: kmods.ModuleTree, *selectors: str, compatibles: tuple[str, ...] = ()) -> set[str]:
    keep, unknown = kmods.select(tree, selectors, compatibles)
    assert unknown == []
    return keep


def test_a_module_by_name_comes_with_what_it_depends_on(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "smsc95xx")
    assert {"smsc95xx", "usbnet", "mii"} <= keep
    assert "e1000" not in keep and "virtio_blk" not in keep


def test_names_treat_dashes_and_underscores_alike(tree: kmods.ModuleTree) -> None:
    assert "sdhci_iproc" in kept(tree, "sdhci-iproc")
    assert "sdhci_pltfm" in kept(tree, "sdhci-iproc")


def test_a_directory_keeps_everything_under_it(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "drivers/net/ethernet/")
    assert {"e1000", "mlx5_core", "mlxfw"} <= keep
    assert "smsc95xx" not in keep


def test_an_exclusion_removes_what_a_directory_brought(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "drivers/net/ethernet/", "!drivers/net/ethernet/mellanox/")
    assert "e1000" in keep
    assert not keep & {"mlx5_core", "mlxfw"}


def test_the_ethernet_class_leaves_out_data_centre_adapters(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "@ethernet")
    assert {"e1000", "smsc95xx", "usbnet"} <= keep
    assert "mlx5_core" not in keep


def test_a_class_that_leaves_adapters_out_does_not_stop_the_class_that_adds_them(
    tree: kmods.ModuleTree,
) -> None:
    assert {"mlx5_core", "mlxfw", "e1000"} <= kept(tree, "@ethernet", "@ethernet-datacentre")
    # The profile's own exclusion still wins over every class.
    keep = kept(tree, "@ethernet", "@ethernet-datacentre", "!mlx5_core")
    assert "mlx5_core" not in keep and "e1000" in keep


def test_the_storage_class_leaves_out_server_and_san_adapters(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "@storage")
    assert {"ahci", "sd_mod", "nvme"} <= keep
    assert not keep & {"lpfc", "scsi_transport_fc", "nvme_fc"}
    again = kept(tree, "@storage", "@storage-datacentre")
    assert {"lpfc", "scsi_transport_fc", "nvme_fc", "ahci"} <= again


def test_the_base_keeps_the_images_file_systems_and_their_soft_dependencies(
    tree: kmods.ModuleTree,
) -> None:
    keep = kept(tree)
    assert {"ext4", "jbd2"} <= keep
    assert "crc32c_generic" in keep  # ext4's softdep, by alias
    assert "btrfs" not in keep  # no image uses it
    assert "test_bpf" not in keep  # the kernel's self-tests are never a board's hardware


def test_device_tree_compatibles_select_their_drivers(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "@devicetree", compatibles=("brcm,bcm2835-sdhci", "brcm,bcm2835-gpio"))
    assert {"sdhci_iproc", "sdhci_pltfm"} <= keep
    assert "e1000" not in keep


def test_a_module_name_that_names_nothing_is_reported(tree: kmods.ModuleTree) -> None:
    keep, unknown = kmods.select(tree, ["smsc95xxx", "loop", "drivers/nothing/", "@virtio"])
    assert unknown == ["smsc95xxx"]  # loop is built in; paths and classes may match nothing
    assert "virtio_blk" in keep


def test_prune_deletes_the_rest_and_empty_directories(tree: kmods.ModuleTree) -> None:
    keep = kept(tree, "virtio_blk")
    removed = kmods.prune(tree, keep)
    files = {p.relative_to(tree.directory).as_posix() for p in tree.directory.rglob("*.ko")}
    assert files == {f"kernel/{tree.paths[name].removeprefix('kernel/')}" for name in keep}
    assert removed == len(MODULES) - len(keep)
    assert not (tree.directory / "kernel/drivers/gpu").exists()
    assert (tree.directory / "kernel/drivers/block").is_dir()


def test_unknown_classes_and_bad_selectors_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="unknown kernel module class @wifii"):
        BuildSpec(name="x", kernel_modules=("@wifii",)).normalise()
    for bad in ("../../etc/passwd", "/lib/modules", "a b", "drivers/$(reboot)"):
        with pytest.raises(SpecError, match="kernel_modules"):
            BuildSpec(name="x", kernel_modules=(bad,)).normalise()
    spec = BuildSpec(name="x", kernel_modules=("virtio_blk", "@usb", "!drivers/usb/gadget/"))
    assert spec.normalise().kernel_modules == ("!drivers/usb/gadget/", "@usb", "virtio_blk")


@pytest.mark.skipif(shutil.which("dtc") is None, reason="device-tree-compiler not installed")
def test_dtb_compatibles_reads_every_node(tmp_path: Path) -> None:
    source = tmp_path / "board.dts"
    source.write_text(
        '/dts-v1/;\n/ {\n compatible = "raspberrypi,3-model-b", "brcm,bcm2837";\n'
        ' #address-cells = <1>;\n soc {\n  mmc@7e300000 { compatible = "brcm,bcm2835-sdhci";'
        ' reg = <0x7e300000 0x100>; };\n  gpio { compatible = "brcm,bcm2835-gpio"; };\n'
        '  empty { status = "okay"; };\n };\n};\n'
    )
    blob = tmp_path / "board.dtb"
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", blob, source], check=True)
    assert kmods.dtb_compatibles(blob.read_bytes()) == {
        "raspberrypi,3-model-b",
        "brcm,bcm2837",
        "brcm,bcm2835-sdhci",
        "brcm,bcm2835-gpio",
    }
    with pytest.raises(ValueError, match="not a device tree"):
        kmods.dtb_compatibles(b"\0" * 64)


@dataclass
class DepmodChroot:
    """What cut_kernel_modules runs in the tree: depmod, and the build log."""

    root: Path
    ran: list[tuple[str, ...]] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)

    def run(self, *command: str, step: str, **_kwargs) -> None:
        self.ran.append(command)

    @property
    def runner(self) -> SimpleNamespace:
        return SimpleNamespace(reporter=SimpleNamespace(log=self.logged.append))


def test_a_driver_that_needs_firmware_stays_only_with_its_firmware(tmp_path: Path) -> None:
    spec = BuildSpec.from_dict({**minimal_spec_data(), "kernel_modules": ["@graphics"]})
    root = tmp_path / "root"
    module_tree(root / "usr/lib/modules/6.1.0-test")
    chroot = DepmodChroot(root)
    keep = bootchain.cut_kernel_modules(spec.normalise(), root, chroot, "6.1.0-test")
    assert "i915" in keep and "amdgpu" not in keep
    assert not (root / "usr/lib/modules/6.1.0-test/kernel/drivers/gpu/drm/amd").exists()
    assert any("/usr/lib/firmware/amdgpu" in line for line in chroot.logged)
    assert chroot.ran == [("depmod", "-a", "6.1.0-test")]
    # A profile that never asked for the driver hears nothing about its firmware.
    virtio = BuildSpec.from_dict({**minimal_spec_data(), "kernel_modules": ["@virtio"]})
    quiet = DepmodChroot(tmp_path / "virtio")
    module_tree(quiet.root / "usr/lib/modules/6.1.0-test")
    bootchain.cut_kernel_modules(virtio.normalise(), quiet.root, quiet, "6.1.0-test")
    assert not any("left out" in line for line in quiet.logged)

    with_firmware = tmp_path / "with-firmware"
    module_tree(with_firmware / "usr/lib/modules/6.1.0-test")
    (with_firmware / "usr/lib/firmware/amdgpu").mkdir(parents=True)
    (with_firmware / "usr/lib/firmware/amdgpu/polaris10_mc.bin").write_bytes(b"fw")
    keep = bootchain.cut_kernel_modules(
        spec.normalise(), with_firmware, DepmodChroot(with_firmware), "6.1.0-test"
    )
    assert {"i915", "amdgpu"} <= set(keep)
    assert kmods.firmware_missing(with_firmware / "usr/lib/firmware").keys() == (
        kmods.FIRMWARE_BOUND.keys() - {"drivers/gpu/drm/amd/"}
    )
