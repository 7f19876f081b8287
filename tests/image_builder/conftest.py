"""Fixtures for the engine tests: the acceptance blueprint, built once per session."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from image_builder import BuildResult, BuildSpec, EngineOptions, NullReporter, build
from image_builder.hostarch import buildable_architectures
from image_builder.image_tools import copy_image

DATA = Path(__file__).parent / "data"
ROOT_PASSWORD = "genpack"  # matches the hash in data/minimal.json
BUILD_TOOLS = (
    "mmdebstrap", "mksquashfs", "mkfs.vfat", "mcopy", "sfdisk", "grub-mkstandalone", "readelf",
)  # fmt: skip
BOOT_TOOLS = ("qemu-system-x86_64",)
ARM64_TOOLS = ("qemu-system-aarch64", "qemu-aarch64-static")


def missing_tools(tools: tuple[str, ...]) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def not_a_build_host(reason: str) -> None:
    """Skip while iterating; `make test` (GENPACK_REQUIRE_BUILD_HOST=1) fails instead, so CI
    never passes with the image builds quietly left out."""
    if os.environ.get("GENPACK_REQUIRE_BUILD_HOST") == "1":
        pytest.fail(f"not a build host: {reason}")
    pytest.skip(reason)


def require_build_host(board: str = "pc-x86_64") -> None:
    if os.geteuid() != 0:
        not_a_build_host("image builds need root (mmdebstrap --mode=root)")
    arm64 = board in ("arm64-uefi", "rpi-arm64")
    missing = missing_tools(BUILD_TOOLS + BOOT_TOOLS + (ARM64_TOOLS if arm64 else ()))
    if missing:
        not_a_build_host(
            f"build host tools missing ({', '.join(missing)}): run scripts/install-build-host.sh"
        )
    if arm64 and "arm64" not in buildable_architectures():
        not_a_build_host("arm64 binaries cannot run here: run scripts/install-build-host.sh")


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


# The board builds share base trees (image_builder/base_cache.py) across variants and test
# sessions on this host, each checked against the archive when used; the cold path is
# built every session by test_base_cache_build.py, with a fresh base.
TEST_BASE_CACHE = Path(os.environ.get("GENPACK_TEST_BASE_CACHE", "/var/cache/genpack/base-tests"))


class BoardBuilds:
    """Each board's image of the minimal blueprint, built at most once per test session.

    GENPACK_TEST_BUILD_DIR=<dir> reuses (or keeps) the builds in <dir>/<board>, for working
    on the tests without building again.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.results: dict[str, BuildResult] = {}

    def get(self, board: str, *, variant: str = "", spec: BuildSpec | None = None) -> BuildResult:
        """The board's image; with `variant` and `spec`, that spec's image for the board
        (kept as <board>-<variant>), e.g. boards.broken_init_spec(board_spec(board))."""
        key = f"{board}-{variant}" if variant else board
        if key not in self.results:
            self.results[key] = self.build(board, key, spec)
        return self.results[key]

    def build(self, board: str, key: str, spec: BuildSpec | None = None) -> BuildResult:
        from .boards import board_spec, board_system_ini

        require_build_host(board)
        spec = spec or board_spec(board)
        reuse = os.environ.get("GENPACK_TEST_BUILD_DIR")
        outdir = Path(reuse) / key if reuse else self.tmp_path_factory.mktemp(key) / "out"
        if reuse and (outdir / "manifest.json").exists():
            kept = result_from_manifest(outdir)
            if kept.spec_hash == spec.spec_hash():
                return kept
        if outdir.exists():
            shutil.rmtree(outdir)
        return build(
            spec,
            workdir=self.tmp_path_factory.mktemp(f"{key}-work") / "work",
            outdir=outdir,
            options=EngineOptions(build_id=f"test-{key}", base_cache_dir=TEST_BASE_CACHE),
            reporter=RecordingReporter(),
            system_ini=board_system_ini(board),
        )


@pytest.fixture(scope="session")
def board_builds(tmp_path_factory: pytest.TempPathFactory) -> BoardBuilds:
    return BoardBuilds(tmp_path_factory)


@pytest.fixture(scope="session")
def minimal_build(board_builds: BoardBuilds) -> BuildResult:
    """The minimal blueprint for the PC profile."""
    return board_builds.get("pc-x86_64")


@pytest.fixture(scope="session")
def kvm_build(board_builds: BoardBuilds) -> BuildResult:
    return board_builds.get("kvm-x86_64")


@pytest.fixture(scope="session")
def arm64_build(board_builds: BoardBuilds) -> BuildResult:
    return board_builds.get("arm64-uefi")


@pytest.fixture(scope="session")
def rpi_build(board_builds: BoardBuilds) -> BuildResult:
    return board_builds.get("rpi-arm64")


def result_from_manifest(outdir: Path) -> BuildResult:
    from image_builder import Artifact
    from image_builder.assemble import sha256_file

    manifest = json.loads((outdir / "manifest.json").read_text())
    artifacts = [
        Artifact(item["kind"], outdir / item["name"], item["size"], item["sha256"])
        for item in manifest["artifacts"]
    ]
    for kind, name in (
        ("sha256sums", "SHA256SUMS"),
        ("manifest", "manifest.json"),
        ("log", "build.log"),
    ):
        path = outdir / name
        artifacts.append(Artifact(kind, path, path.stat().st_size, sha256_file(path)))
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
