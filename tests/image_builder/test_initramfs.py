"""The engine's own initramfs (image_builder/initramfs.py), packed from a tree made of the
build host's real programs: unpacked by the real cpio, its programs run from the archive
alone (chroot), with only the drivers asked for and their dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from image_builder import initramfs
from image_builder.errors import BuildError
from image_builder.report import NullReporter
from image_builder.runner import Runner

VERSION = "6.1.0-test-amd64"
HOST_PROGRAMS = ("/usr/bin/busybox", *(f"/{tool}" for tool in initramfs.TOOLS))

pytestmark = [
    pytest.mark.skipif(
        any(not Path(p).is_file() for p in HOST_PROGRAMS) or shutil.which("cpio") is None,
        reason="needs busybox, cpio, util-linux, fdisk, e2fsprogs: scripts/install-build-host.sh",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the archive's programs in a chroot"),
]


def copy_with_links(root: Path, path: str) -> None:
    """The host's `path` into the tree at the same place (its directory's real path: the tree
    has the host's merged-/usr links), a link as a link with its target copied too."""
    source = Path(os.path.realpath(os.path.dirname(path))) / os.path.basename(path)
    target = root / str(source).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        if not target.is_symlink():
            target.symlink_to(os.readlink(source))
        copy_with_links(root, str(source.parent / os.readlink(source)))
    elif not target.exists():
        shutil.copy2(source, target)


def ldd_libraries(program: str) -> list[str]:
    """What the host's own loader loads for `program` (the independent answer)."""
    output = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    found = []
    for line in output.splitlines():
        parts = line.split()
        if "=>" in parts and parts[parts.index("=>") + 1].startswith("/"):
            found.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            found.append(parts[0])  # the loader itself
    return found


def module_tree(root: Path) -> None:
    directory = root / "usr/lib/modules" / VERSION
    paths = {
        "ext4": "kernel/fs/ext4/ext4.ko", "jbd2": "kernel/fs/jbd2/jbd2.ko",
        "mbcache": "kernel/fs/mbcache.ko", "btrfs": "kernel/fs/btrfs/btrfs.ko",
        "virtio_blk": "kernel/drivers/block/virtio_blk.ko", "e1000e": "kernel/net/e1000e.ko",
    }  # fmt: skip
    for name, path in paths.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(f"module {name}".encode())
    (directory / "modules.dep").write_text(
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\nkernel/fs/mbcache.ko:\n"
        "kernel/fs/btrfs/btrfs.ko:\nkernel/drivers/block/virtio_blk.ko:\nkernel/net/e1000e.ko:\n"
    )
    (directory / "modules.alias").write_text(
        "alias fs-ext4 ext4\nalias virtio:d00000002v* virtio_blk\nalias pci:v00008086d* e1000e\n"
        "alias fs-btrfs btrfs\n"
    )
    (directory / "modules.builtin").write_text("kernel/fs/fat/fat.ko\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for link in ("bin", "sbin", "lib", "lib64"):
        if Path(f"/{link}").is_symlink():
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            (root / link).symlink_to(os.readlink(f"/{link}"))
    for program in HOST_PROGRAMS:
        copy_with_links(root, program)
        for library in ldd_libraries(program):
            copy_with_links(root, library)
    module_tree(root)
    (root / "boot").mkdir()
    return root


def unpack(data: bytes, into: Path) -> Path:
    into.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=data, cwd=into, check=True)
    return into


