"""A product manager's whole journey in a real browser: log in, design a blueprint, compare its
revisions, export and import it, and build it on a real worker while the log streams in.

One test, in steps: each step starts where the previous one left the browser, and says what
went wrong in its own words. Screenshots of every page go to tests/browser/screenshots/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import json5
import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLUEPRINT = "lobby-kiosk"
COPY = "lobby-kiosk-copy"
KVM = "KVM / QEMU guest x86_64"
FAKE_BUILD_SECONDS = "6"
Shot = Callable[[str], Path]


def section(page: Page, title: str) -> Locator:
    """An editor section: a <section> named by its heading, i.e. a landmark region."""
    return page.get_by_role("region", name=title, exact=True)


def saved_status(region: Locator) -> Locator:
    return region.get_by_role("status").filter(has_text="Saved")


# --- the steps -------------------------------------------------------------------------------


def log_in(page: Page, base: str, shot: Shot, username: str, password: str) -> None:
    page.goto(f"{base}/blueprints/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/blueprints/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    # Keyboard only: the name field has focus, Tab leads to the password, Enter submits.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    shot("login")
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{base}/blueprints/")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_text(username, exact=True)).to_be_visible()
    shot("blueprint-list-empty")


def create_blueprint(page: Page, base: str, shot: Shot) -> None:
    page.get_by_role("link", name="New blueprint").first.click()
    expect(page).to_have_url(f"{base}/blueprints/new/")
    page.get_by_label("Name").fill(BLUEPRINT)
    page.get_by_label("Description").fill("Shows the visitor schedule on the lobby screen.")
    page.get_by_label(KVM).check()
    shot("new-blueprint")
    page.get_by_role("button", name="Create blueprint").click()

    expect(page).to_have_url(f"{base}/blueprints/{BLUEPRINT}/edit/")
    expect(page.get_by_role("status")).to_contain_text(f"Blueprint “{BLUEPRINT}” created")
    expect(page.get_by_role("heading", name=f"Edit {BLUEPRINT}")).to_be_visible()
    expect(section(page, "Targets").get_by_label(KVM)).to_be_checked()
    shot("editor-new")


def type_like_a_person(field: Locator, text: str) -> None:
    """Key by key, slower than the search box's debounce: every pause sends a search."""
    field.click()
    field.press_sequentially(text, delay=250)


def add_package_by_search(page: Page, typed: str, package: str) -> None:
    """Type into the search box; pick `package` from the live results."""
    packages = section(page, "Packages")
    type_like_a_person(packages.get_by_label("Add a package"), typed)
    results = packages.get_by_role("list", name="Matching packages")
    item = results.get_by_role("listitem").filter(
        has=page.locator("code", has_text=re.compile(f"^{re.escape(package)}$"))
    )
    expect(item, f"typing “{typed}” lists {package}").to_have_count(1)
    item.get_by_role("button", name="Add", exact=True).click()

    packages = section(page, "Packages")
    expect(saved_status(packages)).to_contain_text(f"Added package {package}")
    expect(packages.get_by_role("button", name=f"Remove {package}")).to_be_visible()


