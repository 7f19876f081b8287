"""Kernel modules by board: keep what the profile's hardware needs, with their dependencies.

A Debian kernel ships ~4000 modules (390 MiB on amd64) for every machine there is; an
appliance board needs a few hundred. The profile lists *selectors* (BuildSpec.kernel_modules):

- `virtio_blk`, `nls_*`: modules by name (`-` and `_` are the same, shell globs allowed);
- `drivers/net/usb/`: every module under that directory of the kernel's `kernel/` tree (a
  pattern with `/` is a shell glob over that path; `*` also crosses `/`);
- `@ethernet`: a class below, itself a list of selectors;
- `!selector`: none of these, whatever else selects them (dependencies still come back).

`@devicetree` stands for the modules the board's device trees name (their `compatible`
strings matched against modules.alias), given by the boot scheme. Every selection also
keeps BASE (what the image's own boot and a network appliance need) and the boot scheme's
initramfs drivers, then closes over modules.dep and modules.softdep. An empty selection keeps
every module (profiles made before this existed). What is kept goes into the manifest.
"""

from __future__ import annotations

import fnmatch
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import SpecError

STEP = "boot"
MODULE_SUFFIX = re.compile(r"\.ko(\.xz|\.zst|\.gz)?$")

# Always kept: the image's own file systems and boot path, the network stack a device may
# configure (firewall, bridge, VLAN, tunnels), crypto and library helpers requested by name;
# binfmt_misc for systemd-binfmt (Debian's Python registers itself there).
BASE = (
    "fs/squashfs/", "fs/overlayfs/", "fs/ext4/", "fs/jbd2/", "fs/mbcache", "fs/fat/",
    "fs/nls/", "fs/autofs/", "fs/efivarfs/", "fs/fuse/", "fs/binfmt_misc", "drivers/block/loop",
    "crypto/", "lib/", "!lib/test_*", "arch/*/crypto/",
    "net/packet/", "net/unix/", "net/ipv4/", "net/ipv6/", "net/core/", "net/sched/",
    "net/netfilter/", "net/bridge/", "net/8021q/", "net/802/", "net/llc/", "net/key/",
    "net/xfrm/", "drivers/net/tun", "drivers/net/veth", "drivers/net/macvlan",
    "drivers/net/ipvlan/", "drivers/net/dummy", "drivers/net/bonding/",
    "drivers/net/wireguard/", "drivers/net/vxlan/", "drivers/net/geneve",
    "drivers/watchdog/softdog", "drivers/char/hw_random/",
)  # fmt: skip

# Vendors (or their drivers) of 10-100 Gbit/s data-centre adapters: a third of the Ethernet
# tree, and not what appliances are built on.
DATACENTRE_ETHERNET = (
    "mellanox", "qlogic", "chelsio", "sfc", "netronome", "cavium", "huawei", "pensando",
    "emulex", "fungible", "microsoft", "google", "amazon", "brocade", "intel/ice", "intel/i40e",
    "intel/iavf", "intel/idpf", "intel/fm10k", "intel/ixgbevf", "broadcom/bnxt",
    "marvell/octeontx2", "marvell/prestera", "mscc", "neterion", "myricom", "ibm",
)  # fmt: skip

