"""Every page runs under a Content-Security-Policy with no inline script, and gives it nothing
to refuse: no inline script or style, no on* handler, no eval-based htmx attribute."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from blueprints.services import blueprint_create, blueprint_update
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import data_dirs  # noqa: F401  (fixture used here)
from tests.builds.hostile import released_build_with_hostile_log

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HTMX = {"HTTP_HX_REQUEST": "true"}


class InlineCode(HTMLParser):
    """Collects everything in a page that a strict policy refuses or that needs eval."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            data_only = (names.get("type") or "").endswith("json")  # json_script: never run
            self._in_script = "src" not in names and not data_only
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…> handler")
            elif name == "style":
                self.found.append(f"<{tag} style=…> attribute")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}> needs eval")
            elif name in ("hx-vals", "hx-vars", "hx-headers") and value.startswith(
                ("js:", "javascript:")
            ):
                self.found.append(f"<{tag} {name}=js:…> needs eval")
            elif name in ("href", "src", "action", "formaction") and value.lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:…>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def site(seeded: None) -> dict[str, object]:
    """A blueprint with two revisions and a released build whose log holds markup."""
    kvm = HardwareProfile.objects.get(slug="kvm-x86_64")
    blueprint = blueprint_create(name="csp-kiosk", author=None, targets=[kvm])
    blueprint_update(
        blueprint=blueprint,
        changes={"description": "Second revision"},
        message="Changed basics",
        author=None,
        based_on=1,
    )
    build = released_build_with_hostile_log(kvm)
    return {"blueprint": blueprint.name, "build": build.pk, "profile": kvm}


def admin_pages(site: dict[str, object]) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, headers) of the pages an admin opens, htmx partials included."""
    name, build, profile = site["blueprint"], site["build"], site["profile"]
    sections = [
        "basics",
        "targets",
        "packages",
        "services",
        "users",
        "files",
        "settings",
        "system_ini",
        "advanced",
    ]
    pages = [
        ("get", "/", {}),
        ("get", "/blueprints/", {}),
        ("get", "/blueprints/?q=kiosk", HTMX),
        ("get", "/blueprints/new/", {}),
        ("get", "/blueprints/import/", {}),
        ("get", f"/blueprints/{name}/", {}),
        ("get", f"/blueprints/{name}/edit/", {}),
        ("get", f"/blueprints/{name}/edit/json5/", {}),
        ("get", f"/blueprints/{name}/history/", {}),
        ("get", f"/blueprints/{name}/diff/?a=1&b=2", {}),
        ("get", f"/blueprints/{name}/packages/search/?name=ss", HTMX),
        ("post", f"/blueprints/{name}/system-ini/preview/", HTMX),
        ("get", "/builds/", {}),
        ("get", f"/builds/{build}/", {}),
        ("get", f"/builds/{build}/", HTMX),
        ("get", f"/builds/{build}/personalise/", {}),
        ("get", "/profiles/", {}),
        ("get", "/profiles/new/", {}),
        ("get", f"/profiles/{profile.slug}/", {}),
        ("get", f"/profiles/{profile.slug}/edit/", {}),
        ("get", "/no/such/page/", {}),
        ("get", "/admin/", {}),
        ("get", "/admin/blueprints/blueprint/", {}),
        ("get", "/admin/builds/build/", {}),
        ("get", f"/admin/builds/build/{build}/change/", {}),
        ("get", "/admin/hardware_profiles/hardwareprofile/", {}),
        ("get", f"/admin/hardware_profiles/hardwareprofile/{profile.pk}/change/", {}),
        ("get", "/admin/auth/user/add/", {}),
    ]
    pages += [("get", f"/blueprints/{name}/edit/{section}/", HTMX) for section in sections]
    return pages


def test_every_page_sends_the_policy_and_has_no_inline_code(
    admin_client_role: Client, site: dict[str, object]
) -> None:
    for method, path, headers in admin_pages(site):
        response = getattr(admin_client_role, method)(path, **headers)
        where = f"{method.upper()} {path} {'(htmx)' if headers else ''}"
        expected = 200
        if path == "/no/such/page/":
            expected = 404
        elif headers and path.startswith("/builds/"):
            expected = 286  # a finished build's status: htmx stops polling
        assert response.status_code == expected, where
        assert response["Content-Security-Policy"] == POLICY, where
        assert inline_code(response.content.decode()) == [], where


def test_login_page_sends_the_policy(anonymous: Client) -> None:
    response = anonymous.get("/accounts/login/")
    assert response["Content-Security-Policy"] == POLICY
    assert inline_code(response.content.decode()) == []


def test_htmx_is_configured_to_need_no_eval_and_no_inline_style(
    admin_client_role: Client,
) -> None:
    html = admin_client_role.get("/").content.decode()
    config = (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, '
        '"allowEval": false, "allowScriptTags": false}\'>'
    )
    assert config in html
    assert html.index(config) < html.index("htmx-2.min"), "htmx reads its config as it starts"
