"""An admin adds a person in the browser and hands over the one-time link; the person sets a
password with it and logs in with their role (issue 12)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from genpack_site import roles
from tests.browser.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def admin_account(seeded: None) -> tuple[str, str]:
    user = UserFactory(username="ada", groups=[Group.objects.get(name=roles.ADMIN)], is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user.username, PASSWORD


def _log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_admin_adds_a_person_who_sets_a_password_with_the_link(
    admin_account: tuple[str, str], live_server: LiveServer, page: Page, screenshot
) -> None:
    base = live_server.url
    _log_in(page, base, *admin_account)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    screenshot("people-list")

    page.get_by_role("link", name="Add a person").click()
    page.get_by_label("Username").fill("nina")
    page.get_by_label("First name").fill("Nina")
    page.get_by_label("Role").select_option(label="Field technician")
    screenshot("people-add")
    page.get_by_role("button", name="Add and make the link").click()

    link = page.get_by_role("textbox", name="Link").input_value()
    assert "/accounts/set-password/" in link
    screenshot("people-link")
    page.get_by_role("button", name="Log out").click()

    page.goto(link)
    page.get_by_label("New password:", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    screenshot("people-set-password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()

    _log_in(page, base, "nina", NEW_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Builds")).to_be_visible()
    expect(nav.get_by_role("link", name="People")).to_have_count(0)
    page.goto(link)
    expect(page.get_by_text("This link no longer works")).to_be_visible()


def test_admin_starts_a_profile_from_a_copy(
    admin_account: tuple[str, str], live_server: LiveServer, page: Page, screenshot
) -> None:
    base = live_server.url
    _log_in(page, base, *admin_account)
    page.goto(f"{base}/profiles/new/")
    page.get_by_label("Profile to copy").select_option(
        label="Raspberry Pi 3 / 4 / 400 / CM4 (arm64)"
    )
    page.get_by_role("button", name="Copy").click()

    expect(page.get_by_label("Name:", exact=True)).to_have_value(
        "Copy of Raspberry Pi 3 / 4 / 400 / CM4 (arm64)"
    )
    screenshot("profile-copy")
    page.get_by_label("Slug:", exact=True).fill("rpi-kiosk")
    page.get_by_role("button", name="Save").click()

    expect(
        page.get_by_role("heading", name="Copy of Raspberry Pi 3 / 4 / 400 / CM4 (arm64)")
    ).to_be_visible()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Slug:", exact=True)).to_be_disabled()
    screenshot("profile-edit")