def test_the_archives_programs_run_from_the_archive_alone(tree: Path, tmp_path: Path) -> None:
    archive, _ = initramfs.main_archive(tree, VERSION, ("virtio_blk",))
    unpacked = unpack(archive, tmp_path / "unpacked")
    assert (unpacked / "init").read_bytes().startswith(b"#!/bin/sh\n")
    assert os.access(unpacked / "init", os.X_OK)
    assert (unpacked / "dev/console").is_char_device()

    def run(*command: str) -> str:
        result = subprocess.run(
            ["chroot", str(unpacked), *command], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, (command, result.stderr)
        return result.stdout + result.stderr

    # /init's shell and tools, found on its PATH through busybox's links and merged /usr.
    assert run("/bin/sh", "-c", "echo $((6 * 7)) | grep 42") == "42\n"
    assert "BusyBox" in run("/usr/bin/busybox")
    # The kernel loads what it asks for itself (crypto-crc32c for ext4) with /sbin/modprobe.
    assert run("/bin/sh", "-c", "readlink -f /sbin/modprobe") == "/usr/bin/busybox\n"
    assert "blkid from util-linux" in run("/usr/sbin/blkid", "-V")
    assert "sfdisk from util-linux" in run("/sbin/sfdisk", "--version")
    assert "partx from util-linux" in run("/usr/bin/partx", "--version")
    assert "e2fsck" in run("/usr/sbin/e2fsck", "-V")
    # Each program's libraries are in under the names the loader asks for.
    for program in initramfs.TOOLS:
        for library in ldd_libraries(f"/{program}"):
            assert (unpacked / library.lstrip("/")).exists(), (program, library)


def test_only_the_drivers_asked_for_and_what_they_need(tree: Path, tmp_path: Path) -> None:
    archive, modules = initramfs.main_archive(tree, VERSION, ("virtio_blk",))
    unpacked = unpack(archive, tmp_path / "unpacked")
    directory = unpacked / "usr/lib/modules" / VERSION
    # ext4 is one of the image's own file systems and brings its dependencies; btrfs and
    # the Ethernet driver stay in system.img; names the kernel lacks are skipped.
    assert modules == 4
    kept = sorted(p.name for p in directory.rglob("*.ko"))
    assert kept == ["ext4.ko", "jbd2.ko", "mbcache.ko", "virtio_blk.ko"]
    assert "btrfs" not in (directory / "modules.dep").read_text()
    aliases = (directory / "modules.alias").read_text().splitlines()
    assert aliases == ["alias fs-ext4 ext4", "alias virtio:d00000002v* virtio_blk"]
    assert (directory / "modules.builtin").read_text() == "kernel/fs/fat/fat.ko\n"
    # busybox's modprobe looks in /lib/modules: the merged-/usr link makes it the same place.
    assert (unpacked / "lib/modules" / VERSION / "modules.dep").is_file()


def test_written_with_microcode_in_front_and_the_same_bytes_each_time(tree: Path) -> None:
    ucode = tree / "usr/lib/firmware/intel-ucode"
    ucode.mkdir(parents=True)
    (ucode / "06-8e-09").write_bytes(b"\x01" * 3000)
    (ucode / "06-9e-0a").write_bytes(b"\x02" * 2000)
    runner = Runner(NullReporter())
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    first = (tree / "boot/initramfs").read_bytes()
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    assert (tree / "boot/initramfs").read_bytes() == first
    assert not (tree / "boot/initramfs.new").exists()
    early = initramfs.early_archive_length(first)
    members, _ = initramfs.read_archive(first)
    assert [(m.name, m.content) for m in members if m.name.endswith(".bin")] == [
        ("kernel/x86/microcode/GenuineIntel.bin", b"\x01" * 3000 + b"\x02" * 2000)
    ]
    assert first[early : early + 4] == b"\x28\xb5\x2f\xfd"  # zstd: the kernel unpacks it
    plain = subprocess.run(["zstd", "-dc"], input=first[early:], capture_output=True, check=True)
    assert plain.stdout == initramfs.main_archive(tree, VERSION, ())[0]
    # Without microcode packages the archive starts compressed.
    shutil.rmtree(ucode)
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    assert (tree / "boot/initramfs").read_bytes()[:4] == b"\x28\xb5\x2f\xfd"


def test_a_missing_tool_or_library_is_named(tree: Path) -> None:
    (tree / "usr/sbin/resize2fs").unlink()
    with pytest.raises(BuildError, match="the image has no /usr/sbin/resize2fs"):
        initramfs.main_archive(tree, VERSION, ())
    copy_with_links(tree, "/usr/sbin/resize2fs")
    library = next(lib for lib in ldd_libraries("/usr/sbin/resize2fs") if "libext2fs" in lib)
    for candidate in (tree / library.lstrip("/")).parent.glob("libext2fs.so*"):
        candidate.unlink()
    with pytest.raises(BuildError, match=r"libext2fs\.so\.2, needed by /usr/sbin/e2fsck"):
        initramfs.main_archive(tree, VERSION, ())


def test_links_in_the_tree_never_lead_to_the_build_host(tree: Path) -> None:
    """An absolute link is the image's path: /usr/sbin/blkid -> /etc/x is the tree's /etc/x."""
    (tree / "usr/sbin/blkid").unlink()
    (tree / "usr/sbin/blkid").symlink_to("/etc/hostname")  # exists on the host, not the tree
    with pytest.raises(BuildError, match="the image has no /usr/sbin/blkid"):
        initramfs.main_archive(tree, VERSION, ())


def test_init_is_a_script_busybox_sh_parses() -> None:
    init = Path(initramfs.__file__).parent.parent / "appliance/initramfs/init"
    result = subprocess.run(["busybox", "sh", "-n", str(init)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_microcode_leaves_the_tree_only_when_the_kernel_cannot_load_it_late(tree: Path) -> None:
    ucode = tree / "usr/lib/firmware/intel-ucode"
    ucode.mkdir(parents=True)
    (ucode / "06-8e-09").write_bytes(b"\x01" * 3000)
    runner = Runner(NullReporter())
    # No kernel config to tell: the blobs stay where a late loader would look.
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    assert (ucode / "06-8e-09").is_file()
    config = tree / f"boot/config-{VERSION}"
    config.write_text("CONFIG_MICROCODE=y\nCONFIG_MICROCODE_LATE_LOADING=y\n")
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    assert (ucode / "06-8e-09").is_file()
    # Debian's 6.1: early loading only, so system.img need not carry them a second time.
    config.write_text("CONFIG_MICROCODE=y\n# CONFIG_MICROCODE_LATE_LOADING is not set\n")
    initramfs.make_initramfs(tree, VERSION, (), runner, tree.parent / "work")
    assert not ucode.exists()
    members, _ = initramfs.read_archive((tree / "boot/initramfs").read_bytes())
    assert [m.content for m in members if m.name.endswith("GenuineIntel.bin")] == [b"\x01" * 3000]
