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


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("NaN", "NaN cannot be stored"),
        ("Infinity", "Infinity cannot be stored"),
        ("-Infinity", "-Infinity cannot be stored"),
        ("1e999", "too large"),
        ("123456789012345678901234567890", "too large"),
        ('"a\\u0000b"', "NUL character"),
        ('"a\\0b"', "NUL character"),
        ('"\\ud800"', "lone surrogate"),
        ('"\\udc00x"', "lone surrogate"),
    ],
)
def test_import_of_values_the_database_cannot_keep_names_the_line(
    product_manager: Client, value: str, words: str
) -> None:
    """On PostgreSQL each was a 500 (jsonb refuses them); on SQLite NaN said "exists already"."""
    source = f'{{\n  name: "odd",\n  description: "x",\n  use: {{flag: {value}}},\n}}'
    response = product_manager.post("/blueprints/import/", {"source": source})
    assert response.status_code == 200
    html = response.content.decode()
    assert "line 4" in html and words in html, html
    assert "exists already" not in html
    assert not Blueprint.objects.exists()


def test_a_pair_of_surrogate_escapes_is_one_character_and_is_kept(seeded: None) -> None:
    blueprint, _ = blueprint_import(
        source='{name: "emoji", description: "\\ud83d\\ude00"}', author=None
    )
    assert blueprint.latest_revision.data["description"] == "😀"


@pytest.mark.parametrize(
    ("source", "line", "key"),
    [
        ('{\n  name: "x",\n  description: "a",\n  "description": "b",\n}', 4, "description"),
        (
            '{\n  name: "x",\n  system_ini: {\n    dns: ["1.1.1.1"],\n    dns: [],\n  },\n}',
            5,
            "dns",
        ),
        (
            '{\n  name: "x",\n  files: [{path: "/a", content: "1",\n    \'path\': "/b"}],\n}',
            4,
            "path",
        ),
        ('{\n  name: "x",\n  \\u006eame: "y",\n}', 3, "name"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_line(source: str, line: int, key: str) -> None:
    """json5 (and pyjson5) silently keep the last of two equal keys."""
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse(source)
    assert caught.value.line == line, caught.value
    assert f"Duplicate key “{key}”" in str(caught.value)


def test_equal_keys_in_different_objects_are_fine() -> None:
    data = blueprint_parse(
        '{name: "x", users: [{name: "a"}, {name: "b"}], arch: {x86_64: {packages: ["ab"]}}}'
    ).data
    assert [user["name"] for user in data["users"]] == ["a", "b"]


def _upload(text: bytes, name: str = "genpack.json5"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text)


SMALL = '{\n  name: "café",\n}'.replace("café", "cafe") + "\n// Grüße\n"


@pytest.mark.parametrize(
    "raw",
    [
        SMALL.encode("utf-8"),
        SMALL.encode("utf-8-sig"),
        SMALL.encode("utf-16"),  # with its BOM, in this machine's byte order
        b"\xfe\xff" + SMALL.encode("utf-16-be"),
        b"\xff\xfe" + SMALL.encode("utf-16-le"),
    ],
)
def test_uploads_in_utf8_and_utf16_with_a_bom_are_read(product_manager: Client, raw: bytes) -> None:
    response = product_manager.post("/blueprints/import/", {"upload": _upload(raw)})
    assert response.status_code == 302, response.content.decode()
    assert Blueprint.objects.get(name="cafe").latest_revision.source == SMALL


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (SMALL.encode("latin-1"), "not UTF-8 text (line 4 has the byte 0xFC"),
        (SMALL.encode("utf-32"), "UTF-32"),
        ('{name: "x"}'.encode("utf-16-le"), "line 1: The text contains a NUL character"),
        (SMALL.encode("utf-16-le"), "not UTF-8 text"),  # no BOM: cannot be told from bytes
        (b'{\n  name: "nul",\n  description: "a\x00b",\n}', "line 3: The text contains a NUL"),
        (b"\xff\xfe\x00\xd8", "starts like UTF-16 text but is not"),
    ],
)
def test_uploads_in_other_encodings_or_binary_get_a_message(
    product_manager: Client, raw: bytes, words: str
) -> None:
    """A latin-1 or UTF-16 file was a 500 (the form raised outside is_valid); NUL bytes too."""
    response = product_manager.post("/blueprints/import/", {"upload": _upload(raw)})
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Blueprint.objects.exists()
