"""The blueprint page in a real browser: nothing overflows, the tabs work by mouse and keys,
and an exported file comes back as a new revision after its changes were shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_product_manager_journey import Shot, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "long-lines"
LONG_PATH = "/opt/" + "a-directory-with-a-long-name/" * 10 + "config.toml"
LONG_DESCRIPTION = "x" * 600  # one JSON5 line far wider than any screen


@pytest.fixture
def long_blueprint(seeded: None) -> str:
    from blueprints.json5_io import blueprint_dump
    from blueprints.services import blueprint_import

    data = {
        "name": NAME,
        "description": LONG_DESCRIPTION,
        "targets": ["kvm-x86_64"],
        "packages": [f"package-with-a-rather-long-name-number-{n}" for n in range(120)],
        "services": ["a-service-with-a-name-that-goes-on-and-on-and-on-and-on.service"],
        "files": [{"path": LONG_PATH, "content": "x=1\n"}],
        "system_ini": {"ip_address": "192.168.1.20/24", "dns": ["1.1.1.1"]},
    }
    blueprint_import(source=blueprint_dump(data), author=None)
    return NAME


def _overflow(page: Page) -> int:
    """How far the page's content reaches past the window (the top bar is not this page's);
    what scrolls inside its own box does not count."""
    return page.evaluate(
        "(() => { const main = document.querySelector('main');"
        " return Math.max(main.scrollWidth - main.clientWidth,"
        " main.getBoundingClientRect().right - document.documentElement.clientWidth); })()"
    )


def test_long_lists_paths_and_lines_stay_inside_their_boxes(
    live_server, pm_account, long_blueprint: str, page: Page, screenshot: Shot
) -> None:
    base = live_server.url
    log_in(page, base, lambda name: None, *pm_account)
    for width in (1280, 380):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/blueprints/{NAME}/")
        expect(page.get_by_role("tabpanel", name="Summary")).to_contain_text(LONG_PATH)
        assert _overflow(page) <= 0, f"the summary is wider than a {width} px window"
        screenshot(f"blueprint-summary-{width}")
        page.get_by_role("tab", name="JSON5").click()
        expect(page.get_by_role("tabpanel", name="JSON5")).to_be_visible()
        assert _overflow(page) <= 0, f"the JSON5 is wider than a {width} px window"
        screenshot(f"blueprint-json5-{width}")


def test_tabs_switch_by_mouse_and_keyboard(
    live_server, pm_account, long_blueprint: str, page: Page
) -> None:
    base = live_server.url
    log_in(page, base, lambda name: None, *pm_account)
    page.goto(f"{base}/blueprints/{NAME}/")
    summary, json5 = page.get_by_role("tab", name="Summary"), page.get_by_role("tab", name="JSON5")
    expect(summary).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="JSON5")).to_be_hidden()
    json5.click()
    expect(page).to_have_url(re.compile(r"\?view=json5"))
    expect(json5).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Summary")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    expect(summary).to_be_focused()
    expect(page.get_by_role("tabpanel", name="Summary")).to_be_visible()
    page.reload()  # the address says which tab: a reload or a shared link keeps it
    expect(summary).to_have_attribute("aria-selected", "true")


def test_an_edited_export_becomes_the_next_revision_after_its_changes_are_shown(
    live_server, pm_account, long_blueprint: str, page: Page, screenshot: Shot, tmp_path: Path
) -> None:
    base = live_server.url
    log_in(page, base, lambda name: None, *pm_account)
    page.goto(f"{base}/blueprints/{NAME}/")
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile("^Export")).click()
    edited = tmp_path / f"{NAME}.genpack.json5"
    text = Path(download_info.value.path()).read_text(encoding="utf-8")
    edited.write_text(text.replace("192.168.1.20/24", "192.168.1.30/24"), encoding="utf-8")

    page.get_by_role("link", name="Import a new version").click()
    page.get_by_label("…or upload a file").set_input_files(str(edited))
    page.get_by_role("button", name="Show the changes").click()
    expect(page.get_by_role("heading", name="Changes from revision 1")).to_be_visible()
    expect(page.locator(".diff")).to_contain_text('"192.168.1.20/24" → "192.168.1.30/24"')
    assert _overflow(page) <= 0
    screenshot("import-update-changes")
    page.get_by_role("button", name="Save as revision 2").click()

    expect(page).to_have_url(f"{base}/blueprints/{NAME}/")
    expect(page.get_by_role("status")).to_contain_text("Imported as revision 2")
    expect(page.get_by_test_id("summary-network")).to_contain_text("192.168.1.30/24")


@pytest.fixture
def typo_blueprint(seeded: None, build_host, debian_mirror: str) -> str:
    """A blueprint asking for “pyhton3”, saved before the amd64 package list was loaded (nothing
    could check it then); for the Raspberry Pi (arm64) the list is still loading."""
    from hardware_profiles.models import HardwareProfile
    from package_index.store import package_index_update
    from tests.browser.conftest import SUITE
    from tests.factories import BlueprintFactory

    targets = list(HardwareProfile.objects.filter(slug__in=["kvm-x86_64", "rpi-arm64"]))
    BlueprintFactory(name="typo", targets=targets, packages=["openssh-server", "pyhton3"])
    package_index_update(suite=SUITE, component="main", arch="amd64", mirror=debian_mirror)
    return "typo"


def test_preflight_shows_the_problem_and_disables_that_targets_button(
    live_server, pm_account, typo_blueprint: str, page: Page, screenshot: Shot
) -> None:
    base = live_server.url
    log_in(page, base, lambda name: None, *pm_account)
    page.goto(f"{base}/blueprints/{typo_blueprint}/")
    preflight = page.get_by_role("region", name="Pre-flight")
    kvm = preflight.get_by_test_id("preflight-kvm-x86_64")
    expect(kvm).to_contain_text("Cannot build yet")
    expect(kvm).to_contain_text("“pyhton3” is not a package of Debian bookworm for amd64")
    pi = preflight.get_by_test_id("preflight-rpi-arm64")
    expect(pi).to_contain_text("Ready to build")
    expect(pi).to_contain_text("package list loading…")

    button = page.get_by_role("button", name="Build for KVM / QEMU guest x86_64")
    expect(button).to_be_disabled()
    expect(button, "the reason is the button's description").to_have_accessible_description(
        re.compile("“pyhton3” is not a package of Debian bookworm")
    )
    expect(page.get_by_role("button", name=re.compile("^Build for Raspberry Pi"))).to_be_enabled()
    expect(page.get_by_role("button", name="Build all targets")).to_be_enabled()
    screenshot("preflight-problem")

    kvm.get_by_role("link", name="Fix in Packages").click()
    expect(page).to_have_url(f"{base}/blueprints/{typo_blueprint}/edit/#section-packages")
    expect(page.get_by_role("region", name="Packages", exact=True)).to_contain_text("pyhton3")
