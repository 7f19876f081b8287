"""Size limits on every write path: one place (blueprints.limits), one clear message each."""

from __future__ import annotations

import base64
import random
import resource
import string
import time

import pytest
from django.test import Client

from blueprints import limits
from blueprints.checks import blueprint_parse
from blueprints.json5_io import BlueprintSourceError, blueprint_dump
from blueprints.models import Blueprint, BlueprintRevision
from blueprints.services import blueprint_import, blueprint_restore, blueprint_revise
from tests.blueprints.conftest import section_post

pytestmark = pytest.mark.django_db


def _big_blueprint(target_bytes: int = limits.MAX_SOURCE_BYTES - 40 * 1024) -> dict:
    """Realistic and legal: 2,000 packages, config files of 200 KiB, one binary; about 1 MiB."""
    rng = random.Random(8)
    data: dict = {
        "name": "big",
        "description": "An appliance at the limits",
        "version": "1.0",
        "targets": ["pc-x86_64", "kvm-x86_64"],
        "packages": [
            f"pkg{i}-" + "".join(rng.choices(string.ascii_lowercase, k=8)) for i in range(2000)
        ],
        "files": [
            {
                "path": "/opt/app/blob",
                "mode": "0755",
                "owner": "root",
                "content_b64": base64.b64encode(rng.randbytes(100_000)).decode(),
            }
        ],
    }
    lines = [
        f'key_{j} = "{"".join(rng.choices(string.ascii_letters, k=40))}"  # é\\'
        for j in range(3800)
    ]
    content = "\n".join(lines)  # about 240 KiB once escaped as JSON5
    while len(blueprint_dump(data).encode()) < target_bytes - 250_000:
        number = len(data["files"])
        data["files"].append(
            {"path": f"/etc/app/{number}.conf", "mode": "0644", "owner": "root", "content": content}
        )
    return data


def _cpu_seconds() -> float:
    """CPU of this process and of the children it waited for (the json5 wording runs in one)."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


@pytest.fixture(scope="module")
def big_source() -> str:
    source = blueprint_dump(_big_blueprint())
    assert limits.MAX_SOURCE_BYTES - 100_000 < len(source.encode()) <= limits.MAX_SOURCE_BYTES
    return source


def test_a_legal_1_mib_blueprint_imports_well_inside_the_cpu_budget(
    seeded: None, big_source: str
) -> None:
    started = _cpu_seconds()
    blueprint, _ = blueprint_import(source=big_source, author=None)
    assert _cpu_seconds() - started < limits.PARSE_CPU_SECONDS / 2
    assert blueprint.latest_revision.source == big_source
    assert len(blueprint.latest_revision.data["packages"]) == 2000


def test_its_editor_page_renders_in_reasonable_time(
    product_manager: Client, big_source: str
) -> None:
    blueprint_import(source=big_source, author=None)
    started = time.process_time()  # CPU: the machine may be busy with other work
    page = product_manager.get("/blueprints/big/edit/")
    assert page.status_code == 200
    assert "pkg1999-" in page.content.decode()
    assert time.process_time() - started < 2  # measured: 0.9 s (under the test's instrumentation)


def test_it_can_be_saved_again_in_the_source_editor(product_manager: Client, big_source) -> None:
    blueprint_import(source=big_source, author=None)
    response = product_manager.post(
        "/blueprints/big/edit/json5/",
        {"source": big_source.replace("At the limits", "x"), "based_on": 1, "message": "again"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert Blueprint.objects.get(name="big").latest_revision.number == 2


def test_an_import_over_1_mib_is_refused_before_parsing(product_manager: Client) -> None:
    source = blueprint_dump(_big_blueprint(limits.MAX_SOURCE_BYTES + 300_000))
    started = _cpu_seconds()
    response = product_manager.post("/blueprints/import/", {"source": source})
    assert _cpu_seconds() - started < 1
    assert response.status_code == 200
    assert "at most 1 MiB is allowed" in response.content.decode()
    assert not Blueprint.objects.exists()


def test_an_uploaded_file_over_1_mib_is_refused(product_manager: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    source = blueprint_dump(_big_blueprint(limits.MAX_SOURCE_BYTES + 300_000))
    upload = SimpleUploadedFile("big.genpack.json5", source.encode())
    response = product_manager.post("/blueprints/import/", {"upload": upload})
    assert response.status_code == 200
    assert "at most 1 MiB is allowed" in response.content.decode()
    assert not Blueprint.objects.exists()


def test_broken_text_of_1_mib_is_refused_with_its_line_within_the_cpu_cap(
    seeded: None, big_source: str
) -> None:
    """The json5 library words errors but needs ~9 s for 1 MiB: its child is stopped at 2 s."""
    broken = big_source.rstrip() + "\n}\n"  # one brace too many, on the last line
    started = _cpu_seconds()
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse(broken)
    assert _cpu_seconds() - started < limits.PARSE_CPU_SECONDS + 1.5
    assert caught.value.line is not None and caught.value.line > 100
    assert "not valid JSON5" in str(caught.value)


def test_a_small_syntax_error_keeps_the_json5_wording() -> None:
    with pytest.raises(BlueprintSourceError) as caught:
        blueprint_parse('{\n  name: "x",\n  packages: ["a" "b"],\n}')
    assert str(caught.value) == 'line 3: Unexpected """ — not valid JSON5 here.'


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"packages": [f"p{i}" for i in range(2001)]}, "2001 packages; at most 2000"),
        (
            {
                "packages": [f"p{i}" for i in range(1500)],
                "arch": {"x86_64": {"buildtime_packages": [f"b{i}" for i in range(501)]}},
            },
            "2001 packages; at most 2000",
        ),
        (
            {"files": [{"path": f"/etc/f{i}", "content": "x"} for i in range(201)]},
            "201 files; at most 200",
        ),
        (
            {"files": [{"path": "/etc/big", "content": "x" * (256 * 1024 + 1)}]},
            "/etc/big is 257 KiB; a file in a blueprint may have at most 256 KiB",
        ),
        (
            {
                "files": [
                    {
                        "path": "/bin/big",
                        "content_b64": base64.b64encode(b"x" * (256 * 1024 + 3)).decode(),
                    }
                ]
            },
            "/bin/big is 257 KiB",
        ),
        ({"arch": {f"a{i}": {} for i in range(65)}}, "65 arch and variants entries"),
        ({"use": [0] * 25_000}, "more than 20,000 values"),
    ],
)
def test_import_over_a_count_or_file_limit_is_refused(
    product_manager: Client, extra: dict, words: str
) -> None:
    response = product_manager.post(
        "/blueprints/import/", {"source": blueprint_dump({"name": "many", **extra})}
    )
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Blueprint.objects.exists()


