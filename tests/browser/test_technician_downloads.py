"""A field technician, in a real browser: from the home page to the board's download, a
checksum copied whole, and a personalised image whose own SHA-256 the page shows once sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import BrowserContext, Page, expect

from builds import paths
from builds.models import BootTestState, Build
from builds.services import ProducedFile, build_claim, build_enqueue, build_publish, build_release
from genpack_site import roles
from hardware_profiles.models import HardwareProfile
from tests.browser.conftest import PASSWORD
from tests.builds.conftest import data_dirs, make_blueprint  # noqa: F401  (fixture used here)
from tests.factories import UserFactory
from tests.images import small_disk_image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]

KVM = "KVM / QEMU guest x86_64"


@pytest.fixture
def released(seeded: None) -> Build:
    """A released KVM build with a real disk image (system.ini can be written into it)."""
    profile = HardwareProfile.objects.get(slug="kvm-x86_64")
    build = build_enqueue(
        revision=make_blueprint("kiosk").latest_revision, profile=profile, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, "kiosk.img")
    (staging / "kiosk.qcow2").write_bytes(b"qcow2")
    files = [
        ProducedFile("disk-raw", "kiosk.img", image.stat().st_size, _sha256(image.read_bytes())),
        ProducedFile("disk-qcow2", "kiosk.qcow2", 5, _sha256(b"qcow2")),
    ]
    assert build_publish(build_id=build.pk, staging=staging, files=files)
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    assert build_release(build=Build.objects.get(pk=build.pk))
    return Build.objects.get(pk=build.pk)


@pytest.fixture
def tech_account(seeded: None) -> str:
    user = UserFactory(username="tess", groups=[Group.objects.get(name=roles.FIELD_TECHNICIAN)])
    user.set_password(PASSWORD)
    user.save()
    return user.username


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_technician_downloads_for_the_board_and_checks_the_personalised_copy(
    live_server, released: Build, tech_account: str, browser_context: BrowserContext, page: Page
) -> None:
    base = live_server.url
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(tech_account)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.get_by_role("link", name=f"kiosk for {KVM}").click()

    main = page.get_by_test_id("main-download")
    expect(main).to_have_text(
        f"Download for {KVM} — use it as the virtual machine's disk (boot with UEFI)"
    )
    copy = page.get_by_role("button", name="Copy the SHA-256 of QEMU disk (.qcow2)")
    copy.click()
    expect(page.locator(".copy-status").first).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == _sha256(b"qcow2")
    expect(page.get_by_text("Other files", exact=True)).to_be_visible()

    page.get_by_role("link", name="Download with settings for one device…").click()
    page.get_by_label("Hostname").fill("dev-07")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download image for this device").click()
    download = download_info.value
    assert download.suggested_filename == "kiosk-dev-07.img"
    sent = Path(download.path()).read_bytes()
    region = page.locator("#personal-checksum")
    expect(region).to_contain_text("SHA-256 of your copy (kiosk-dev-07.img)")
    expect(region.locator("code.hash")).to_have_attribute("title", f"SHA-256 {_sha256(sent)}")
    published = paths.build_artifacts_dir(released.pk) / "kiosk.img"
    assert _sha256(sent) != _sha256(published.read_bytes()), "the copy has its own checksum"
