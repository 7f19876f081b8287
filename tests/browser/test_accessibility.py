"""Every role's main pages in a real browser: a full-page screenshot of each (review material,
not golden images) and axe-core's WCAG 2.1 AA check, which fails on any serious or critical
violation.

Screenshots go to tests/browser/screenshots/pages/<role>-<page>.png; the editor's sections
also one by one (<role>-editor-<section>.png). The pages show a blueprint with packages,
services, a user, a file and a fixed address; one whose package Debian does not have (pre-flight
stops it); and builds that succeeded (released, with downloads), failed, run and wait, and one
whose boot test failed (the admin releases it with a reason).
"""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from blueprints.services import blueprint_import, blueprint_update
from builds import paths
from builds.models import BootTestState, Build
from builds.services import (
    ProducedFile,
    build_claim,
    build_enqueue,
    build_fail,
    build_heartbeat,
    build_publish,
    build_release,
)
from genpack_site import roles
from hardware_profiles.models import HardwareProfile
from package_index.store import package_index_update
from tests.browser.axe import BLOCKING, axe_report, axe_violations
from tests.browser.conftest import PASSWORD, SCREENSHOTS, SUITE
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.builds.test_build_pages import MISSING_PACKAGE
from tests.factories import BlueprintFactory, UserFactory
from tests.images import small_disk_image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]

PAGES = SCREENSHOTS / "pages"
BLUEPRINT = "lobby-kiosk"
BROKEN = "typo-kiosk"
KVM = "KVM / QEMU guest x86_64"
SOURCE = """{
  name: "lobby-kiosk",
  description: "Shows the visitor schedule on the lobby screen.",
  targets: ["kvm-x86_64", "rpi-arm64"],
  packages: ["openssh-server", "nginx", "chrony"],
  services: ["ssh.service", "nginx.service"],
  users: [{name: "kiosk", ssh_keys: []}],
  files: [{path: "/etc/kiosk/start.sh", content: "#!/bin/sh\\nexec kiosk --fullscreen\\n",
           mode: "0755"}],
  system_ini: {hostname: "lobby-01", ip_address: "192.168.10.20/24",
               ip_gateway: "192.168.10.1", dns: ["192.168.10.1"]},
}
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _account(username: str, role: str, **extra: object) -> None:
    user = UserFactory(username=username, groups=[Group.objects.get(name=role)], **extra)
    user.set_password(PASSWORD)
    user.save()


def _published(build: Build) -> None:
    """Published with a real disk image (personalise writes system.ini into it)."""
    build_claim(build_id=build.pk, worker="w", task_id="t")
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    image = small_disk_image(staging, f"{BLUEPRINT}.img")
    (staging / f"{BLUEPRINT}.qcow2").write_bytes(b"qcow2")
    files = [
        ProducedFile("disk-raw", image.name, image.stat().st_size, _sha256(image.read_bytes())),
        ProducedFile("disk-qcow2", f"{BLUEPRINT}.qcow2", 5, _sha256(b"qcow2")),
    ]
    assert build_publish(build_id=build.pk, staging=staging, files=files)


def _released(build: Build) -> None:
    """Published, boot-tested and released."""
    _published(build)
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    assert build_release(build=Build.objects.get(pk=build.pk))


@pytest.fixture
def site(seeded: None, debian_mirror: str) -> dict[str, int]:
    """Three people, two blueprints and four builds; returns the builds' ids by state."""
    _account("ada", roles.ADMIN, is_staff=True, first_name="Ada")
    _account("pam", roles.PRODUCT_MANAGER, first_name="Pam")
    _account("tess", roles.FIELD_TECHNICIAN, first_name="Tess")
    # Saved and built before the package list was loaded: nothing could check it then.
    broken = BlueprintFactory(name=BROKEN, packages=["openssh-server", "pyhton3"])
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    failed = build_enqueue(revision=broken.latest_revision, profile=kvm, requested_by=None)
    build_claim(build_id=failed.pk, worker="w", task_id="t")
    build_fail(build_id=failed.pk, error=MISSING_PACKAGE, step="rootfs")
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=debian_mirror)

    blueprint, _warnings = blueprint_import(source=SOURCE, author=None)
    first = blueprint.latest_revision
    blueprint_update(
        blueprint=blueprint,
        changes={"packages": ["openssh-server", "nginx", "chrony", "curl"]},
        message="Added package curl",
        author=None,
        based_on=1,
    )
    blueprint.refresh_from_db()
    latest = blueprint.latest_revision
    rpi = HardwareProfile.objects.get(slug="rpi-arm64")

    # Each of another revision or board: the same one again would reuse the succeeded files.
    succeeded = build_enqueue(revision=latest, profile=kvm, requested_by=None)
    _released(succeeded)
    running = build_enqueue(revision=first, profile=kvm, requested_by=None)
    build_claim(build_id=running.pk, worker="w", task_id="t")
    build_heartbeat(build_id=running.pk, phase="customize", step_number=3, step_count=7)
    queued = build_enqueue(revision=latest, profile=rpi, requested_by=None)
    # Succeeded, but its image did not boot: an admin may still release it, with a reason.
    untested = build_enqueue(revision=first, profile=rpi, requested_by=None)
    _published(untested)
    Build.objects.filter(pk=untested.pk).update(
        boot_test_state=BootTestState.FAILED, boot_test_error="Kernel panic - not syncing"
    )
    assert len({succeeded.pk, failed.pk, running.pk, queued.pk, untested.pk}) == 5
    return {
        "succeeded": succeeded.pk,
        "failed": failed.pk,
        "running": running.pk,
        "queued": queued.pk,
        "boot-test-failed": untested.pk,
    }


