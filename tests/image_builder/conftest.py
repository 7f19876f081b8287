"""Fixtures for the engine tests: the acceptance blueprint, built once per session."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_builder import BuildResult, BuildSpec, EngineOptions, NullReporter, build
from image_builder.image_tools import copy_image

DATA = Path(__file__).parent / "data"
ROOT_PASSWORD = "genpack"  # matches the hash in data/minimal.json
BUILD_TOOLS = ("mmdebstrap", "mksquashfs", "mkfs.vfat", "mcopy", "sfdisk", "grub-mkstandalone")
BOOT_TOOLS = ("qemu-system-x86_64",)


def missing_tools(tools: tuple[str, ...]) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def require_build_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("image builds need root (mmdebstrap --mode=root)")
    missing = missing_tools(BUILD_TOOLS + BOOT_TOOLS)
    if missing:
        pytest.skip(
            f"build host tools missing ({', '.join(missing)}): run scripts/install-build-host.sh"
        )


def minimal_spec_data() -> dict:
    return json.loads((DATA / "minimal.json").read_text())


@pytest.fixture(scope="session")
def minimal_spec() -> BuildSpec:
    return BuildSpec.from_dict(minimal_spec_data()).normalise()


class RecordingReporter(NullReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.steps: list[str] = []

    def step(self, name: str, index: int, total: int) -> None:
        self.steps.append(name)

    def log(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(scope="session")
def minimal_build(
    tmp_path_factory: pytest.TempPathFactory, minimal_spec: BuildSpec
) -> Iterator[BuildResult]:
    """The minimal blueprint for the PC profile, built once for all slow tests.

    GENPACK_TEST_BUILD_DIR=<dir> reuses (or keeps) a build there, for working on the tests.
    """
    require_build_host()
    reuse = os.environ.get("GENPACK_TEST_BUILD_DIR")
    outdir = Path(reuse) if reuse else tmp_path_factory.mktemp("minimal") / "out"
    manifest = outdir / "manifest.json"
    if reuse and manifest.exists():
        yield result_from_manifest(outdir)
        return
    result = build(
        minimal_spec,
        workdir=tmp_path_factory.mktemp("minimal-work") / "work",
        outdir=outdir,
        options=EngineOptions(build_id="test-session"),
        reporter=RecordingReporter(),
    )
    yield result


def result_from_manifest(outdir: Path) -> BuildResult:
    from image_builder import Artifact

    manifest = json.loads((outdir / "manifest.json").read_text())
    artifacts = [
        Artifact(item["kind"], outdir / item["name"], item["size"], item["sha256"])
        for item in manifest["artifacts"]
    ]
    return BuildResult(
        artifacts=artifacts,
        timings=manifest["timings"],
        spec_hash=manifest["spec_hash"],
        fat_uuid=manifest["fat_uuid"],
        build_id=manifest["build"],
        packages=manifest["packages"],
    )


@pytest.fixture
def disk_copy(minimal_build: BuildResult, tmp_path: Path) -> Path:
    """A private copy of the built disk image: each test boots and changes its own."""
    return copy_image(minimal_build.artifact("disk-raw").path, tmp_path / "disk.img")
