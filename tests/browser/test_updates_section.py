"""The build page's package updates in a real browser: the badge and list read well (axe-core,
a screenshot), and "Rebuild with the latest packages" leads to the new build."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe import axe_check
from tests.browser.test_page_security import log_in
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.builds.test_updates import OLD, built_with_manifest, pockets  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]


@pytest.fixture
def outdated_build(pockets: None, pm_account: tuple[str, str]) -> int:  # noqa: F811
    return built_with_manifest(OLD).pk


def test_updates_badge_list_and_rebuild(
    live_server,
    pm_account: tuple[str, str],
    outdated_build: int,
    page: Page,
    screenshot: Callable[[str], object],
) -> None:
    log_in(page, live_server.url, pm_account[0], f"/builds/{outdated_build}/")
    section = page.locator("#build-updates")
    expect(section.get_by_test_id("updates-badge")).to_have_text("2 updates available (1 security)")
    rows = section.get_by_test_id("updates-list").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("openssh-server")
    expect(rows.nth(0)).to_contain_text("security")
    axe_check(page, "build page with updates")
    screenshot("build-page-updates")

    section.get_by_test_id("updates-rebuild").click()

    expect(page).not_to_have_url(f"{live_server.url}/builds/{outdated_build}/")
    expect(page).to_have_url(re.compile(rf"{live_server.url}/builds/\d+/$"))
    expect(
        page.get_by_text(re.compile(r"Rebuilding with the latest packages as build #\d+"))
    ).to_be_visible()