def add_packages(page: Page, shot: Shot) -> None:
    packages = section(page, "Packages")
    search = packages.get_by_label("Add a package")
    expect(search).to_have_accessible_description(re.compile("Type part of a name"))
    results = packages.locator("#package-results")
    type_like_a_person(search, "ss")
    expect(results, "two letters match name starts only").to_contain_text(
        "No Debian package matches “ss”."
    )
    search.press_sequentially("h")
    options = packages.get_by_role("list", name="Matching packages").get_by_role("listitem")
    expect(options, "one more letter, new results").to_have_count(2)
    expect(options.first).to_contain_text("openssh-server")
    expect(options.first).to_contain_text("secure shell (SSH) server")
    shot("package-search-results")
    search.press("Backspace")
    expect(options, "results follow the text back").to_have_count(0)
    search.fill("")

    add_package_by_search(page, "ssh", "openssh-server")
    add_package_by_search(page, "web server", "nginx")  # words of its description
    add_package_by_search(page, "chro", "chrony")

    packages = section(page, "Packages")
    expect(packages.locator(".chips code")).to_have_text(["openssh-server", "nginx", "chrony"])
    expect(packages).to_contain_text("Estimated installed size on KVM / QEMU guest x86_64")
    # A package chosen already is shown as added, not offered again.
    type_like_a_person(packages.get_by_label("Add a package"), "nginx")
    nginx = packages.get_by_role("listitem").filter(has_text="small, powerful, scalable web")
    expect(nginx.get_by_role("button", name="Added")).to_be_disabled()
    shot("packages-added")
    packages.get_by_label("Add a package").fill("")

    # Services suggests the units the chosen packages ship (from the Contents files).
    page.reload()
    services = section(page, "Services")
    for unit in ("ssh.service", "ssh.socket", "nginx.service", "chrony.service"):
        expect(services.get_by_role("button", name=f"+ {unit}", exact=True)).to_be_visible()
    expect(services.get_by_role("button", name="+ ssh@.service")).to_have_count(0)


def set_fixed_address(page: Page, shot: Shot) -> None:
    ini = section(page, "Default system.ini")
    ini.scroll_into_view_if_needed()
    preview = ini.get_by_test_id("system-ini-preview")
    expect(preview, "the preview loads with the page").to_be_visible()
    revision_before = page.locator("#revision-number").inner_text()

    ini.get_by_label("Hostname").fill("lobby-01")
    ini.get_by_label("Fixed address").check()
    expect(ini.get_by_label("IP address"), "fixed-address fields appear").to_be_visible()
    ini.get_by_label("IP address").fill("192.168.10.20/24")
    ini.get_by_label("Gateway").fill("10.0.0.1")
    ini.get_by_role("button", name="Save system.ini defaults").click()

    ini = section(page, "Default system.ini")
    gateway = ini.get_by_label("Gateway")
    expect(gateway, "the refused value stays in the field").to_have_value("10.0.0.1")
    expect(gateway).to_have_attribute("aria-invalid", "true")
    expect(
        gateway, "the reason is tied to the field for screen readers"
    ).to_have_accessible_description(
        re.compile(r"not in the network of the IP address \(192\.168\.10\.0/24\)")
    )
    field_group = ini.locator("div", has=page.locator("#id_systemini_ip_gateway")).last
    expect(field_group.locator(".errorlist")).to_contain_text("not in the network")
    expect(field_group.locator(".errorlist"), "focus moves to the error").to_be_focused()
    expect(ini.get_by_label("IP address"), "only the gateway is wrong").not_to_have_attribute(
        "aria-invalid", "true"
    )
    expect(saved_status(ini)).to_have_count(0)
    expect(page.locator("#revision-number")).to_have_text(revision_before)
    shot("system-ini-wrong-gateway")

    gateway.fill("")
    gateway.press_sequentially("192.168.10.1", delay=60)
    hostname = ini.get_by_label("Hostname")
    hostname.fill("")
    hostname.press_sequentially("lobby-07", delay=60)
    preview = ini.get_by_test_id("system-ini-preview")
    expect(preview, "the preview follows the typing").to_contain_text("hostname=lobby-07")
    expect(preview).to_contain_text("ip_address=192.168.10.20/24")
    expect(preview).to_contain_text("ip_gateway=192.168.10.1")
    expect(page.locator("#revision-number"), "nothing saved by the preview").to_have_text(
        revision_before
    )
    shot("system-ini-preview-before-save")

    ini.get_by_role("button", name="Save system.ini defaults").click()
    ini = section(page, "Default system.ini")
    expect(saved_status(ini)).to_contain_text("Changed default system.ini")
    expect(saved_status(ini), "focus moves to the status line").to_be_focused()
    expect(ini.get_by_label("Gateway")).not_to_have_attribute("aria-invalid", "true")
    expect(ini.locator(".errorlist")).to_have_count(0)
    expect(page.locator("#revision-number")).to_have_text(str(int(revision_before) + 1))
    shot("system-ini-saved")


