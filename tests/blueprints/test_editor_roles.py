"""Technicians and outsiders reach no editor endpoint, htmx ones included."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.editor import SECTIONS

pytestmark = pytest.mark.django_db

EDITOR_GETS = [
    "/blueprints/new/",
    "/blueprints/import/",
    "/blueprints/kiosk/edit/",
    "/blueprints/kiosk/edit/json5/",
    "/blueprints/kiosk/packages/search/?name=open",
    *[f"/blueprints/kiosk/edit/{name}/" for name in SECTIONS],
]
EDITOR_POSTS = [
    "/blueprints/new/",
    "/blueprints/import/",
    "/blueprints/kiosk/edit/json5/",
    "/blueprints/kiosk/system-ini/preview/",
    "/blueprints/kiosk/restore/1/",
    "/builds/start/kiosk/",
    *[f"/blueprints/kiosk/edit/{name}/" for name in SECTIONS],
]


@pytest.mark.parametrize("persona", ["technician", "outsider"])
@pytest.mark.parametrize("htmx", [False, True])
def test_editor_endpoints_are_forbidden(request, kiosk, persona: str, htmx: bool) -> None:
    client: Client = request.getfixturevalue(persona)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for url in EDITOR_GETS:
        assert client.get(url, **headers).status_code == 403, url
    for url in EDITOR_POSTS:
        response = client.post(
            url, {"based_on": 1, "name": "x", "source": "{name: 'x'}"}, **headers
        )
        assert response.status_code == 403, url
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 1


def test_anonymous_is_sent_to_login_from_htmx_endpoints(anonymous: Client, kiosk) -> None:
    for url in EDITOR_GETS:
        response = anonymous.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_technician_cannot_see_unreleased_builds_or_blueprints(technician: Client, kiosk) -> None:
    assert technician.get("/blueprints/kiosk/").status_code == 403
    assert technician.get("/blueprints/kiosk/history/").status_code == 403
    assert technician.get("/blueprints/kiosk/export/").status_code == 403
