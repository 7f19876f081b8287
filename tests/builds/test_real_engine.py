"""The whole path with the real engine: web → broker → worker → mmdebstrap ... → download,
then the boot test under QEMU on the boottest queue."""

from __future__ import annotations

import hashlib
import os

import pytest

from builds import paths
from builds.models import Artifact, BootTestState, Build, ReleaseEvent
from tests.builds.conftest import make_blueprint
from tests.factories import RevisionFactory
from tests.harness import wait_until
from tests.image_builder.boards import BROKEN_INIT_MESSAGE, broken_init_file
from tests.image_builder.conftest import require_build_host

pytestmark = pytest.mark.slow


def test_real_build_from_the_web_to_a_resumed_download(workers, product_manager, kvm) -> None:
    require_build_host()
    workers(
        "real",
        GENPACK_ENGINE_MODULE="image_builder",
        GENPACK_BOOT_TEST_MODULE="image_builder.boottest",  # QEMU, software emulation
        GENPACK_APT_CACHE_DIR=os.environ.get("GENPACK_APT_CACHE", "/var/cache/genpack/apt"),
    )
    blueprint = make_blueprint("sshbox", ["openssh-server"])
    response = product_manager.post(f"/builds/start/{blueprint.name}/", {"profile": kvm.slug})
    assert response.status_code == 302
    build = Build.objects.get(revision__blueprint=blueprint)

    def finished() -> bool:
        build.refresh_from_db()
        return build.is_finished

    assert wait_until(finished, timeout=1500, interval=5), build.phase
    log = paths.build_log_path(build.pk).read_text()
    assert build.state == Build.State.SUCCEEDED, f"{build.error}\n{log[-3000:]}"
    for step in ("rootfs", "squashfs", "disk"):
        assert f": {step}" in log
    kinds = set(build.artifacts.values_list("kind", flat=True))
    assert {"system-img", "disk-raw", "manifest", "sbom", "sha256sums"} <= kinds

    artifact = build.artifacts.get(kind="disk-raw")
    url = f"/builds/{build.pk}/download/disk-raw/"
    full = product_manager.get(url)
    digest = hashlib.sha256()
    for chunk in full.streaming_content:
        digest.update(chunk)
    assert digest.hexdigest() == artifact.sha256
    half = artifact.size // 2
    head = product_manager.get(url, HTTP_RANGE=f"bytes=0-{half - 1}")
    tail = product_manager.get(
        url, HTTP_RANGE=f"bytes={half}-", HTTP_IF_RANGE=f'"{artifact.sha256}"'
    )
    assert head.status_code == tail.status_code == 206
    resumed = hashlib.sha256()
    for part in (head, tail):
        for chunk in part.streaming_content:
            resumed.update(chunk)
    assert resumed.hexdigest() == artifact.sha256
    assert not paths.build_work_dir(build.pk).exists()

    # The boot test, queued when the files were published, runs on the same worker (it
    # consumes boottest, as make run's does): booted under QEMU, logged in, keys read back.
    def boot_tested() -> bool:
        build.refresh_from_db()
        return build.boot_test_state in (BootTestState.PASSED, BootTestState.FAILED)

    limit = kvm.boot_test_timeout_seconds + 300
    assert wait_until(boot_tested, timeout=limit, interval=5), build.boot_test_state
    console = build.artifacts.filter(kind=Artifact.Kind.CONSOLE_LOG).first()
    console_text = (paths.artifacts_root() / console.path).read_text() if console else ""
    assert build.boot_test_state == BootTestState.PASSED, (
        f"{build.boot_test_error}\n{console_text[-3000:]}"
    )
    assert build.boot_test_login_seconds is not None and build.boot_test_login_seconds > 0
    assert build.boot_test_applied.get("hostname") == f"boot-test-{build.pk}"
    assert console is not None and "login:" in console_text
    assert not paths.boot_test_work_dir(build.pk).exists()
    # The test booted a copy: the published image is still the one its checksum names.
    on_disk = hashlib.sha256()
    with (paths.artifacts_root() / artifact.path).open("rb") as published:
        while chunk := published.read(1024 * 1024):
            on_disk.update(chunk)
    assert on_disk.hexdigest() == artifact.sha256
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert 'data-testid="boot-test-state">Boot test passed</span>' in page
    assert f"boot-test-{build.pk}" in page


def test_an_image_that_cannot_boot_fails_its_boot_test_and_is_released_only_by_override(
    workers, product_manager, admin_client_role, technician, kvm
) -> None:
    """The issue's failing half: a blueprint that breaks its own init system builds fine,
    then fails its boot test with the init's failure on the console log; a product manager's
    release is refused; an admin's override with a written reason releases it, and the
    reason is shown on the build page and to the technician."""
    require_build_host()
    workers(
        "real",
        GENPACK_ENGINE_MODULE="image_builder",
        GENPACK_BOOT_TEST_MODULE="image_builder.boottest",
        GENPACK_APT_CACHE_DIR=os.environ.get("GENPACK_APT_CACHE", "/var/cache/genpack/apt"),
    )
    blueprint = make_blueprint("brokeninit")
    RevisionFactory(blueprint=blueprint, changes={"files": [broken_init_file()]})
    response = product_manager.post(f"/builds/start/{blueprint.name}/", {"profile": kvm.slug})
    assert response.status_code == 302
    build = Build.objects.get(revision__blueprint=blueprint)

    def boot_tested() -> bool:
        build.refresh_from_db()
        return build.is_finished and build.boot_test_state not in ("pending", "running")

    limit = 1500 + kvm.boot_test_timeout_seconds
    assert wait_until(boot_tested, timeout=limit, interval=5), (build.state, build.boot_test_state)
    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.boot_test_state == BootTestState.FAILED, build.boot_test_error
    console = build.artifacts.get(kind=Artifact.Kind.CONSOLE_LOG)
    console_text = (paths.artifacts_root() / console.path).read_text()
    # The init's own failure is on the console log, not merely "failed".
    assert BROKEN_INIT_MESSAGE in console_text
    assert "Attempted to kill init" in console_text
    assert build.boot_test_error.startswith("kernel panic: Attempted to kill init!"), (
        build.boot_test_error
    )
    took = (build.boot_test_finished_at - build.boot_test_started_at).total_seconds()
    assert took < kvm.boot_test_timeout_seconds / 2, "a kernel panic must end the test at once"
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert "Boot test failed" in page or "boot test failed" in page.lower()
    assert f"/builds/{build.pk}/download/console-log/" in page

    refused = product_manager.post(f"/builds/{build.pk}/release/", {"reason": "looks fine"})
    assert refused.status_code == 302
    build.refresh_from_db()
    assert not build.released
    assert not ReleaseEvent.objects.filter(build=build).exists()

    reason = "Field trial: <the customer's rig> boots it from its own init"
    admin_client_role.post(f"/builds/{build.pk}/release/", {"reason": reason})
    build.refresh_from_db()
    assert build.released
    event = ReleaseEvent.objects.get(build=build)
    assert event.override and event.reason == reason
    escaped = "Field trial: &lt;the customer&#x27;s rig&gt; boots it from its own init"
    assert escaped in admin_client_role.get(f"/builds/{build.pk}/").content.decode()
    assert escaped in technician.get(f"/builds/{build.pk}/").content.decode()