# Storage of servers and SANs: Fibre Channel and iSCSI-offload HBAs (which also pull in their
# vendors' data-centre NICs), SAS RAID controllers, NVMe over fabrics, SCSI targets, network
# block devices. ~20 MB of a PC's modules; a profile that needs them adds @storage-datacentre.
DATACENTRE_STORAGE = (
    "drivers/scsi/lpfc/", "drivers/scsi/qla2xxx/", "drivers/scsi/qla4xxx/", "drivers/scsi/bfa/",
    "drivers/scsi/bnx2fc/", "drivers/scsi/bnx2i/", "drivers/scsi/qedf/", "drivers/scsi/qedi/",
    "drivers/scsi/cxgbi/", "drivers/scsi/be2iscsi/", "drivers/scsi/csiostor/",
    "drivers/scsi/fnic/", "drivers/scsi/snic/", "drivers/scsi/elx/", "drivers/scsi/libfc/",
    "drivers/scsi/fcoe/", "drivers/scsi/megaraid/", "drivers/scsi/mpt3sas/",
    "drivers/scsi/mpi3mr/", "drivers/scsi/smartpqi/", "drivers/scsi/pm8001/",
    "drivers/scsi/aacraid/", "drivers/scsi/esas2r/", "drivers/scsi/isci/", "drivers/scsi/mvsas/",
    "drivers/scsi/arcmsr/", "drivers/scsi/hpsa", "drivers/scsi/qla1280", "drivers/scsi/mvumi",
    "drivers/scsi/scsi_transport_fc", "drivers/scsi/scsi_transport_iscsi",
    "drivers/nvme/target/", "drivers/nvme/host/nvme-rdma", "drivers/nvme/host/nvme-fc",
    "drivers/nvme/host/nvme-tcp", "drivers/target/", "drivers/block/drbd/",
    "drivers/block/rnbd/", "drivers/block/rbd", "drivers/infiniband/",
)  # fmt: skip

WIFI_VENDORS = ("intel/iwlwifi", "ath", "mediatek", "realtek", "ralink", "broadcom")

