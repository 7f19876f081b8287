"""The build log is text in every form it is served: in the page's log pane (filled by our
script as a text node, never swapped in by htmx as HTML) and as the plain log."""

from __future__ import annotations

import pytest
from django.test import Client

from builds.models import Build
from hardware_profiles.models import HardwareProfile
from tests.builds.hostile import IMG_MARKUP, released_build_with_hostile_log

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def build_id(seeded: None) -> int:
    """A released build whose log holds markup."""
    return released_build_with_hostile_log(HardwareProfile.objects.get(slug="kvm-x86_64")).pk


def test_log_pane_is_filled_as_text_by_our_script_not_swapped_in_by_htmx(
    technician: Client, build_id: int
) -> None:
    html = technician.get(f"/builds/{build_id}/").content.decode()
    start = html.index('<pre id="build-log"')
    pane = html[start : html.index(">", start)]
    assert "hx-" not in pane, "htmx would insert the log reply as HTML"
    assert f'data-log-url="/builds/{build_id}/log/"' in pane
    assert "js/build-log" in html
    assert f'href="/builds/{build_id}/log/"' in html, "without JS: the plain log"


@pytest.mark.parametrize("htmx", [False, True])
def test_log_is_served_as_sandboxed_plain_text(
    technician: Client, build_id: int, htmx: bool
) -> None:
    response = technician.get(f"/builds/{build_id}/log/", **(HTMX if htmx else {}))
    assert response.status_code == (286 if htmx else 200)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert IMG_MARKUP in response.content.decode(), "the log itself keeps what was written"


def test_build_error_on_the_status_card_is_text(admin_client_role: Client, build_id: int) -> None:
    """A build error made of engine output is shown as text on the status card."""
    Build.objects.filter(pk=build_id).update(error=f"customize failed at /etc/{IMG_MARKUP}")
    html = admin_client_role.get(f"/builds/{build_id}/").content.decode()
    assert IMG_MARKUP not in html
    assert "/etc/&lt;img src=x onerror=" in html
