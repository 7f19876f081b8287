"""Importing genpack.json5 over an existing blueprint: the changes first, then a new revision."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from blueprints.json5_io import blueprint_dump
from blueprints.models import Blueprint
from blueprints.problems import blueprint_problems
from blueprints.services import blueprint_revise, blueprint_update
from tests.blueprints.test_secrets import ROOT_HASH, SOURCE, WIFI_KEY
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _exported(client: Client, name: str = "kiosk") -> str:
    response = client.get(f"/blueprints/{name}/export/")
    assert response.status_code == 200
    return response.content.decode()


def _with_packages(source: str, packages: list[str]) -> str:
    return source.replace("packages: [],", f"packages: {packages!r},".replace("'", '"'), 1)


def _confirm_fields(page: str) -> dict[str, str]:
    fields = dict(
        re.findall(r'<input type="hidden" name="(source_b64|based_on)" value="([^"]*)"', page)
    )
    assert set(fields) == {"source_b64", "based_on"}, page
    return fields


def _revisions(blueprint: Blueprint) -> list[int]:
    return list(blueprint.revisions.order_by("number").values_list("number", flat=True))


def test_import_shows_the_changes_and_saves_only_when_confirmed(
    product_manager: Client, kiosk: Blueprint
) -> None:
    source = _with_packages(_exported(product_manager), ["nginx", "chrony"])
    preview = product_manager.post("/blueprints/kiosk/import/", {"source": source})
    assert preview.status_code == 200
    page = html.unescape(preview.text)
    assert "Changes from revision 1" in page
    assert "+ added nginx" in re.sub(r"<[^>]+>", "", page)
    assert "Save as revision 2" in page
    assert _revisions(kiosk) == [1]  # nothing saved yet

    saved = product_manager.post("/blueprints/kiosk/import/", _confirm_fields(preview.text))
    assert saved.status_code == 302 and saved["Location"] == "/blueprints/kiosk/"
    kiosk.refresh_from_db()
    assert _revisions(kiosk) == [1, 2]
    revision = kiosk.latest_revision
    assert revision.data["packages"] == ["nginx", "chrony"]
    assert revision.message == "Imported from genpack.json5"
    assert revision.author == product_manager.user
    assert revision.source == source.strip()  # as pasted (the form trims the ends)


def test_an_uploaded_file_is_stored_byte_for_byte(
    product_manager: Client, kiosk: Blueprint
) -> None:
    source = "// from the workshop\n" + _with_packages(_exported(product_manager), ["nginx"])
    upload = SimpleUploadedFile("kiosk.genpack.json5", source.encode())
    preview = product_manager.post("/blueprints/kiosk/import/", {"upload": upload})
    product_manager.post("/blueprints/kiosk/import/", _confirm_fields(preview.text))
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.source == source  # LF kept, comment kept


def test_a_change_saved_between_preview_and_confirm_is_reported_not_overwritten(
    product_manager: Client, kiosk: Blueprint
) -> None:
    source = _with_packages(_exported(product_manager), ["nginx"])
    preview = product_manager.post("/blueprints/kiosk/import/", {"source": source})
    fields = _confirm_fields(preview.text)
    assert fields["based_on"] == "1"
    # Meanwhile someone else saves the blueprint in the editor.
    blueprint_update(
        blueprint=kiosk,
        changes={"description": "Changed meanwhile"},
        message="Basics",
        author=None,
        based_on=1,
    )

    refused = product_manager.post("/blueprints/kiosk/import/", fields)
    assert refused.status_code == 409
    page = html.unescape(refused.text)
    assert "Revision 2 was saved while you were looking at the changes against revision 1" in page
    assert "Nothing was saved" in page
    kiosk.refresh_from_db()
    assert _revisions(kiosk) == [1, 2]
    assert kiosk.latest_revision.data["description"] == "Changed meanwhile"
    assert "nginx" not in kiosk.latest_revision.data.get("packages", [])
    # The changes are shown again, now against revision 2, ready to confirm once reviewed.
    assert "Changes from revision 2" in page
    assert _confirm_fields(refused.text)["based_on"] == "2"
    # Confirming would undo the colleague's change: the new preview says so.
    assert '~ changed "Changed meanwhile" → "Shop kiosk"' in re.sub(r"<[^>]+>", "", page)


def test_bad_json5_lists_every_problem_with_its_line_and_saves_nothing(
    product_manager: Client, kiosk: Blueprint
) -> None:
    source = """{
  name: "kiosk",
  targets: ["kvm-x86_64"],
  packages: [
    "net-misc/openssh",
    "nginx",
    "Not A Package",
  ],
  services: ["bad unit!"],
  colour: "red",
}
"""
    response = product_manager.post("/blueprints/kiosk/import/", {"source": source})
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "4 problems to fix; nothing was saved" in page
    for line, words in (
        (5, "“net-misc/openssh” is a Gentoo package atom"),
        (7, "“Not A Package” in packages is not a valid Debian package name"),
        (9, "“bad unit!” is not a systemd unit name"),
        (10, "Unknown field “colour”"),
    ):
        assert f"line {line}: {words}" in page
    assert "net-misc/openssh" in page.split("<textarea", 1)[1]  # the text, to correct it
    assert _revisions(kiosk) == [1]


def test_a_syntax_error_is_named_with_its_line(product_manager: Client, kiosk: Blueprint) -> None:
    response = product_manager.post(
        "/blueprints/kiosk/import/", {"source": '{\n  name: "kiosk",\n  packages: ["a" "b"],\n}'}
    )
    assert "line 3:" in html.unescape(response.text)
    assert _revisions(kiosk) == [1]


def test_an_export_without_secrets_updates_and_keeps_every_secret(
    product_manager: Client, kiosk: Blueprint
) -> None:
    blueprint_revise(blueprint=kiosk, source=SOURCE, message="secrets", author=None, based_on=1)
    exported = _exported(product_manager)
    assert ROOT_HASH not in exported and WIFI_KEY not in exported
    changed = exported.replace('description: "Shop kiosk"', 'description: "Shop kiosk, v2"')
    preview = product_manager.post("/blueprints/kiosk/import/", {"source": changed})
    assert preview.status_code == 200
    for secret in (ROOT_HASH, WIFI_KEY):
        assert secret not in preview.text  # nor in the hidden confirm field
    product_manager.post("/blueprints/kiosk/import/", _confirm_fields(preview.text))
    kiosk.refresh_from_db()
    data = kiosk.latest_revision.data
    assert kiosk.latest_revision.number == 3
    assert data["description"] == "Shop kiosk, v2"
    assert data["system_ini"]["wifi_key"] == WIFI_KEY
    assert data["users"][0]["password_hash"] == ROOT_HASH


def test_the_import_page_offers_to_update_a_blueprint_of_the_same_name(
    product_manager: Client, kiosk: Blueprint
) -> None:
    source = _with_packages(_exported(product_manager), ["nginx"])
    response = product_manager.post("/blueprints/import/", {"source": source})
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "A blueprint named “kiosk” exists already" in page
    assert "Changes from revision 1" in page
    assert 'action="/blueprints/kiosk/import/"' in page
    product_manager.post("/blueprints/kiosk/import/", _confirm_fields(response.text))
    assert Blueprint.objects.count() == 1
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.data["packages"] == ["nginx"]


def test_an_unchanged_file_has_nothing_to_save(product_manager: Client, kiosk: Blueprint) -> None:
    response = product_manager.post(
        "/blueprints/kiosk/import/", {"source": _exported(product_manager)}
    )
    assert 'data-testid="import-unchanged"' in response.text
    assert "source_b64" not in response.text


def test_importing_over_a_blueprint_needs_the_right_to_edit_it(kiosk: Blueprint) -> None:
    viewer = UserFactory(username="vic")
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_blueprint", "add_blueprint"])
    )
    client = Client()
    client.force_login(viewer)
    source = blueprint_dump({**kiosk.latest_revision.data, "packages": ["nginx"]})
    assert client.get("/blueprints/kiosk/").status_code == 200
    assert "Import a new version" not in client.get("/blueprints/kiosk/").text
    assert client.get("/blueprints/kiosk/import/").status_code == 403
    assert client.post("/blueprints/kiosk/import/", {"source": source}).status_code == 403
    encoded = {"source_b64": "e30=", "based_on": "1"}
    assert client.post("/blueprints/kiosk/import/", encoded).status_code == 403
    # The general import page then refuses the taken name, as before.
    assert "exists already" in client.post("/blueprints/import/", {"source": source}).text
    assert _revisions(kiosk) == [1]


def test_the_blueprint_page_links_to_the_import(product_manager: Client, kiosk: Blueprint) -> None:
    page = product_manager.get("/blueprints/kiosk/").text
    assert 'href="/blueprints/kiosk/import/"' in page
    assert product_manager.get("/blueprints/kiosk/import/").status_code == 200


def test_every_problem_of_a_list_entry_names_the_entry_line() -> None:
    source = '{\n  name: "x",\n  packages: [\n    "ok",\n    "a/b",\n    "B A D",\n  ],\n}'
    assert [(p.line, p.message.split("”")[0]) for p in blueprint_problems(source)] == [
        (5, "“a/b"),
        (6, "“B A D"),
    ]
    assert blueprint_problems('{name: "x", packages: ["ok"]}') == []


def test_importing_a_new_blueprint_lists_every_problem_too(
    product_manager: Client, seeded: None
) -> None:
    source = '{\n  name: "fresh",\n  packages: ["a/b"],\n  services: ["bad unit!"],\n}'
    page = html.unescape(product_manager.post("/blueprints/import/", {"source": source}).text)
    assert "line 3: “a/b” is a Gentoo package atom" in page
    assert "line 4: “bad unit!” is not a systemd unit name" in page
    assert not Blueprint.objects.exists()