CLASSES: dict[str, tuple[str, ...]] = {
    # Paravirtual devices of KVM / QEMU guests (the boot test's q35 and virt machines too).
    "virtio": (
        "drivers/virtio/",
        "drivers/block/virtio_blk",
        "drivers/net/virtio_net",
        "drivers/net/net_failover",
        "net/core/failover",
        "drivers/scsi/virtio_scsi",
        "drivers/char/virtio_console",
        "drivers/gpu/drm/virtio/",
        "net/vmw_vsock/",
        "drivers/misc/pvpanic/",
        "drivers/watchdog/i6300esb",
        "drivers/firmware/qemu_fw_cfg",
        "drivers/input/misc/virtio_input",
        "sd_mod",
        "sr_mod",
        "ahci",
    ),
    "storage": (
        "drivers/ata/",
        "drivers/nvme/",
        "drivers/scsi/",
        "drivers/mmc/",
        "drivers/usb/storage/",
        "drivers/block/",
        "drivers/cdrom/",
        "drivers/memstick/",
        *(f"!{path}" for path in DATACENTRE_STORAGE),
    ),
    "storage-datacentre": DATACENTRE_STORAGE,
    # Ethernet of PCs, boards and USB adapters.
    "ethernet": (
        "drivers/net/ethernet/",
        "drivers/net/phy/",
        "drivers/net/mdio/",
        "drivers/net/pcs/",
        "drivers/net/mii",
        "drivers/net/usb/",
        "drivers/ptp/",
        "drivers/pps/",
        "drivers/dca/",
        *(f"!drivers/net/ethernet/{vendor}/" for vendor in DATACENTRE_ETHERNET),
    ),
    "ethernet-datacentre": ("drivers/net/ethernet/", "drivers/infiniband/core/"),
    "usb": ("drivers/usb/", "drivers/hid/usbhid/", "@input"),
    "input": ("drivers/hid/", "drivers/input/"),
    # Intel and AMD graphics, virtual and server (BMC) adapters, the simple framebuffers;
    # NVIDIA (nouveau) and the old radeon are not: add them by path where a board has one.
    "graphics": (
        "drivers/gpu/drm/*.ko",
        "drivers/gpu/drm/i915/",
        "drivers/gpu/drm/amd/",
        "drivers/gpu/drm/tiny/",
        "drivers/gpu/drm/ast/",
        "drivers/gpu/drm/mgag200/",
        "drivers/gpu/drm/virtio/",
        "drivers/gpu/drm/qxl/",
        "drivers/gpu/drm/vmwgfx/",
        "drivers/gpu/drm/display/",
        "drivers/gpu/drm/scheduler/",
        "drivers/gpu/drm/ttm/",
        "drivers/video/",
        "!drivers/video/fbdev/",  # pre-KMS framebuffers; the helpers DRM uses come back
        "drivers/media/cec/",
        "drivers/i2c/algos/",
    ),
    "sound": ("sound/",),
    # The radios the profiles' firmware packages serve, not pre-2010 PCMCIA and ISA cards.
    "wifi": (
        *(f"drivers/net/wireless/{vendor}/" for vendor in WIFI_VENDORS),
        "net/wireless/",
        "net/mac80211/",
        "net/rfkill/",
        "drivers/mmc/core/",
    ),
    "bluetooth": ("drivers/bluetooth/", "net/bluetooth/", "net/rfkill/"),
    "serial": ("drivers/tty/", "drivers/usb/serial/"),
    "gpio": (
        "drivers/gpio/",
        "drivers/i2c/",
        "drivers/spi/",
        "drivers/pwm/",
        "drivers/w1/",
        "drivers/leds/",
    ),
    # A PC's chipset, sensors and power management.
    "pc-platform": (
        "arch/x86/",
        "drivers/acpi/",
        "drivers/platform/x86/",
        "drivers/hwmon/",
        "drivers/thermal/",
        "drivers/cpufreq/",
        "drivers/edac/",
        "drivers/i2c/",
        "drivers/char/",
        "drivers/pci/",
        "drivers/firmware/",
        "drivers/watchdog/",
        "drivers/mfd/",
        "drivers/rtc/",
        "drivers/dma/",
        "drivers/iommu/",
        "drivers/misc/",
        "drivers/powercap/",
        "drivers/idle/",
        "drivers/gpio/",
        "drivers/leds/",
    ),
    # What ARM64 systems-on-chip and servers are made of.
    "arm64-soc": (
        "drivers/pci/",
        "drivers/clk/",
        "drivers/phy/",
        "drivers/regulator/",
        "drivers/pinctrl/",
        "drivers/mfd/",
        "drivers/i2c/",
        "drivers/spi/",
        "drivers/gpio/",
        "drivers/rtc/",
        "drivers/firmware/",
        "drivers/iommu/",
        "drivers/dma/",
        "drivers/soc/",
        "drivers/reset/",
        "drivers/watchdog/",
        "drivers/thermal/",
        "drivers/cpufreq/",
        "drivers/mailbox/",
        "drivers/power/",
        "drivers/nvmem/",
        "drivers/acpi/",
        "drivers/hwmon/",
        "drivers/char/",
        "drivers/irqchip/",
        "drivers/bus/",
        "drivers/perf/",
        "drivers/interconnect/",
    ),
}
DEVICETREE = "@devicetree"
# Drivers that cannot bring their device up without its firmware (amdgpu stops at "failed to
# load firmware"), by the files of /usr/lib/firmware they load (a glob): kept only when the
# image has them, i.e. when the profile lists their firmware package. The seeded PC has no
# firmware-amd-graphics (~60 MB); its screen still works through the UEFI framebuffer
# (simpledrm). amdgpu alone is 18 MB of a PC's modules.
FIRMWARE_BOUND = {
    "drivers/gpu/drm/amd/": "amdgpu/*",  # firmware-amd-graphics
    "drivers/net/wireless/broadcom/brcm80211/": "brcm/*",  # firmware-brcm80211
    "drivers/net/wireless/broadcom/b43/": "b43/*",  # b43-fwcutter (contrib)
    "drivers/net/wireless/broadcom/b43legacy/": "b43legacy/*",
    "drivers/net/wireless/intel/iwlwifi/": "iwlwifi-*",  # firmware-iwlwifi
    "drivers/net/ethernet/broadcom/bnx2x/": "bnx2x/*",  # firmware-bnx2x
    "drivers/net/ethernet/broadcom/bnx2": "bnx2/*",  # firmware-bnx2
}


