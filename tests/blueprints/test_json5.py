"""genpack.json5 import and export: exact round trips, and errors a person can act on."""

from __future__ import annotations

import pytest
from django.test import Client

from blueprints.checks import blueprint_parse
from blueprints.json5_io import BlueprintSourceError, blueprint_dump
from blueprints.models import Blueprint
from blueprints.services import blueprint_import

pytestmark = pytest.mark.django_db

GENPACK_JSON5 = """// A kiosk, as genpack users write it
{
  name: "kiosk",
  description: "Shop kiosk",
  version: "1.2",
  packages: ["openssh-server", "chromium", "-firmware-iwlwifi"],
  services: ["ssh", "kiosk.service"],
  users: [
    "guest",
    {name: "operator", comment: "Operator", additional_groups: ["dialout"], create_home: true},
  ],
  groups: ["kiosk"],
  files: [{path: "/etc/kiosk/url", mode: "0644", content: "https://shop\\n"}],
  settings: [{section: "kiosk", key: "start_url", type: "string", default: "https://shop"}],
  system_ini: {hostname: "kiosk", timezone: "Europe/Berlin", dns: ["1.1.1.1"]},
  targets: ["pc-x86_64"],
  arch: {x86_64: {packages: ["intel-media-va-driver"]}},
  use: {"media-video/ffmpeg": "vaapi"},  // Gentoo only: kept, ignored
}
"""


def test_import_keeps_the_text_exactly_and_warns_about_gentoo_fields(seeded: None) -> None:
    blueprint, warnings = blueprint_import(source=GENPACK_JSON5, author=None)
    assert blueprint.latest_revision.source == GENPACK_JSON5
    assert any("“use”" in warning for warning in warnings)
    assert blueprint.latest_revision.data["users"][0] == "guest"


def test_export_then_import_gives_the_same_blueprint(product_manager: Client, seeded: None) -> None:
    original, _ = blueprint_import(source=GENPACK_JSON5, author=None)
    exported = product_manager.get("/blueprints/kiosk/export/")
    assert exported.status_code == 200
    assert "attachment" in exported["Content-Disposition"]
    text = exported.content.decode()
    assert text == GENPACK_JSON5
    copy = product_manager.post("/blueprints/import/", {"source": text, "name": "kiosk-copy"})
    assert copy.status_code == 302
    imported = Blueprint.objects.get(name="kiosk-copy").latest_revision.data
    assert imported == {**original.latest_revision.data, "name": "kiosk-copy"}


@pytest.mark.parametrize("revision", ["²", "\u0661", "99999999999999999999", "9" * 5000, "-1", "x"])
def test_export_of_a_revision_that_is_not_a_number_is_not_found(
    product_manager: Client, seeded: None, revision: str
) -> None:
    blueprint_import(source=GENPACK_JSON5, author=None)
    response = product_manager.get("/blueprints/kiosk/export/", {"revision": revision})
    assert response.status_code == 404
    assert product_manager.get("/blueprints/kiosk/export/", {"revision": "1"}).status_code == 200


def test_dump_and_parse_round_trip_exactly(seeded: None) -> None:
    data = blueprint_parse(GENPACK_JSON5).data
    assert blueprint_parse(blueprint_dump(data)).data == data
    assert blueprint_dump(blueprint_parse(blueprint_dump(data)).data) == blueprint_dump(data)


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        ('{\n  name: "x",\n  packages: ["a" "b"],\n}', 3, "not valid JSON5"),
        ('{\n  name: "x",\n  colour: "red",\n}', 3, "Unknown field “colour”"),
        ('{\n  name: "x",\n  packages: ["net-misc/openssh"],\n}', 3, "perhaps “openssh-server”"),
        ('{\n  name: "x",\n  services: ["bad unit!"],\n}', 3, "not a systemd unit"),
        ('{\n  name: "X Y",\n}', 2, "“name” is required"),
        ('{\n  name: "x",\n  system_ini: {ip_address: "300.1.1.1/24"},\n}', 3, "ip_address"),
        ('{\n  name: "x",\n  files: [{path: "/proc/x", content: ""}],\n}', 3, "/proc"),
    ],
)
def test_import_errors_name_the_line(source: str, line: int, words: str) -> None:
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse(source)
    assert caught.value.line == line, caught.value
    assert words in str(caught.value)


def test_import_page_shows_the_error_and_keeps_the_text(
    product_manager: Client, seeded: None
) -> None:
    bad = '{\n  name: "x",\n  packages: [oops],\n}'
    response = product_manager.post("/blueprints/import/", {"source": bad})
    assert response.status_code == 200
    html = response.content.decode()
    assert "line 3" in html
    assert "packages: [oops]" in html
    assert not Blueprint.objects.exists()


def test_import_as_a_copy_refuses_a_taken_name(product_manager: Client, seeded: None) -> None:
    blueprint_import(source=GENPACK_JSON5, author=None)
    response = product_manager.post("/blueprints/import/", {"source": GENPACK_JSON5})
    assert "exists already" in response.content.decode()
    assert Blueprint.objects.count() == 1
