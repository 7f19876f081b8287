"""A warm rebuild (the base tree from the cache, one blueprint package more) makes the same
image as a cold build of the same spec: same files, modes, owners, link targets and
contents, except what records the build's time (the timestamp, the SBOM's creation data,
ldconfig's cache, the initramfs archive's mtimes, whose files must match)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from image_builder import BuildSpec, EngineOptions, build, image_diff

from .boards import board_spec
from .conftest import RecordingReporter, require_build_host

pytestmark = pytest.mark.slow

BOARD = "kvm-x86_64"


def build_with(spec: BuildSpec, tmp: Path, name: str, cache: Path, **options) -> tuple:
    reporter = RecordingReporter()
    result = build(
        spec,
        workdir=tmp / f"{name}-work",
        outdir=tmp / f"{name}-out",
        options=EngineOptions(build_id="test-base-cache", base_cache_dir=cache, **options),
        reporter=reporter,
    )
    return result, "\n".join(reporter.lines)


def cpio_members(data: bytes) -> dict[str, tuple[str, bytes]]:
    """newc cpio: name → (mode, contents), mtimes left out."""
    members, offset = {}, 0
    while offset + 110 <= len(data) and data[offset : offset + 6] == b"070701":
        fields = [int(data[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_start = offset + 110
        name = data[name_start : name_start + name_size - 1].decode()
        body = (name_start + name_size + 3) & ~3
        members[name] = (oct(mode), data[body : body + size])
        offset = (body + size + 3) & ~3
        if name == "TRAILER!!!":
            break
    return members


def initramfs_members(root: Path) -> dict[str, tuple[str, bytes]]:
    plain = subprocess.run(
        ["zstd", "-d", "-c", str(root / "boot/initramfs")], capture_output=True, check=True
    ).stdout
    return cpio_members(plain)


def sbom_packages(root: Path) -> list[dict]:
    """The SBOM's packages, without the image's build date."""
    document = json.loads((root / ".genpack/sbom.spdx.json").read_text())
    packages = sorted(document["packages"], key=lambda package: package["SPDXID"])
    for package in packages:
        package.pop("builtDate", None)
    return packages


def test_a_warm_rebuild_makes_the_image_a_cold_build_makes(tmp_path: Path) -> None:
    require_build_host(BOARD)
    base = board_spec(BOARD)
    spec = replace(base, packages=(*base.packages, "less")).normalise()
    cache = tmp_path / "base-cache"
    cold, cold_log = build_with(spec, tmp_path, "cold", cache, fresh_base=True)
    warm, warm_log = build_with(spec, tmp_path, "warm", cache)
    assert "a fresh base was asked for" in cold_log and "base cache: stored" in cold_log
    assert "base cache: reused base" in warm_log
    # less changes nothing the initramfs is made of: the cold build's is reused, not remade.
    assert "initramfs cache: stored" in cold_log and "initramfs cache: reused" in warm_log
    assert "update-initramfs -c" not in warm_log
    assert warm.timings["rootfs"] < cold.timings["rootfs"] / 2

    diff = image_diff.compare(
        cold.artifact("system-img").path, warm.artifact("system-img").path, tmp_path / "diff"
    )
    assert diff.files > 3000 and diff.beyond() == []
    cold_tree, warm_tree = tmp_path / "diff/first", tmp_path / "diff/second"
    assert (cold_tree / "usr/bin/less").is_file()
    # The files that record the time hold the same otherwise.
    assert initramfs_members(warm_tree) == initramfs_members(cold_tree)
    assert sbom_packages(warm_tree) == sbom_packages(cold_tree)
