"""What a page may execute, in a real browser: a build log is text whatever it contains, and
every page runs under a Content-Security-Policy that our own pages (htmx included) and Django's
admin keep without a single violation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect

from blueprints.services import blueprint_create
from builds.models import Build
from genpack_site import roles
from hardware_profiles.models import HardwareProfile
from tests.browser.conftest import PASSWORD
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.builds.hostile import IMG_MARKUP, SCRIPT_MARKUP, released_build_with_hostile_log
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("data_dirs", "build_host"),
]

# Pages of the browser's own world (documents with this origin) report violations here; the
# init script runs before any page script, so nothing a page does can hide one.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


@dataclass
class Watch:
    """What the browser said about CSP while the test ran."""

    console: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)


@pytest.fixture
def watched(browser_context: BrowserContext, page: Page) -> Iterator[Watch]:
    watch = Watch()
    browser_context.add_init_script(RECORD_VIOLATIONS)
    page.on("console", watch.record)
    yield watch


def violations(page: Page, watch: Watch) -> list[str]:
    reported = page.evaluate("() => window.__cspViolations || []")
    return [*reported, *watch.console]


@pytest.fixture
def accounts(seeded: None) -> dict[str, str]:
    """One person per role who logs in with a password: role → username."""
    people = {
        "technician": (roles.FIELD_TECHNICIAN, False),
        "product manager": (roles.PRODUCT_MANAGER, False),
        "admin": (roles.ADMIN, True),
    }
    names = {}
    for role, (group, staff) in people.items():
        user = UserFactory(
            username=role.replace(" ", "_"),
            groups=[Group.objects.get(name=group)],
            is_staff=staff,
        )
        user.set_password(PASSWORD)
        user.save()
        names[role] = user.username
    return names


def log_in(page: Page, base: str, username: str, then: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/?next={then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}{then}")


# --- the build log is text --------------------------------------------------------------------


@pytest.fixture
def hostile_build(seeded: None) -> tuple[int, str]:
    """(build id, the whole log): over 256 KiB, so the pane fetches it in several chunks."""
    build = released_build_with_hostile_log(
        HardwareProfile.objects.get(slug="kvm-x86_64"), filler_lines=5000
    )
    from builds import paths

    return build.pk, paths.build_log_path(build.pk).read_text()


@pytest.mark.parametrize("role", ["technician", "product manager", "admin"])
def test_markup_in_the_build_log_shows_as_text_and_runs_nothing(
    role: str,
    live_server,
    accounts: dict[str, str],
    hostile_build: tuple[int, str],
    watched: Watch,
    page: Page,
) -> None:
    build_id, whole_log = hostile_build
    assert len(whole_log.encode()) > 256 * 1024, "the log must need more than one request"
    log_in(page, live_server.url, accounts[role], f"/builds/{build_id}/")

    pane = page.locator("pre#build-log")
    # The last filler line arrives in the second chunk; then give the pane more than a poll
    # interval: nothing more may arrive, nothing may repeat.
    page.wait_for_function(
        "() => document.getElementById('build-log').textContent.includes('number 004999')"
    )
    page.wait_for_timeout(2500)
    text = pane.evaluate("pane => pane.textContent")
    assert "<img src=x onerror=" in text, "the markup is visible as text in the log pane"
    assert SCRIPT_MARKUP in text
    same = text == whole_log
    assert same, f"the pane holds {len(text)} characters, the log {len(whole_log)}"
    assert pane.evaluate("pane => pane.children.length") == 0, "markup became elements"
    assert page.locator("pre#build-log img, pre#build-log script, svg").count() == 0
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert violations(page, watched) == []

    # Without our script the pane stays empty: the plain log is one link away, as text.
    plain = page.request.get(
        live_server.url
        + page.get_by_role("link", name="Open the whole log as text").get_attribute("href")
    )
    assert plain.ok and plain.headers["content-type"].startswith("text/plain")
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert IMG_MARKUP in plain.text()


# --- a Content-Security-Policy that our pages keep ---------------------------------------------


@pytest.fixture
def admin_pages(accounts: dict[str, str]) -> list[str]:
    """Pages with htmx at work (editor sections, live search, live preview, polling status)
    and the admin's index, a list and a change form."""
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    blueprint_create(name="csp-kiosk", author=None, targets=[kvm])
    running = released_build_with_hostile_log(kvm, name="csp-build")
    Build.objects.filter(pk=running.pk).update(state=Build.State.RUNNING)
    return [
        "/",
        "/blueprints/",
        "/blueprints/csp-kiosk/",
        "/blueprints/csp-kiosk/edit/",
        "/blueprints/csp-kiosk/edit/json5/",
        "/blueprints/import/",
        f"/builds/{running.pk}/",
        f"/builds/{running.pk}/personalise/",
        "/profiles/",
        "/admin/",
        "/admin/hardware_profiles/hardwareprofile/",
        f"/admin/hardware_profiles/hardwareprofile/{kvm.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/builds/build/",
    ]


def test_pages_and_admin_run_under_the_policy_without_a_violation(
    live_server, accounts: dict[str, str], admin_pages: list[str], watched: Watch, page: Page
) -> None:
    base = live_server.url
    log_in(page, base, accounts["admin"], "/")
    for path in admin_pages:
        response = page.goto(f"{base}{path}")
        assert response and response.ok, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy, path
        page.wait_for_load_state("load")
        if "/admin/" not in path:
            # htmx is loaded and told to stay away from eval and inline styles and scripts.
            config = page.evaluate(
                "() => [htmx.config.allowEval, htmx.config.allowScriptTags,"
                " htmx.config.includeIndicatorStyles]"
            )
            assert config == [False, False, False], path
        assert violations(page, watched) == [], path

    # htmx works under the policy: the editor's live system.ini preview loads, a live package
    # search answers, a section saves.
    page.goto(f"{base}/blueprints/csp-kiosk/edit/")
    expect(page.get_by_test_id("system-ini-preview")).to_contain_text("hostname")
    basics = page.get_by_role("region", name="Basics", exact=True)
    basics.get_by_label("Description").fill("Checked under a strict policy.")
    basics.get_by_role("button", name="Save basics").click()
    expect(basics.get_by_role("status")).to_contain_text("Saved")
    assert violations(page, watched) == []