class Tour:
    """Visits pages as one role: screenshot, then the axe check; collects what axe finds so
    one run reports every page at once."""

    def __init__(self, page: Page, base: str, role: str) -> None:
        self.page, self.base, self.role = page, base, role
        self.blocking: list[str] = []
        self.minor: list[str] = []
        PAGES.mkdir(parents=True, exist_ok=True)

    def log_in(self, username: str) -> None:
        self.page.context.clear_cookies()
        self.visit("login", "/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page).to_have_url(f"{self.base}/")

    def visit(self, name: str, path: str | None = None) -> Page:
        """Go to `path` (or stay), wait until it has settled, screenshot and check it."""
        if path is not None:
            response = self.page.goto(f"{self.base}{path}")
            assert response and response.ok, f"{path}: HTTP {response and response.status}"
        self.page.wait_for_load_state("networkidle")
        self.check(name)
        return self.page

    def check(self, name: str) -> None:
        self.page.screenshot(path=str(PAGES / f"{self.role}-{name}.png"), full_page=True)
        violations = axe_violations(self.page)
        where = f"{self.role}-{name} ({self.page.url.removeprefix(self.base)})"
        serious = [v for v in violations if v["impact"] in BLOCKING]
        if serious:
            self.blocking.append(f"{where}:\n{axe_report(serious)}")
        if lesser := [v for v in violations if v["impact"] not in BLOCKING]:
            names = ", ".join(f"{v['id']} ({v['impact']})" for v in lesser)
            self.minor.append(f"{where}: {names}")

    def sections(self) -> None:
        """The editor's sections one by one, each as its own picture."""
        for section in self.page.locator("section.editor-section").all():
            name = (section.get_attribute("id") or "").removeprefix("section-")
            section.screenshot(path=str(PAGES / f"{self.role}-editor-{name}.png"))

    def done(self) -> None:
        if self.minor:
            print(f"axe-core, moderate or minor ({self.role}):\n  " + "\n  ".join(self.minor))
        print(f"screenshots: {PAGES}/{self.role}-*.png")
        assert not self.blocking, (
            "axe-core: serious or critical WCAG 2.1 AA violations:\n" + "\n".join(self.blocking)
        )


def test_product_manager_pages(live_server, site: dict[str, int], page: Page) -> None:
    tour = Tour(page, live_server.url, "pm")
    tour.log_in("pam")
    tour.visit("home", "/")
    tour.visit("blueprints", "/blueprints/")
    tour.visit("blueprint-new", "/blueprints/new/")
    tour.visit("blueprint-summary", f"/blueprints/{BLUEPRINT}/")
    tour.visit("blueprint-json5", f"/blueprints/{BLUEPRINT}/?view=json5")
    tour.visit("blueprint-preflight-problem", f"/blueprints/{BROKEN}/")
    tour.visit("editor", f"/blueprints/{BLUEPRINT}/edit/")
    tour.sections()
    packages = page.get_by_role("region", name="Packages", exact=True)
    packages.get_by_label("Add a package").press_sequentially("ssh", delay=100)
    expect(packages.get_by_role("list", name="Matching packages")).to_be_visible()
    tour.check("editor-package-search")
    packages.screenshot(path=str(PAGES / "pm-editor-packages-search.png"))
    services = page.get_by_role("region", name="Services", exact=True)
    unit = services.get_by_role("textbox", name="Service")
    unit.fill("frobnicator")
    services.get_by_role("button", name="Add service").click()
    expect(unit).to_have_attribute("aria-invalid", "true")
    tour.check("editor-service-refused")
    services.screenshot(path=str(PAGES / "pm-editor-services-refused.png"))
    tour.visit("editor-json5", f"/blueprints/{BLUEPRINT}/edit/json5/")
    tour.visit("history", f"/blueprints/{BLUEPRINT}/history/")
    tour.visit("diff", f"/blueprints/{BLUEPRINT}/diff/?a=1&b=2")
    tour.visit("import", "/blueprints/import/")
    tour.visit("import-update", f"/blueprints/{BLUEPRINT}/import/")
    tour.visit("builds", "/builds/")
    for state, build_id in site.items():
        tour.visit(f"build-{state}", f"/builds/{build_id}/")
    tour.visit("personalise", f"/builds/{site['succeeded']}/personalise/")
    tour.visit("releases", "/builds/releases/")
    tour.visit("profiles", "/profiles/")
    tour.visit("profile", "/profiles/kvm-x86_64/")
    tour.visit("password-change", "/accounts/password/")
    tour.done()


def test_technician_pages(live_server, site: dict[str, int], page: Page) -> None:
    tour = Tour(page, live_server.url, "tech")
    tour.log_in("tess")
    tour.visit("home", "/")
    tour.visit("builds", "/builds/")
    tour.visit("build", f"/builds/{site['succeeded']}/")
    page.get_by_text("Other files", exact=True).click()
    tour.check("build-other-files")
    tour.visit("personalise", f"/builds/{site['succeeded']}/personalise/")
    page.get_by_label("Hostname").fill("dev-07")
    with page.expect_download():
        page.get_by_role("button", name="Download image for this device").click()
    expect(page.locator("#personal-checksum")).to_contain_text("SHA-256 of your copy")
    tour.check("personalise-sent")
    tour.visit("releases", "/builds/releases/")
    tour.visit("profiles", "/profiles/")
    tour.visit("password-change", "/accounts/password/")
    # In the field, on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in (
        ("phone-home", "/"),
        ("phone-build", f"/builds/{site['succeeded']}/"),
        ("phone-personalise", f"/builds/{site['succeeded']}/personalise/"),
        ("phone-releases", "/builds/releases/"),
    ):
        tour.visit(name, path)
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{path} is {wider} px wider than a phone"
    tour.done()


