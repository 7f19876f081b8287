"""Text a product manager types is text on every page that shows it: the blueprint's pages,
its editor sections (htmx partials included), the history and diff, the JSON5 editor, the live
system.ini preview, and the messages and errors that echo input."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.models import Blueprint
from blueprints.services import blueprint_create, blueprint_revise
from hardware_profiles.models import HardwareProfile

pytestmark = pytest.mark.django_db

MARKUP = "<img src=x onerror=window.__pwned=1>"
ESCAPED = "&lt;img src=x onerror="
HTMX = {"HTTP_HX_REQUEST": "true"}
SECTIONS = ["basics", "users", "files", "settings", "system_ini"]


def _source(quoted: str) -> str:
    return f"""{{
  name: "marked",
  description: "Shop {quoted} kiosk",
  version: "1.0 {quoted}",
  packages: [],
  users: [{{name: "kiosk", comment: "Front {quoted} desk"}}],
  files: [{{path: "/etc/{quoted}.conf", mode: "0644", owner: "root",
            content: "x = {quoted}\\n"}}],
  settings: [{{section: "kiosk", key: "start_url", type: "string",
               default: "http://x/{quoted}", help: "Start {quoted} page"}}],
  system_ini: {{hostname: "kiosk"}},
  targets: ["kvm-x86_64"],
}}"""


@pytest.fixture
def marked(seeded: None) -> Blueprint:
    """Revision 2 carries markup in every free-text field, and in its history message."""
    blueprint = blueprint_create(
        name="marked", author=None, targets=[HardwareProfile.objects.get(slug="kvm-x86_64")]
    )
    blueprint_revise(
        blueprint=blueprint,
        source=_source(MARKUP),
        message=f"Pasted {MARKUP}",
        author=None,
        based_on=1,
    )
    blueprint.refresh_from_db()
    return blueprint


def assert_text(html: str, where: str) -> None:
    assert MARKUP not in html, f"{where} shows the markup as markup"
    assert "<img" not in html, f"{where} has an <img> element"


def test_blueprint_pages_show_markup_as_text(product_manager: Client, marked: Blueprint) -> None:
    name = marked.name
    pages = [
        (f"/blueprints/{name}/", {}),
        ("/blueprints/", {}),
        ("/blueprints/?q=kiosk", HTMX),
        (f"/blueprints/{name}/edit/", {}),
        (f"/blueprints/{name}/edit/json5/", {}),
        (f"/blueprints/{name}/history/", {}),
        (f"/blueprints/{name}/diff/?a=1&b=2", {}),
    ]
    pages += [(f"/blueprints/{name}/edit/{section}/", HTMX) for section in SECTIONS]
    shown = 0
    for path, headers in pages:
        response = product_manager.get(path, **headers)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert_text(html, path)
        shown += ESCAPED in html
    assert shown >= 8, "the markup is shown, as text, on the pages that show these fields"


def test_system_ini_preview_shows_markup_as_text(
    product_manager: Client, marked: Blueprint
) -> None:
    response = product_manager.post(
        f"/blueprints/{marked.name}/system-ini/preview/",
        {"hostname": "kiosk", "network": "dhcp", "locale": f"en_US {MARKUP}"},
        **HTMX,
    )
    html = response.content.decode()
    assert_text(html, "the system.ini preview")
    assert "Start &lt;img src=x onerror=" in html, "declared setting help, as text"


def test_import_error_naming_a_field_shows_it_as_text(product_manager: Client) -> None:
    response = product_manager.post("/blueprints/import/", {"source": f'{{"{MARKUP}": 1}}'})
    assert response.status_code == 200
    html = response.content.decode()
    assert_text(html, "the import error")
    assert "&lt;img src=x onerror=" in html, "the unknown field is named, as text"


def test_message_echoing_a_saved_value_is_text(product_manager: Client, marked: Blueprint) -> None:
    """Without htmx a section save redirects with a message that may name what was typed."""
    response = product_manager.post(
        f"/blueprints/{marked.name}/edit/services/",
        {"based_on": marked.latest_revision.number, "name": f"x{MARKUP}.service"},
        follow=True,
    )
    assert_text(response.content.decode(), "the services section's answer")