def firmware_missing(firmware: Path) -> dict[str, str]:
    """Selector -> firmware glob, for the firmware-bound drivers the image cannot run."""
    return {path: files for path, files in FIRMWARE_BOUND.items() if not any(firmware.glob(files))}


def normal_name(name: str) -> str:
    return name.replace("-", "_")


@dataclass(frozen=True)
class ModuleTree:
    """One kernel's /usr/lib/modules/<version>: module name → path relative to it, and the
    dependency and alias tables depmod wrote."""

    directory: Path
    paths: dict[str, str]
    depends: dict[str, tuple[str, ...]]
    softdeps: dict[str, tuple[str, ...]]
    aliases: tuple[tuple[str, str], ...]
    builtin: frozenset[str]

    @classmethod
    def read(cls, directory: Path) -> ModuleTree:
        paths: dict[str, str] = {}
        depends: dict[str, tuple[str, ...]] = {}
        for line in (directory / "modules.dep").read_text().splitlines():
            target, _, deps = line.partition(":")
            name = module_name(target)
            paths[name] = target
            depends[name] = tuple(module_name(dep) for dep in deps.split())
        aliases = []
        for line in _lines(directory / "modules.alias"):
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias":
                aliases.append((parts[1], normal_name(parts[2])))
        softdeps: dict[str, tuple[str, ...]] = {}
        for line in _lines(directory / "modules.softdep"):
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "softdep":
                wanted = tuple(p for p in parts[2:] if p not in ("pre:", "post:"))
                softdeps[normal_name(parts[1])] = softdeps.get(normal_name(parts[1]), ()) + wanted
        builtin = frozenset(module_name(line) for line in _lines(directory / "modules.builtin"))
        return cls(directory, paths, depends, softdeps, tuple(aliases), builtin)

    def by_alias(self, alias: str) -> set[str]:
        """Modules an exact alias (crypto-md5, fs-btrfs) or a module name means."""
        name = normal_name(alias)
        if name in self.paths:
            return {name}
        return {module for pattern, module in self.aliases if pattern == alias}

    def devicetree_modules(self, compatibles: Iterable[str]) -> set[str]:
        """Modules whose `of:` aliases match one of the device trees' compatible strings."""
        wanted = set(compatibles)
        found = set()
        for pattern, module in self.aliases:
            if not pattern.startswith("of:"):
                continue
            _, _, compatible = pattern.partition("C")
            compatible = compatible.removesuffix("C*")
            if any(fnmatch.fnmatchcase(item, compatible) for item in wanted):
                found.add(module)
        return found


def module_name(path: str) -> str:
    return normal_name(MODULE_SUFFIX.sub("", path.rsplit("/", 1)[-1]))


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def expand(selectors: Iterable[str], seen: frozenset[str] = frozenset()) -> list[str]:
    """Classes replaced by their selectors, recursively; an unknown class is an error."""
    out: list[str] = []
    for selector in selectors:
        selector = selector.strip()
        if not selector or selector == DEVICETREE:
            out += [selector] if selector else []
            continue
        if selector.startswith("@"):
            name = selector[1:]
            if name not in CLASSES:
                known = ", ".join(f"@{key}" for key in (*CLASSES, "devicetree"))
                raise SpecError(f"unknown kernel module class {selector} (known: {known})")
            if name not in seen:
                out += expand(CLASSES[name], seen | {name})
            continue
        out.append(selector)
    return out


