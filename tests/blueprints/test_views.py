"""Blueprint pages outside the section editor: the live system.ini preview."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.models import Blueprint

pytestmark = pytest.mark.django_db


def _preview(client: Client, blueprint: Blueprint, data: dict) -> str:
    response = client.post(
        f"/blueprints/{blueprint.name}/system-ini/preview/",
        {"network": "static", "ip_address": "192.168.1.20/24", **data},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    return response.content.decode()


def _settings_in(html: str) -> list[str]:
    """The uncommented lines of the previewed file (HTML-escaped text in a <pre>)."""
    text = html.split('data-testid="system-ini-preview">', 1)[1].split("</pre>", 1)[0]
    return [line for line in text.splitlines() if line and not line.startswith((";", "["))]


def test_preview_shows_what_was_typed(product_manager: Client, kiosk: Blueprint) -> None:
    html = _preview(product_manager, kiosk, {"hostname": "kiosk-01", "dns": "1.1.1.1"})
    assert _settings_in(html) == ["hostname=kiosk-01", "ip_address=192.168.1.20/24", "dns=1.1.1.1"]


@pytest.mark.parametrize(
    "typed",
    [
        {"hostname": "kiosk\nfactory_reset=yes"},
        {"hostname": "kiosk\r\nautologin=yes"},
        {"dns": "1.1.1.1\rfactory_reset=yes"},
        {"interface": "eth0\u2028factory_reset=yes"},
        {"wifi_ssid": "Shop\nfactory_reset=yes"},
        {"locale": "en_US.UTF-8\x85autologin=yes"},
    ],
)
def test_preview_never_shows_a_setting_smuggled_in_with_a_line_break(
    product_manager: Client, kiosk: Blueprint, typed: dict
) -> None:
    settings = _settings_in(_preview(product_manager, kiosk, typed))
    assert settings == ["ip_address=192.168.1.20/24"]