def test_admin_pages(live_server, site: dict[str, int], page: Page) -> None:
    tour = Tour(page, live_server.url, "admin")
    tour.log_in("ada")
    tour.visit("home", "/")
    tour.visit("people", "/people/")
    page.get_by_role("link", name="Add a person").click()
    tour.visit("person-new")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Role").select_option(label="Field technician")
    page.get_by_role("button", name="Add and make the link").click()
    link = page.get_by_role("textbox", name="Link")
    expect(link).to_have_value(re.compile("/accounts/set-password/"))
    tour.visit("person-link")
    set_password = link.input_value()
    page.goto(f"{live_server.url}/people/")
    page.get_by_role("link", name="tess").first.click()
    tour.visit("person")
    tour.visit("profiles", "/profiles/")
    tour.visit("profile", "/profiles/rpi-arm64/")
    tour.visit("profile-edit", "/profiles/rpi-arm64/edit/")
    tour.visit("profile-new", "/profiles/new/")
    tour.visit("builds", "/builds/")
    tour.visit("build-failed", f"/builds/{site['failed']}/")
    tour.visit("build-boot-test-failed", f"/builds/{site['boot-test-failed']}/")
    page.get_by_label("Why release it anyway?").fill("Bench demo; booted by hand on a real board.")
    page.get_by_role("button", name="Release anyway").click()
    expect(page.get_by_test_id("release-override")).to_contain_text("booted by hand")
    tour.check("build-released-by-override")
    tour.visit("releases", "/builds/releases/")
    tour.visit("password-change", "/accounts/password/")
    page.context.clear_cookies()
    tour.visit("set-password", set_password.removeprefix(live_server.url))
    tour.done()
