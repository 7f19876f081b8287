"""The boot test on the build page in a real browser: it follows the test by itself (htmx
polling) from waiting to running to passed, then shows the login time, the applied and
rejected keys and the console log link, accessibly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from builds.boot_tests import boot_test_claim, boot_test_record
from builds.models import Build
from tests.browser.axe import axe_check
from tests.browser.test_build_page import POLL_MS, in_thread
from tests.browser.test_page_security import log_in
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.factories import BuildFactory, _publish
from tests.fake_boot_test import BootTestResult

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]


@pytest.fixture
def running_build(pm_account: tuple[str, str]) -> int:
    """A build a worker is running: no boot test yet."""
    return BuildFactory(state=Build.State.RUNNING).pk


def test_the_build_page_follows_the_boot_test_to_its_result(
    live_server,
    pm_account: tuple[str, str],
    running_build: int,
    page: Page,
    tmp_path: Path,
    screenshot: Callable[[str], object],
) -> None:
    build_id = running_build
    log_in(page, live_server.url, pm_account[0], f"/builds/{build_id}/")
    section = page.locator("#boot-test")
    expect(page.locator("#build-status .state")).to_have_text("Running")
    expect(section).to_have_count(0)

    # Published: the build's own polling brings the boot test in, which then polls itself.
    in_thread(lambda: _publish(Build.objects.get(pk=build_id), [("disk-raw", "x.img", b"x")]))
    state = section.get_by_test_id("boot-test-state")
    expect(state).to_have_text("Boot test waiting", timeout=POLL_MS)

    in_thread(lambda: boot_test_claim(build_id=build_id, task_id="t"))
    expect(state).to_have_text("Boot test running", timeout=POLL_MS)
    expect(section.get_by_role("button", name="Cancel boot test")).to_be_visible()
    expect(section.get_by_test_id("boot-test-timing")).to_contain_text("Running for")

    console = tmp_path / "console.log"
    console.write_text(f"Debian GNU/Linux 12 boot-test-{build_id} ttyS0\n")
    result = BootTestResult(
        passed=True,
        reason="",
        login_seconds=41.2,
        applied={"hostname": f"boot-test-{build_id}", "timezone": "Europe/Berlin"},
        rejected={"ntp": "not a host name or address: 'pool..ntp'"},
        console_log=console,
    )
    in_thread(lambda: boot_test_record(build_id=build_id, result=result, secrets=[]))
    expect(state).to_have_text("Boot test passed", timeout=POLL_MS)
    expect(section.get_by_test_id("boot-test-login")).to_have_text("41 s")
    applied = section.get_by_test_id("boot-test-applied")
    expect(applied.get_by_role("row", name=f"hostname boot-test-{build_id}")).to_be_visible()
    rejected = section.get_by_test_id("boot-test-rejected")
    expect(rejected).to_contain_text("not a host name or address")
    expect(section.get_by_role("button", name="Cancel boot test")).to_have_count(0)
    link = section.get_by_role("link", name="Serial console log")
    expect(link).to_have_attribute("href", f"/builds/{build_id}/download/console-log/")
    # The build's own state is still one element, and polling stopped with the result.
    expect(page.locator("#build-status .state")).to_have_text("Succeeded")
    expect(section).not_to_have_attribute("hx-get", f"/builds/{build_id}/boot-test/")
    screenshot("build-page-boot-test-passed")
    axe_check(page, "the build page with a passed boot test")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == f"build-{build_id}-boot-console.log"