def select(
    tree: ModuleTree, selectors: Iterable[str], compatibles: Iterable[str] = ()
) -> tuple[set[str], list[str]]:
    """(modules to keep, the profile's own module names that name nothing). Paths, and
    anything inside a class, may match nothing: classes span architectures and kernels. A
    module name the profile lists itself that is neither a module nor built in is a typo."""
    chosen: set[str] = set()
    unmatched: list[str] = []
    excluded: set[str] = set()  # the profile's own !exclusions: they win over everything
    for given in [*BASE, *selectors]:
        if given.startswith("!"):
            excluded |= _matches(tree, given[1:], compatibles)
            continue
        # A class's exclusions narrow that class only: "@ethernet @ethernet-datacentre"
        # keeps the data-centre NICs @ethernet leaves out.
        wanted: set[str] = set()
        narrowed: set[str] = set()
        for selector in expand([given]):
            if selector.startswith("!"):
                narrowed |= _matches(tree, selector[1:], compatibles)
                continue
            matched = _matches(tree, selector, compatibles)
            direct_name = given == selector and "/" not in selector
            if not matched and direct_name and normal_name(selector) not in tree.builtin:
                unmatched.append(selector)
            wanted |= matched
        chosen |= wanted - narrowed
    return close(tree, chosen - excluded), unmatched


def matching(tree: ModuleTree, selector: str) -> set[str]:
    """The modules a name or path selector matches, without their dependencies."""
    return _matches(tree, selector, ())


def _matches(tree: ModuleTree, selector: str, compatibles: Iterable[str]) -> set[str]:
    if selector == DEVICETREE:
        return tree.devicetree_modules(compatibles)
    if "/" in selector:
        pattern = "kernel/" + selector + ("*" if selector.endswith("/") else "")
        return {
            name
            for name, path in tree.paths.items()
            if fnmatch.fnmatchcase(MODULE_SUFFIX.sub("", path), pattern)
        }
    name = normal_name(selector)
    return {module for module in tree.paths if fnmatch.fnmatchcase(module, name)}


def close(tree: ModuleTree, modules: set[str]) -> set[str]:
    """Add what the modules depend on (modules.dep) and ask for (softdeps, by alias)."""
    kept: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in kept or name not in tree.paths:
            continue
        kept.add(name)
        todo += tree.depends.get(name, ())
        for wanted in tree.softdeps.get(name, ()):
            todo += tree.by_alias(wanted)
    return kept


def prune(tree: ModuleTree, keep: set[str]) -> int:
    """Delete every module file not in `keep` and the directories left empty; the caller
    runs depmod afterwards. Returns how many were removed."""
    removed = 0
    for name, path in tree.paths.items():
        if name not in keep:
            (tree.directory / path).unlink(missing_ok=True)
            removed += 1
    kernel = tree.directory / "kernel"
    for directory in sorted(kernel.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return removed


# -- device trees ---------------------------------------------------------------------------

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9


def dtb_compatibles(data: bytes) -> set[str]:
    """Every `compatible` string in a flattened device tree (the DTB format's structure
    block: tokens, node names and properties, 4-byte aligned; the spec is short)."""
    magic, _size, struct_offset, strings_offset = struct.unpack_from(">4I", data, 0)
    if magic != FDT_MAGIC:
        raise ValueError("not a device tree blob")
    found: set[str] = set()
    offset = struct_offset
    while offset + 4 <= len(data):
        (token,) = struct.unpack_from(">I", data, offset)
        offset += 4
        if token == FDT_BEGIN_NODE:
            end = data.index(b"\0", offset)
            offset = (end + 4) & ~3
        elif token == FDT_PROP:
            length, name_offset = struct.unpack_from(">2I", data, offset)
            offset += 8
            name_end = data.index(b"\0", strings_offset + name_offset)
            if data[strings_offset + name_offset : name_end] == b"compatible":
                value = data[offset : offset + length].rstrip(b"\0")
                found |= {item.decode("ascii", "replace") for item in value.split(b"\0") if item}
            offset = (offset + length + 3) & ~3
        elif token in (FDT_END_NODE, FDT_NOP):
            continue
        elif token == FDT_END:
            break
        else:
            raise ValueError(f"bad device tree token {token} at {offset - 4}")
    return found