def test_typed_file_content_over_256_kib_is_refused_like_an_upload(product_manager, kiosk) -> None:
    response = section_post(
        product_manager,
        kiosk,
        "files",
        {"path": "/etc/big.txt", "mode": "0644", "owner": "root", "content": "é" * 140_000},
    )
    assert "This text is 274 KiB; a file may have at most 256 KiB" in response.content.decode()
    kiosk.refresh_from_db()
    assert kiosk.latest_revision.number == 1


def test_sections_cannot_grow_a_blueprint_past_what_can_be_saved_again(
    product_manager: Client, big_source: str
) -> None:
    blueprint, _ = blueprint_import(source=big_source, author=None)
    response = section_post(
        product_manager,
        blueprint,
        "files",
        {"path": "/etc/more.conf", "mode": "0644", "owner": "root", "content": "y" * 200_000},
    )
    assert "at most 1 MiB is allowed" in response.content.decode()
    blueprint.refresh_from_db()
    assert blueprint.latest_revision.number == 1


def test_sections_refuse_the_2001st_package(product_manager: Client, seeded: None) -> None:
    source = blueprint_dump({"name": "full", "packages": [f"p{i}" for i in range(2000)]})
    blueprint, _ = blueprint_import(source=source, author=None)
    response = section_post(product_manager, blueprint, "packages", {"name": "curl"})
    assert "2001 packages; at most 2000" in response.content.decode()
    blueprint.refresh_from_db()
    assert blueprint.latest_revision.number == 1


def test_the_source_editor_refuses_text_over_1_mib(seeded: None) -> None:
    blueprint, _ = blueprint_import(source='{name: "small"}', author=None)
    big = blueprint_dump({**_big_blueprint(limits.MAX_SOURCE_BYTES + 300_000), "name": "small"})
    with pytest.raises(BlueprintSourceError, match="at most 1 MiB is allowed"):
        blueprint_revise(blueprint=blueprint, source=big, message="", author=None, based_on=1)


def test_restoring_an_oversized_revision_from_before_the_limits_is_refused(
    product_manager: Client, seeded: None
) -> None:
    blueprint, _ = blueprint_import(source='{name: "old"}', author=None)
    data = {"name": "old", "description": "x" * (limits.MAX_SOURCE_BYTES + 10)}
    BlueprintRevision.objects.create(
        blueprint=blueprint, number=2, source=blueprint_dump(data), data=data
    )
    with pytest.raises(BlueprintSourceError, match="at most 1 MiB is allowed"):
        blueprint_restore(blueprint=blueprint, number=2, author=None, based_on=1)
    response = product_manager.post("/blueprints/old/restore/2/", {"based_on": 1})
    assert response.status_code == 302
    assert "at most 1 MiB" in product_manager.get(response["Location"]).content.decode()
    assert blueprint.revisions.count() == 2


def test_create_refuses_a_description_that_would_not_fit(product_manager: Client) -> None:
    response = product_manager.post(
        "/blueprints/new/", {"name": "huge", "description": "x" * 3000, "targets": []}
    )
    assert response.status_code == 200
    assert "at most 2000 characters" in response.content.decode()
    assert not Blueprint.objects.exists()


def test_saving_1_mib_with_secret_placeholders_stays_inside_the_cpu_budget(seeded: None) -> None:
    """Putting secrets back into the source editor's text parsed it with json5: 24 s."""
    from blueprints.secrets import source_masked

    data = _big_blueprint()
    data["users"] = [{"name": "op", "password_hash": "$6$salt$" + "h" * 86}]
    blueprint, _ = blueprint_import(source=blueprint_dump(data), author=None)
    shown = source_masked(blueprint.latest_revision.source, blueprint.latest_revision.data)
    assert "$6$salt$" not in shown
    started = _cpu_seconds()
    revision = blueprint_revise(
        blueprint=blueprint, source=shown, message="", author=None, based_on=1
    )
    assert _cpu_seconds() - started < limits.PARSE_CPU_SECONDS
    assert revision.data["users"][0]["password_hash"] == "$6$salt$" + "h" * 86
