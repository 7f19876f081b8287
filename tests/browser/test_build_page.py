"""The build page in a real browser: it follows a running build by itself (htmx polling),
phase by phase, and when the build fails it says why and leads to the editor section."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect

from builds.models import Build
from builds.services import build_fail, build_heartbeat
from tests.browser.test_page_security import log_in
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.builds.test_build_pages import MISSING_PACKAGE
from tests.factories import BuildFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]
POLL_MS = 10_000  # the page polls every 3 s


def in_thread(work: Callable[[], object]) -> None:
    """Change the database as a worker would, from a thread of its own: Playwright's event
    loop in the test's thread makes Django refuse queries there."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


@pytest.fixture
def running_build(pm_account: tuple[str, str]) -> tuple[int, str]:
    """(build id, blueprint name) of a build in its first step, 40 s after it started."""
    build = BuildFactory(state=Build.State.RUNNING)
    Build.objects.filter(pk=build.pk).update(started_at=timezone.now() - timedelta(seconds=40))
    build_heartbeat(build_id=build.pk, phase="rootfs", step_number=1, step_count=7)
    return build.pk, build.revision.blueprint.name


def test_the_build_page_follows_the_build_and_leads_from_a_failure_to_the_fix(
    live_server,
    pm_account: tuple[str, str],
    running_build: tuple[int, str],
    page: Page,
    screenshot: Callable[[str], object],
) -> None:
    build_id, name = running_build
    log_in(page, live_server.url, pm_account[0], f"/builds/{build_id}/")
    status = page.locator("#build-status")
    expect(status.get_by_test_id("phase")).to_have_text("Installing packages")
    expect(status.get_by_test_id("step")).to_have_text("(step 1 of 7)")
    expect(status.get_by_test_id("timing")).to_contain_text(re.compile(r"Running for \d+ s"))
    heading = page.get_by_role("heading", level=1)
    expect(heading.get_by_role("link", name=name)).to_have_attribute("href", f"/blueprints/{name}/")
    screenshot("build-page-running")

    in_thread(
        lambda: build_heartbeat(
            build_id=build_id, phase="squashfs", progress=0.6, step_number=5, step_count=7
        )
    )
    expect(status.get_by_test_id("phase")).to_have_text("Packing the system image", timeout=POLL_MS)
    expect(status.get_by_test_id("step")).to_have_text("(step 5 of 7)")

    in_thread(lambda: build_fail(build_id=build_id, error=MISSING_PACKAGE, step="rootfs"))
    expect(status.locator(".state")).to_have_text("Failed", timeout=POLL_MS)
    expect(status.get_by_role("heading", name="What went wrong")).to_be_visible()
    expect(status).to_contain_text("pyhton3, notapkg-xyz")
    expect(status.get_by_role("button", name="Rebuild with the latest packages")).to_have_count(0)
    screenshot("build-page-failed")

    status.get_by_role("link", name="Fix in Packages").click()
    expect(page).to_have_url(f"{live_server.url}/blueprints/{name}/edit/#section-packages")
    expect(page.locator("#section-packages")).to_be_visible()