def compare_revisions(page: Page, base: str, shot: Shot) -> None:
    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(f"{base}/blueprints/{BLUEPRINT}/history/")
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows, "created + 3 packages + system.ini").to_have_count(5)
    expect(rows.first).to_contain_text("Changed default system.ini")
    page.get_by_label("Compare from revision 1", exact=True).check()
    page.get_by_label("Compare to revision 4", exact=True).check()
    shot("history")
    page.get_by_role("button", name="Compare").click()

    expect(page).to_have_url(re.compile(rf"/blueprints/{BLUEPRINT}/diff/\?(b=4&a=1|a=1&b=4)$"))
    expect(page.get_by_role("heading", name=f"{BLUEPRINT}: revision 1 → 4")).to_be_visible()
    added = page.locator("li.added")
    expect(added).to_have_text(
        ["+ added openssh-server", "+ added nginx", "+ added chrony"], use_inner_text=True
    )
    expect(page.locator("li.removed")).to_have_count(0)
    shot("diff")


def export_and_import_copy(page: Page, base: str, shot: Shot) -> None:
    page.goto(f"{base}/blueprints/{BLUEPRINT}/")
    expect(page.get_by_role("heading", name=BLUEPRINT)).to_be_visible()
    shot("blueprint-detail")
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile("^Export")).click()
    download = download_info.value
    assert download.suggested_filename == f"{BLUEPRINT}.genpack.json5"
    exported = Path(download.path()).read_text(encoding="utf-8")
    for expected in ("openssh-server", "nginx", "chrony", "lobby-07", "192.168.10.1", "kvm-x86_64"):
        assert expected in exported, f"{expected} missing from the exported JSON5:\n{exported}"

    page.get_by_role("link", name="Blueprints", exact=True).click()
    page.get_by_role("link", name="Import genpack.json5").click()
    expect(page).to_have_url(f"{base}/blueprints/import/")
    page.get_by_label("Paste genpack.json5").fill(exported)
    page.get_by_label("Import as (optional)").fill(COPY)
    shot("import")
    page.get_by_role("button", name="Import").click()

    expect(page).to_have_url(f"{base}/blueprints/{COPY}/")
    expect(page.get_by_role("status")).to_contain_text(f"Imported as “{COPY}”")
    expect(page.get_by_role("heading", name=COPY)).to_be_visible()
    source = page.locator("pre.code")
    for expected in ("openssh-server", "nginx", "chrony", "192.168.10.1"):
        expect(source).to_contain_text(expected)
    expect(page.get_by_role("button", name=f"Build for {KVM}")).to_be_visible()
    shot("imported-copy")
    # Compared through the app, not the ORM: this thread's database connection is not the
    # live server's, and Playwright's event loop would give it a second one.
    copied = page.request.get(f"{base}/blueprints/{COPY}/export/")
    assert copied.ok
    original, copy = json5.loads(exported), json5.loads(copied.text())
    assert copy["name"] == COPY
    for key in ("packages", "system_ini", "targets", "description"):
        assert copy[key] == original[key], f"{key} differs in the imported copy"


