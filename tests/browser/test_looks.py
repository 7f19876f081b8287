"""How the pages look, measured in the browser: cards in a row line up, the target cards'
boxes sit in the same place, a yes/no field is not beside the next button, the favicon."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from blueprints.services import blueprint_create
from builds.models import Build
from genpack_site import roles
from hardware_profiles.models import HardwareProfile
from tests.browser.conftest import PASSWORD
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.factories import BuildFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]


@pytest.fixture
def build_id(seeded: None) -> int:
    pam = UserFactory(username="pam", groups=[Group.objects.get(name=roles.PRODUCT_MANAGER)])
    pam.set_password(PASSWORD)
    pam.save()
    blueprint = blueprint_create(
        name="kiosk", author=None, description="", targets=list(HardwareProfile.objects.all())
    )
    build = BuildFactory(
        revision=blueprint.latest_revision,
        profile=HardwareProfile.objects.get(slug="pc-x86_64"),
        state=Build.State.SUCCEEDED,
    )
    return build.pk


def _log_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/accounts/login/?next={then}")
    page.get_by_label("Username").fill("pam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}{then}")


def _tops(page: Page, selector: str) -> list[float]:
    return [box["y"] for box in (e.bounding_box() for e in page.locator(selector).all()) if box]


def test_cards_in_a_row_line_up(live_server, build_id: int, page: Page) -> None:
    _log_in(page, live_server.url, "/")
    tops = _tops(page, ".grid > .card")
    assert len(tops) == 3 and len(set(tops)) == 1, tops
    buttons = _tops(page, ".grid > .card > .button")
    assert len(set(buttons)) == 1, f"the cards' buttons share one line: {buttons}"
    page.goto(f"{live_server.url}/profiles/")
    first_row = _tops(page, ".grid > .card")[:3]
    assert len(set(first_row)) == 1, first_row


def test_target_cards_have_their_box_in_the_same_place(
    live_server, build_id: int, page: Page
) -> None:
    _log_in(page, live_server.url, "/blueprints/kiosk/edit/")
    offsets = set()
    for card in page.locator(".profile-card").all():
        box, card_box = card.locator("input").bounding_box(), card.bounding_box()
        name_box = card.locator(".profile-name").bounding_box()
        assert box and card_box and name_box
        offsets.add((round(box["x"] - card_box["x"]), round(box["y"] - card_box["y"])))
        offsets.add(("size", round(box["width"]), round(box["height"])))
        assert name_box["x"] > box["x"] + box["width"], "the name is beside the box"
    assert len(offsets) == 2, offsets


def test_the_debug_box_is_not_beside_the_download_button(
    live_server, build_id: int, page: Page
) -> None:
    _log_in(page, live_server.url, f"/builds/{build_id}/personalise/")
    # editor.js hides the fixed-address fields (DHCP): measure once the page has its layout.
    expect(page.get_by_label("IP address")).to_be_hidden()
    debug = page.get_by_label("Debug").bounding_box()
    button = page.get_by_role("button", name="Download image for this device").bounding_box()
    assert debug and button
    assert debug["y"] + debug["height"] < button["y"], (debug, button)
    label = page.locator("label[for=id_debug]").bounding_box()
    assert label and abs(label["y"] - debug["y"]) < label["height"], "the box is beside its label"


def test_every_page_has_a_favicon(live_server, build_id: int, page: Page) -> None:
    _log_in(page, live_server.url, "/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href and href.endswith(".svg")
    icon = page.request.get(live_server.url + href)
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


def test_the_blueprint_summary_cards_in_a_row_line_up(
    live_server, build_id: int, page: Page
) -> None:
    _log_in(page, live_server.url, "/blueprints/kiosk/")
    tops = _tops(page, ".summary-grid > .card")
    assert len(tops) >= 3 and len(set(tops[:3])) == 1, tops


def _middle(box: dict[str, float] | None) -> float:
    assert box
    return box["y"] + box["height"] / 2


def test_a_page_heading_is_level_with_its_buttons(live_server, build_id: int, page: Page) -> None:
    _log_in(page, live_server.url, "/blueprints/")
    heading = _middle(page.get_by_role("heading", name="Blueprints", level=1).bounding_box())
    button = _middle(page.get_by_role("link", name="New blueprint").bounding_box())
    assert abs(heading - button) < 4, (heading, button)


def test_include_secrets_is_beside_the_export_button(
    live_server, build_id: int, page: Page
) -> None:
    _log_in(page, live_server.url, "/blueprints/kiosk/")
    export = _middle(page.get_by_role("button", name="Export genpack.json5").bounding_box())
    secrets = _middle(page.get_by_label("include secrets").bounding_box())
    assert abs(export - secrets) < 4, (export, secrets)
