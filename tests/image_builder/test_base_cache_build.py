"""A warm rebuild (the base tree from the cache, one blueprint package more) makes the same
image as a cold build of the same spec: same files, modes, owners, link targets and
contents, except what records the build's time (the timestamp, the SBOM's creation data,
ldconfig's cache); the initramfs is the same bytes."""

from __future__ import annotations

import json
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
    # The initramfs is packed on the host; the tree's update-initramfs never runs.
    assert "update-initramfs -c" not in cold_log + warm_log
    assert warm.timings["rootfs"] < cold.timings["rootfs"] / 2

    diff = image_diff.compare(
        cold.artifact("system-img").path, warm.artifact("system-img").path, tmp_path / "diff"
    )
    assert diff.files > 3000 and diff.beyond() == []
    cold_tree, warm_tree = tmp_path / "diff/first", tmp_path / "diff/second"
    assert (cold_tree / "usr/bin/less").is_file()
    # The files that record the time hold the same otherwise.
    initramfs = (warm_tree / "boot/initramfs").read_bytes()
    assert initramfs == (cold_tree / "boot/initramfs").read_bytes()
    assert sbom_packages(warm_tree) == sbom_packages(cold_tree)