def build_and_watch(page: Page, base: str, shot: Shot) -> None:
    page.goto(f"{base}/blueprints/{BLUEPRINT}/")
    page.get_by_role("button", name=f"Build for {KVM}").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(base)}/builds/\d+/$"))
    expect(
        page.get_by_role("heading", name=re.compile(rf"^Build #\d+ {BLUEPRINT} r5"))
    ).to_be_visible()
    shot("build-started")

    log = page.locator("pre#build-log")
    state = page.locator("#build-status .state")
    expect(state, "a worker picks the build up").to_have_text("Running", timeout=60_000)
    # Sample the log while the build runs: it must grow in steps, not arrive all at once.
    lengths: list[int] = []
    running_shot = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lengths.append(len(log.inner_text()))
        current = state.inner_text()
        if current != "Running":
            break
        if not running_shot and lengths[-1] > 0:
            shot("build-running")
            running_shot = True
        page.wait_for_timeout(500)
    growth = sorted({n for n in lengths if n > 0})
    assert len(growth) >= 2, f"the log did not grow while running (lengths seen: {lengths})"

    expect(state).to_have_text("Succeeded", timeout=30_000)
    expect(page.get_by_role("heading", name="Downloads")).to_be_visible()
    main_download = page.get_by_test_id("main-download")
    expect(main_download).to_contain_text(f"Download for {KVM}")
    checksum = page.locator("#build-status code.hash").first
    expect(checksum).to_have_attribute("title", re.compile(r"^SHA-256 [0-9a-f]{64}$"))
    expect(page.get_by_role("button", name=re.compile("^Copy the SHA-256")).first).to_be_visible()
    page.get_by_text("Other files", exact=True).click()
    other_files = page.locator("#build-status .other-files tbody tr")
    expect(other_files).to_have_count(2)  # the manifest and the SBOM
    expect(other_files.nth(1)).to_contain_text("Software bill of materials (SPDX JSON)")
    for step in ("rootfs", "customize", "pack"):
        expect(log).to_contain_text(f"fake {step} for {BLUEPRINT}")
    expect(page.get_by_role("progressbar", name="Build progress")).to_have_count(0)
    with page.expect_download() as download_info:
        main_download.click()
    assert download_info.value.suggested_filename.endswith(".img")
    # The log polls on its own: it catches up with the end, then stops, with nothing repeated.
    expect(log).to_contain_text("artifacts published")
    page.wait_for_timeout(2500)  # more than one poll interval
    log_url = page.get_by_role("link", name="Open the whole log as text").get_attribute("href")
    whole_log = page.request.get(f"{base}{log_url}")
    assert whole_log.ok
    assert log.inner_text().strip() == whole_log.text().strip()
    shot("build-succeeded")


# --- the journey -----------------------------------------------------------------------------


def test_product_manager_designs_exports_imports_and_builds_a_blueprint(
    live_server, package_index, pm_account, workers, page: Page, screenshot: Shot
) -> None:
    worker = workers("browser", FAKE_ENGINE_SECONDS=FAKE_BUILD_SECONDS)  # online as a build host
    base = live_server.url

    log_in(page, base, screenshot, *pm_account)
    create_blueprint(page, base, screenshot)
    add_packages(page, screenshot)
    set_fixed_address(page, screenshot)
    compare_revisions(page, base, screenshot)
    export_and_import_copy(page, base, screenshot)
    assert worker.poll() is None, "the build worker died before the build"
    build_and_watch(page, base, screenshot)


@pytest.fixture
def blueprint_to_edit(seeded: None) -> str:
    from blueprints.services import blueprint_create
    from hardware_profiles.models import HardwareProfile

    blueprint_create(name=BLUEPRINT, author=None, targets=[HardwareProfile.objects.get(name=KVM)])
    return BLUEPRINT


def test_every_editor_field_has_a_label_of_its_own(
    live_server, pm_account, blueprint_to_edit: str, page: Page, screenshot: Shot
) -> None:
    log_in(page, live_server.url, lambda name: None, *pm_account)
    page.goto(f"{live_server.url}/blueprints/{blueprint_to_edit}/edit/")

    duplicated = page.evaluate(
        """() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
                   return ids.filter((id, i) => ids.indexOf(id) !== i); }"""
    )
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
                 .filter(e => !e.labels.length && !e.getAttribute('aria-label'))
                 .map(e => e.closest('section').id + ' ' + e.name)"""
    )
    assert (duplicated, unlabelled) == ([], [])
    expect(section(page, "Services").get_by_label("Service")).to_have_count(1)
