"""The initramfs cache (image_builder/initramfs_cache.py) on a real file system with the real
zstd: what makes an entry reusable and what does not. A real KVM build reusing it is in the
slow test_base_cache_build.py (warm rebuild = cold build)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from image_builder import BuildSpec
from image_builder.base_cache import BaseCache
from image_builder.initramfs_cache import InitramfsCache, input_key
from image_builder.runner import Runner

from .conftest import RecordingReporter, minimal_spec_data, newc_archive

VERSION = "6.1.0-57-cloud-amd64"
SPEC = BuildSpec.from_dict(minimal_spec_data())
MODULES = ("virtio_blk",)


def write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def a_tree(root: Path) -> Path:
    """What mkinitramfs reads: its configuration and hooks, a module tree, the programs and
    libraries a hook copies (klibc's under another name), and dpkg's record of who owns what."""
    write(root / "etc/initramfs-tools/initramfs.conf", b"MODULES=list\n")
    write(root / "usr/share/initramfs-tools/hooks/udev", b"#!/bin/sh\ncopy_exec udevadm\n", 0o755)
    write(root / f"usr/lib/modules/{VERSION}/kernel/virtio_blk.ko", os.urandom(3000))
    write(root / f"usr/lib/modules/{VERSION}/modules.dep", b"kernel/virtio_blk.ko:\n")
    write(root / "usr/bin/udevadm", b"\x7fELF udevadm" + os.urandom(2000), 0o755)
    write(root / "usr/lib/klibc/bin/cat", b"\x7fELF klibc cat" + os.urandom(500), 0o755)
    write(root / "usr/lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc" + os.urandom(4000))
    write(root / "usr/lib/firmware/some.bin", b"firmware")
    write(root / "var/lib/dpkg/status", b"".join(
        b"Package: %s\nStatus: install ok installed\nVersion: %s\n\n" % item
        for item in [(b"udev", b"252.39-1"), (b"initramfs-tools-core", b"0.142"),
                     (b"intel-microcode", b"3.2025")]
    ))  # fmt: skip
    info = root / "var/lib/dpkg/info"
    write(info / "udev.list", b"/usr/bin/udevadm\n/lib/udev/rules.d/60-x.rules\n")
    write(info / "initramfs-tools-core.list", b"/usr/share/initramfs-tools/hooks/udev\n")
    write(info / "intel-microcode.list", b"/usr/share/initramfs-tools/hooks/intel_microcode\n")
    return root


def an_initramfs(root: Path, path: Path) -> Path:
    """initramfs-tools' layout: an early microcode archive, then the zstd main archive with
    copies of tree files at their paths and elsewhere, and files the hooks wrote."""
    early = newc_archive({"kernel/x86/microcode/GenuineIntel.bin": b"\x01" * 300})
    main = newc_archive(
        {
            "usr/bin/udevadm": (root / "usr/bin/udevadm").read_bytes(),
            "bin/cat": (root / "usr/lib/klibc/bin/cat").read_bytes(),
            "usr/lib/x86_64-linux-gnu/libc.so.6": (
                root / "usr/lib/x86_64-linux-gnu/libc.so.6"
            ).read_bytes(),
            "conf/initramfs.conf": b"MODULES=list\nBUSYBOX=n\n",
        },
        modes={"usr/bin/udevadm": 0o100755, "bin/cat": 0o100755},
    )
    packed = subprocess.run(["zstd", "-q", "-c"], input=main, capture_output=True, check=True)
    return write(path, early + packed.stdout)


@pytest.fixture
def cache(tmp_path: Path) -> InitramfsCache:
    return InitramfsCache(BaseCache(tmp_path / "cache", max_bytes=2**30))


def stored(cache: InitramfsCache, root: Path, tmp_path: Path) -> tuple[str, Path]:
    key = input_key(SPEC, root, VERSION, MODULES)
    made = an_initramfs(root, tmp_path / "made-initramfs")
    reporter = RecordingReporter()
    cache.save(key, root, made, Runner(reporter))
    assert any(f"initramfs cache: stored {key}" in line for line in reporter.lines)
    return key, made


def restored(cache: InitramfsCache, root: Path, tmp_path: Path) -> tuple[bool, str]:
    target = tmp_path / "restored"
    target.unlink(missing_ok=True)
    reporter = RecordingReporter()
    key = input_key(SPEC, root, VERSION, MODULES)
    return cache.restore(key, root, target, Runner(reporter)), "\n".join(reporter.lines)


def test_an_unchanged_tree_gets_the_stored_initramfs_back(cache, tmp_path: Path) -> None:
    root = a_tree(tmp_path / "root")
    _key, made = stored(cache, root, tmp_path)
    reused, log = restored(cache, root, tmp_path)
    assert reused and "reused" in log
    assert (tmp_path / "restored").read_bytes() == made.read_bytes()
    assert (tmp_path / "restored").stat().st_mode & 0o777 == 0o644
    # A package that adds nothing the initramfs is made of (less) changes nothing.
    write(root / "usr/bin/less", b"\x7fELF less", 0o755)
    write(root / "var/lib/dpkg/info/less.list", b"/usr/bin/less\n")
    assert restored(cache, root, tmp_path)[0]


def test_a_renamed_copy_is_traced_to_its_tree_file(cache, tmp_path: Path) -> None:
    root = a_tree(tmp_path / "root")
    key, _made = stored(cache, root, tmp_path)
    sources = json.loads((tmp_path / "cache" / key / "entry.json").read_text())["sources"]
    assert sources.keys() == {
        "usr/bin/udevadm", "usr/lib/klibc/bin/cat", "usr/lib/x86_64-linux-gnu/libc.so.6",
    }  # fmt: skip
    # klibc's cat changes (a new klibc): the key is the same, the entry is not reused.
    write(root / "usr/lib/klibc/bin/cat", b"\x7fELF klibc cat, newer", 0o755)
    assert input_key(SPEC, root, VERSION, MODULES) == key
    reused, log = restored(cache, root, tmp_path)
    assert not reused and "/usr/lib/klibc/bin/cat changed" in log
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize(
    "change",
    [
        "a program copied at its own path",
        "a library",
        "a program of the same name earlier on PATH",
    ],
)
def test_a_changed_file_it_was_made_from_is_not_reused(cache, tmp_path: Path, change) -> None:
    root = a_tree(tmp_path / "root")
    stored(cache, root, tmp_path)
    if change == "a program copied at its own path":
        write(root / "usr/bin/udevadm", b"\x7fELF another udevadm", 0o755)
    elif change == "a library":
        write(root / "usr/lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc, newer")
    else:
        write(root / "usr/sbin/udevadm", b"\x7fELF a wrapper", 0o755)
    assert not restored(cache, root, tmp_path)[0]


@pytest.mark.parametrize(
    "change",
    [
        "a hook",
        "initramfs-tools' configuration",
        "a module",
        "a firmware file a driver could ask for",
        "the version of a package owning a hook",
        "modprobe configuration",
    ],
)
def test_a_changed_input_makes_another_key(tmp_path: Path, change) -> None:
    root = a_tree(tmp_path / "root")
    before = input_key(SPEC, root, VERSION, MODULES)
    if change == "a hook":
        write(root / "usr/share/initramfs-tools/hooks/cryptroot", b"#!/bin/sh\n", 0o755)
    elif change == "initramfs-tools' configuration":
        write(root / "etc/initramfs-tools/initramfs.conf", b"MODULES=most\n")
    elif change == "a module":
        write(root / f"usr/lib/modules/{VERSION}/kernel/virtio_blk.ko", os.urandom(3000))
    elif change == "a firmware file a driver could ask for":
        write(root / "usr/lib/firmware/other.bin", b"firmware")
    elif change == "the version of a package owning a hook":
        status = root / "var/lib/dpkg/status"
        status.write_bytes(status.read_bytes().replace(b"3.2025", b"3.2026"))
    else:
        write(root / "etc/modprobe.d/blacklist.conf", b"blacklist virtio_blk\n")
    assert input_key(SPEC, root, VERSION, MODULES) != before


def test_the_key_covers_the_boot_drivers_and_the_kernel(tmp_path: Path) -> None:
    root = a_tree(tmp_path / "root")
    key = input_key(SPEC, root, VERSION, MODULES)
    assert input_key(SPEC, root, VERSION, (*MODULES, "nvme")) != key
    other = tmp_path / "root" / f"usr/lib/modules/{VERSION}"
    other.rename(other.with_name("6.1.0-58-cloud-amd64"))
    assert input_key(SPEC, root, "6.1.0-58-cloud-amd64", MODULES) != key


def test_entries_share_the_base_caches_size_bound_and_pruning(cache, tmp_path: Path) -> None:
    root = a_tree(tmp_path / "root")
    key, made = stored(cache, root, tmp_path)
    entries = cache.store.entries()
    assert [(size, name) for _used, size, name in entries] == [(made.stat().st_size, key)]
    small = InitramfsCache(BaseCache(tmp_path / "cache", max_bytes=0))
    write(root / "etc/initramfs-tools/initramfs.conf", b"MODULES=dep\n")
    newer, _ = stored(small, root, tmp_path)
    assert [name for *_rest, name in small.store.entries()] == [newer]


def test_an_initramfs_it_cannot_read_is_not_stored(cache, tmp_path: Path) -> None:
    root = a_tree(tmp_path / "root")
    broken = write(tmp_path / "broken", newc_archive({"init": b"x"}) + b"\x1f\x8b gzip")
    reporter = RecordingReporter()
    cache.save(input_key(SPEC, root, VERSION, MODULES), root, broken, Runner(reporter))
    assert any("could not store the initramfs" in line for line in reporter.lines)
    assert cache.store.entries() == []
    assert list((tmp_path / "cache").iterdir()) == []
