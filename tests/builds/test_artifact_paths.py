"""Artifacts stay inside the artifacts root: at publish (bare names only) and at download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.test import Client

from builds import paths
from builds.models import Artifact, Build
from builds.services import ProducedFile, PublishRefusedError, build_publish
from builds.tasks import claimed_build_run
from tests.factories import ArtifactFactory, BuildFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]


def _secret(settings) -> Path:
    """A file beside the artifacts root, where the web host keeps its secret key."""
    secret = Path(settings.GENPACK_ARTIFACTS_DIR).parent / "secret_key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("the-web-host-secret")
    return secret


def test_forged_result_event_naming_a_host_file_fails_the_build_and_publishes_nothing(
    kvm, settings, monkeypatch
) -> None:
    secret = _secret(settings)
    settings.GENPACK_ENGINE_MODULE = "tests.fake_engine"
    settings.GENPACK_HEARTBEAT_SECONDS = 1
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)
    forged = "../../../secret_key"  # from artifacts/staging/<id>/ to the data dir
    assert (paths.build_staging_dir(build.pk) / forged).resolve() == secret.resolve()
    monkeypatch.setenv("FAKE_ENGINE_FORGE_NAME", forged)
    state, _ = claimed_build_run(build.pk)
    build.refresh_from_db()
    assert state == "failed"
    assert build.state == Build.State.FAILED
    assert "not a bare file name" in build.error
    assert not Artifact.objects.filter(build=build).exists()
    assert not paths.build_artifacts_dir(build.pk).exists()
    assert secret.read_text() == "the-web-host-secret"  # untouched, not moved


@pytest.mark.parametrize(
    "name", ["../../../secret_key", "sub/x.img", "..\\x.img", ".", "..", "", "x\0.img", "/etc"]
)
def test_publish_accepts_bare_file_names_only(kvm, name: str) -> None:
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / "good.img").write_bytes(b"good")
    good = ProducedFile("disk-raw", "good.img", 4, hashlib.sha256(b"good").hexdigest())
    bad = ProducedFile("manifest", name, 1, "0" * 64)
    with pytest.raises(PublishRefusedError, match="bare file name"):
        build_publish(build_id=build.pk, staging=staging, files=[good, bad])
    build.refresh_from_db()
    assert build.state == Build.State.RUNNING and not build.artifacts.exists()
    assert (staging / "good.img").exists()  # nothing moved: the whole publish was refused


def test_publish_refuses_a_symlink_leading_out_of_the_build(kvm, settings) -> None:
    secret = _secret(settings)
    build = BuildFactory(profile=kvm, state=Build.State.RUNNING)
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / "build.log").symlink_to(secret)
    payload = secret.read_bytes()
    produced = ProducedFile("log", "build.log", len(payload), hashlib.sha256(payload).hexdigest())
    with pytest.raises(PublishRefusedError, match="not a regular file"):
        build_publish(build_id=build.pk, staging=staging, files=[produced])
    assert not build.artifacts.exists()


@pytest.mark.parametrize("x_accel", ["", "/protected/"])
def test_a_row_pointing_outside_the_artifacts_root_is_not_downloadable(
    product_manager: Client, kvm, settings, x_accel: str
) -> None:
    settings.GENPACK_X_ACCEL_PREFIX = x_accel
    _secret(settings)
    build = BuildFactory(profile=kvm, state=Build.State.SUCCEEDED)
    ArtifactFactory(build=build, path="../secret_key", size=19)
    response = product_manager.get(f"/builds/{build.pk}/download/log/")
    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response
    assert b"the-web-host-secret" not in b"".join(getattr(response, "streaming_content", []))


def test_a_row_whose_symlink_leads_outside_the_root_is_not_downloadable(
    product_manager: Client, kvm, settings
) -> None:
    secret = _secret(settings)
    build = BuildFactory(profile=kvm, state=Build.State.SUCCEEDED)
    (paths.build_artifacts_dir(build.pk) / "build.log").symlink_to(secret)
    ArtifactFactory(build=build, size=19)  # builds/<id>/build.log
    assert product_manager.get(f"/builds/{build.pk}/download/log/").status_code == 404


def test_a_missing_file_is_a_clear_404(product_manager: Client, kvm) -> None:
    build = BuildFactory(profile=kvm, state=Build.State.SUCCEEDED)
    (paths.build_artifacts_dir(build.pk) / "kiosk.img").unlink()
    response = product_manager.get(f"/builds/{build.pk}/download/disk-raw/")
    assert response.status_code == 404
    assert "kiosk.img is no longer on disk" in response.content.decode()
    personalise = product_manager.post(f"/builds/{build.pk}/personalise/", {"network": "dhcp"})
    assert personalise.status_code == 404
    assert "no longer on disk" in personalise.content.decode()


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=" + "9" * 5000 + "-", 416, b""),
        ("bytes=0-" + "9" * 5000, 206, b"image"),
        ("bytes=-" + "9" * 5000, 206, b"image"),
        ("bytes=1-2", 206, b"ma"),
    ],
)
def test_huge_range_numbers_are_beyond_the_end_not_a_crash(
    product_manager: Client, kvm, header: str, status: int, body: bytes
) -> None:
    build = BuildFactory(profile=kvm, state=Build.State.SUCCEEDED)
    response = product_manager.get(f"/builds/{build.pk}/download/disk-raw/", HTTP_RANGE=header)
    assert response.status_code == status
    if status == 206:
        assert b"".join(response.streaming_content) == body
