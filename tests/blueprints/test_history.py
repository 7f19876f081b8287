"""History, semantic diff between revisions, and restoring an old one."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.diff import revision_diff
from tests.blueprints.conftest import section_post

pytestmark = pytest.mark.django_db


def test_diff_names_what_changed(product_manager: Client, kiosk) -> None:
    section_post(product_manager, kiosk, "packages", {"name": "curl"})
    section_post(product_manager, kiosk, "services", {"name": "ssh"})
    section_post(
        product_manager,
        kiosk,
        "system_ini",
        {
            "network": "dhcp",
            "hostname": "kiosk-02",
            "wifi_ssid": "Shop",
            "wifi_key": "supersecret1",
            "wifi_country": "DE",
        },
    )
    response = product_manager.get("/blueprints/kiosk/diff/?a=1&b=4")
    html = response.content.decode()
    assert "added <code>curl</code>" in html
    assert "added <code>ssh</code>" in html
    assert "hostname" in html
    assert "supersecret1" not in html  # secrets masked in diffs


def test_diff_of_users_files_and_settings() -> None:
    old = {"users": ["a", {"name": "b"}], "files": [{"path": "/x", "content": "1"}]}
    new = {
        "users": [{"name": "b", "comment": "Bee"}, "c"],
        "files": [{"path": "/x", "content": "2"}],
        "settings": [{"section": "app", "key": "url"}],
    }
    diffs = {d.field: d for d in revision_diff(old, new)}
    assert diffs["users"].added == ["c"] and diffs["users"].removed == ["a"]
    assert diffs["users"].changed == ["b"]
    assert diffs["files"].changed == ["/x"]
    assert diffs["settings"].added == ["app.url"]


def test_restore_makes_an_old_revision_the_latest(product_manager: Client, kiosk) -> None:
    section_post(product_manager, kiosk, "basics", {"description": "changed", "version": "9"})
    kiosk.refresh_from_db()
    response = product_manager.post("/blueprints/kiosk/restore/1/", {"based_on": 2})
    assert response.status_code == 302
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 3
    assert kiosk.latest_revision.description == "Shop kiosk"
    assert kiosk.latest_revision.message == "Restored revision 1"
    assert kiosk.revisions.count() == 3  # history kept


def test_history_page_lists_revisions(product_manager: Client, kiosk) -> None:
    html = product_manager.get("/blueprints/kiosk/history/").content.decode()
    assert "r1" in html and "Created" in html
