"""Who can see and do what: one persona per role, plus an anonymous visitor."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from blueprints.models import Blueprint
from blueprints.services import blueprint_create
from hardware_profiles.models import HardwareProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def blueprint(seeded: None) -> Blueprint:
    return blueprint_create(
        name="kiosk", author=None, targets=list(HardwareProfile.objects.filter(slug="pc-x86_64"))
    )


def _edit_source(blueprint: Blueprint, description: str) -> dict[str, object]:
    source = blueprint.latest_revision.source.replace(
        'description: ""', f'description: "{description}"'
    )
    return {"source": source, "message": "tweak", "based_on": blueprint.latest_revision.number}


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/blueprints/",
        "/blueprints/new/",
        "/builds/",
        "/profiles/",
        "/profiles/pc-x86_64/edit/",
    ],
)
def test_anonymous_visitor_is_sent_to_login(anonymous: Client, url: str) -> None:
    response = anonymous.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_is_public(anonymous: Client) -> None:
    response = anonymous.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_technician_cannot_edit_blueprints(technician: Client, blueprint: Blueprint) -> None:
    assert technician.get(reverse("blueprints:new")).status_code == 403
    assert technician.get(reverse("blueprints:edit", args=["kiosk"])).status_code == 403
    response = technician.post(
        reverse("blueprints:source", args=["kiosk"]), _edit_source(blueprint, "x")
    )
    assert response.status_code == 403
    response = technician.post(reverse("blueprints:new"), {"name": "sneaky"})
    assert response.status_code == 403
    assert not Blueprint.objects.filter(name="sneaky").exists()
    assert Blueprint.objects.get(name="kiosk").latest_revision.number == 1


def test_technician_sees_builds_and_profiles_but_no_blueprints(technician: Client) -> None:
    assert technician.get(reverse("builds:list")).status_code == 200
    assert technician.get(reverse("hardware_profiles:list")).status_code == 200
    assert technician.get(reverse("blueprints:list")).status_code == 403
    home = technician.get("/").content.decode()
    assert 'href="/builds/"' in home
    assert 'href="/blueprints/"' not in home
    assert "New blueprint" not in home


def test_product_manager_edits_blueprints(product_manager: Client, blueprint: Blueprint) -> None:
    response = product_manager.post(
        reverse("blueprints:source", args=["kiosk"]), _edit_source(blueprint, "Shop kiosk")
    )
    assert response.status_code == 302
    blueprint.refresh_from_db()
    assert blueprint.latest_revision.number == 2
    assert blueprint.latest_revision.description == "Shop kiosk"


def test_product_manager_cannot_edit_hardware_profiles(product_manager: Client) -> None:
    url = reverse("hardware_profiles:edit", args=["pc-x86_64"])
    assert product_manager.get(url).status_code == 403
    response = product_manager.post(url, {"name": "Hacked", "slug": "pc-x86_64"})
    assert response.status_code == 403
    assert HardwareProfile.objects.get(slug="pc-x86_64").name == "PC x86_64 (UEFI)"
    assert product_manager.get(reverse("hardware_profiles:create")).status_code == 403
    assert product_manager.get(reverse("hardware_profiles:list")).status_code == 200


def test_product_manager_has_no_django_admin(product_manager: Client) -> None:
    response = product_manager.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert 'href="/admin/"' not in product_manager.get("/").content.decode()


def test_admin_edits_hardware_profiles(admin_client_role: Client) -> None:
    url = reverse("hardware_profiles:edit", args=["kvm-x86_64"])
    form = admin_client_role.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v not in (None, False)}
    data["name"] = "KVM guest (renamed)"
    data["components"] = "main"
    data["extra_packages"] = "qemu-guest-agent"
    response = admin_client_role.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    assert HardwareProfile.objects.get(slug="kvm-x86_64").name == "KVM guest (renamed)"
    assert admin_client_role.get("/admin/").status_code == 200


def test_outsider_without_role_can_open_nothing(outsider: Client) -> None:
    for url in ["/blueprints/", "/builds/", "/profiles/", "/blueprints/new/"]:
        assert outsider.get(url).status_code == 403, url
    assert outsider.get("/").status_code == 200
