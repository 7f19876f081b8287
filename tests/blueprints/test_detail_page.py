"""The blueprint page: a summary in plain words, the JSON5 behind a tab, changes by revision."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from blueprints.models import Blueprint
from blueprints.services import blueprint_revise
from tests.blueprints.test_secrets import SECRETS, SOURCE

pytestmark = pytest.mark.django_db

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO0G1s1Rvc0aWq5KqI9xFz1k5w8m4j3N2b7c6d5e4f3g op@shop"
LONG_PATH = "/etc/kiosk/" + "very-long-directory-name/" * 8 + "settings.conf"
KIOSK = f"""{{
  name: "kiosk",
  description: "Shop kiosk",
  targets: ["pc-x86_64", "kvm-x86_64"],
  packages: ["openssh-server", "chromium", "-firmware-iwlwifi"],
  services: ["ssh", "kiosk.service"],
  users: [
    {{name: "operator", comment: "Shop staff", additional_groups: ["dialout"],
      password_hash: "$6$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
      ssh_keys: ["{SSH_KEY}"]}},
  ],
  files: [{{path: "{LONG_PATH}", mode: "0600", content: "url=https://shop\\n"}}],
  system_ini: {{
    hostname: "kiosk-01", ip_address: "192.168.1.20/24", ip_gateway: "192.168.1.1",
    dns: ["1.1.1.1", "9.9.9.9"], wifi_ssid: "Shop", wifi_key: "Garden-Wifi-9", wifi_country: "DE",
  }},
  arch: {{x86_64: {{packages: ["intel-media-va-driver"]}}}},
}}
"""


def _revise(blueprint: Blueprint, source: str) -> None:
    blueprint.refresh_from_db()
    blueprint_revise(
        blueprint=blueprint,
        source=source,
        message="as typed",
        author=None,
        based_on=blueprint.latest_revision.number,
    )


def _panel(page: str, name: str) -> str:
    """The text of one tab panel (its opening tag included), HTML entities decoded."""
    start = page.index(f'id="panel-{name}"')
    start = page.rindex("<div", 0, start)
    end = page.find('<div role="tabpanel"', start + 1)
    end = page.index("<h2>Recent changes</h2>") if end < 0 else end
    return html.unescape(page[start:end])


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_blueprint_page_summarises_the_blueprint_in_plain_words(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _revise(kiosk, KIOSK)
    summary = _text(_panel(product_manager.get("/blueprints/kiosk/").text, "summary"))
    for words in (
        "Packages (2)",
        "openssh-server",
        "chromium",
        "Left out although the board would add them: firmware-iwlwifi",
        "Services (2)",
        "kiosk.service",
        "operator (Shop staff) — Logs in with a password (set, not shown) and 1 SSH key",
        "groups dialout",
        LONG_PATH,
        "0600",
        "Host name kiosk-01",
        "Wired network Fixed address 192.168.1.20/24 on the first wired port, gateway 192.168.1.1",
        "DNS servers 1.1.1.1, 9.9.9.9",
        "Wi-Fi Joins “Shop” with a password (set, not shown) (country DE)",
        "Architecture x86_64",
        "Packages added intel-media-va-driver",
    ):
        assert words in summary, words


def test_a_new_blueprint_is_summarised_as_automatic_network(
    product_manager: Client, kiosk: Blueprint
) -> None:
    summary = _text(_panel(product_manager.get("/blueprints/kiosk/").text, "summary"))
    assert "Host name kiosk (the blueprint's name)" in summary
    assert "Wired network Automatic address from the network (DHCP)" in summary
    assert "DNS servers from DHCP" in summary
    assert "Not set up; a technician can name a network in system.ini" in summary
    assert "Only what the board needs; no packages added." in summary


def test_wifi_settings_on_targets_without_a_radio_say_so(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _revise(
        kiosk,
        '{name: "kiosk", targets: ["kvm-x86_64"], system_ini: {wifi_country: "DE"}}',
    )
    summary = _text(_panel(product_manager.get("/blueprints/kiosk/").text, "summary"))
    assert "None of the targets has Wi-Fi; the Wi-Fi settings are kept" in summary


def test_the_summary_and_the_json5_tab_show_no_secret(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _revise(kiosk, SOURCE)
    page = product_manager.get("/blueprints/kiosk/").text
    for secret in SECRETS:
        assert secret not in page
    summary = _text(_panel(page, "summary"))
    assert "root — Logs in with a password (set, not shown)" in summary
    assert "Joins “Shop” with a password (set, not shown) (WPA3, hidden network, on wlan0)" in (
        summary
    )
    assert "[app] db_password — string, default ********" in summary
    assert "[app] api_token — int, default ********" in summary


def test_json5_is_behind_a_tab_that_works_without_javascript(
    product_manager: Client, kiosk: Blueprint
) -> None:
    page = product_manager.get("/blueprints/kiosk/").text
    assert 'role="tablist"' in page
    assert re.search(r'id="tab-summary"[^>]*aria-selected="true"', page)
    assert re.search(r'id="tab-json5" href="\?view=json5#blueprint-view"[^>]*"false"', page)
    assert " hidden" not in _panel(page, "summary").split(">", 1)[0]
    assert " hidden" in _panel(page, "json5").split(">", 1)[0]
    assert 'name: "kiosk"' in _panel(page, "json5")

    as_json5 = product_manager.get("/blueprints/kiosk/?view=json5").text
    assert re.search(r'id="tab-json5"[^>]*aria-selected="true"', as_json5)
    assert " hidden" not in _panel(as_json5, "json5").split(">", 1)[0]
    assert " hidden" in _panel(as_json5, "summary").split(">", 1)[0]
    assert "js/tabs" in page  # switches without a reload where scripts run


def test_recent_changes_are_numbered_by_revision_only(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _revise(kiosk, KIOSK)
    page = product_manager.get("/blueprints/kiosk/").text
    changes = page.split("<h2>Recent changes</h2>", 1)[1].split("</ul>", 1)[0]
    assert "<ol" not in changes  # a list counter beside "Revision 2" would be a second number
    items = [_text(item).strip() for item in changes.split("<li>")[1:]]
    assert [item.split(" —")[0] for item in items] == ["Revision 2", "Revision 1"]
    assert 'href="/blueprints/kiosk/diff/?a=1&amp;b=2"' in changes
