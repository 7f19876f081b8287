"""A broken blueprint fails early with a message that names what is wrong, and publishes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_builder import BuildError, BuildSpec, EngineOptions, build

from .conftest import RecordingReporter, minimal_spec_data, require_build_host

pytestmark = pytest.mark.slow


def build_expecting_failure(tmp_path: Path, **changes: object) -> tuple[BuildError, Path]:
    require_build_host()
    spec = BuildSpec.from_dict({**minimal_spec_data(), **changes})
    outdir = tmp_path / "out"
    with pytest.raises(BuildError) as caught:
        build(
            spec,
            workdir=tmp_path / "work",
            outdir=outdir,
            options=EngineOptions(build_id="test-failure"),
            reporter=RecordingReporter(),
        )
    return caught.value, outdir


def test_unknown_package_fails_naming_the_package_and_leaves_outdir_empty(tmp_path: Path) -> None:
    error, outdir = build_expecting_failure(
        tmp_path, packages=["openssh-server", "no-such-package-genpack"]
    )
    assert error.step == "rootfs"
    assert "no-such-package-genpack" in error.message
    assert not outdir.exists() or not any(outdir.iterdir())
    assert not (tmp_path / "work").exists()


def test_unknown_service_fails_naming_the_service_and_leaves_outdir_empty(tmp_path: Path) -> None:
    error, outdir = build_expecting_failure(tmp_path, services=["ssh", "no-such-daemon"])
    assert error.step == "services"
    assert "no-such-daemon.service" in error.message
    assert not outdir.exists() or not any(outdir.iterdir())
