"""Fixtures for browser tests: headless Chromium, a local Debian mirror, real build workers.

The live server runs in a thread of this process against the test database; worker processes
reach the same database through `worker_env` (tests/builds/conftest.py).
"""

from __future__ import annotations

import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from pytest_django.live_server_helper import LiveServer

from genpack_site import roles
from package_index.store import IndexCounts, package_index_update
from tests.builds.conftest import worker_env, workers  # noqa: F401  (fixtures used here)
from tests.factories import UserFactory
from tests.harness import mirror_serve, release_write

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HERE = Path(__file__).resolve().parent
DEBIAN_DATA = HERE.parent / "data" / "debian"
SCREENSHOTS = HERE / "screenshots"
SUITE = "bookworm"
PASSWORD = "correct horse battery staple"
# The machine has two slow cores: generous, but every wait ends.
TIMEOUT_MS = 20_000


def _whitenoise_serves_static(application: object) -> object:
    return application


@pytest.fixture(scope="session")
def live_server(_static_files_collected: None, django_db_setup: None) -> Iterator[LiveServer]:
    """pytest-django's live server, with static files served as in production.

    Its default handler looks static files up with the finders, which know only the unhashed
    names; templates ask for the hashed names that collectstatic wrote (manifest storage).
    WhiteNoise, in the middleware, serves those from STATIC_ROOT. (It stops before the test
    database is dropped: its request threads may still hold connections.)
    """
    server = LiveServer("localhost", start=False)
    server.thread.static_handler = _whitenoise_serves_static
    server.start()
    yield server
    server.stop()


def _mirror_tree(root: Path) -> Path:
    """bookworm/main/amd64 as a Debian mirror lays it out: the shared fixture archive plus a
    few packages an appliance designer reaches for (tests/browser/data)."""
    dists = root / "debian" / "dists" / SUITE
    binary = dists / "main" / "binary-amd64"
    binary.mkdir(parents=True)
    packages = (DEBIAN_DATA / "Packages").read_text().rstrip("\n") + "\n\n"
    packages += (HERE / "data" / "Packages-extra").read_text()
    (binary / "Packages.xz").write_bytes(lzma.compress(packages.encode()))
    contents = (DEBIAN_DATA / "Contents-amd64").read_bytes()
    contents += (HERE / "data" / "Contents-extra").read_bytes()
    (dists / "main" / "Contents-amd64.gz").write_bytes(gzip.compress(contents))
    (dists / "main" / "Contents-all.gz").write_bytes(
        gzip.compress((DEBIAN_DATA / "Contents-all").read_bytes())
    )
    release_write(dists, arches=("amd64",))
    return root


@pytest.fixture
def debian_mirror(tmp_path: Path) -> Iterator[str]:
    """The fixture archive served over real HTTP on 127.0.0.1."""
    with mirror_serve(_mirror_tree(tmp_path / "mirror")) as url:
        yield url


@pytest.fixture
def package_index(seeded: None, debian_mirror: str) -> IndexCounts:
    """bookworm/main/amd64 loaded through the same code path as the daily index task."""
    cache.clear()
    counts = package_index_update(suite=SUITE, component="main", arch="amd64", mirror=debian_mirror)
    assert counts.packages >= 15 and not counts.error
    return counts


@pytest.fixture
def pm_account(seeded: None) -> tuple[str, str]:
    """A product manager who logs in with a password (username, password)."""
    user = UserFactory(username="pam", groups=[Group.objects.get(name=roles.PRODUCT_MANAGER)])
    user.set_password(PASSWORD)
    user.save()
    return user.username, PASSWORD


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API runs an event loop in this thread while it is open: Django then
    refuses ORM calls here (SynchronousOnlyOperation). Prepare data in fixtures requested
    before `page`, and check results through the app itself."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser_context(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile directory."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.browser_failed = report.failed
    return report


@pytest.fixture
def page(request: pytest.FixtureRequest, browser_context: BrowserContext) -> Iterator[Page]:
    """The browser tab; when the test fails, its last state is kept as failure.png/.html."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    tab = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    yield tab
    if getattr(request.node, "browser_failed", False):
        SCREENSHOTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
        (SCREENSHOTS / "failure.html").write_text(tab.content())


@pytest.fixture
def screenshot(page: Page):
    """`screenshot("name")` saves the whole page as screenshots/NN-name.png, numbered in order."""
    SCREENSHOTS.mkdir(exist_ok=True)
    counter = iter(range(1, 100))

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
