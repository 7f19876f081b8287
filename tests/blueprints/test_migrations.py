"""Migration 0004: text typed in the files form before it was stored with LF loses its CRs.

Rows are written with the models as they were before the migration, then the real migration
runs (MigrationExecutor).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from blueprints.json5_io import blueprint_dump, json5_load
from blueprints.models import BlueprintRevision

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("blueprints", "0003_package_index_moved")
SCRIPT = {"path": "/usr/local/bin/hello", "mode": "0755", "owner": "root"}
TYPED = "#!/bin/sh\r\necho hi\r\n"


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _old_apps():
    _migrate([BEFORE])
    nodes = [node for node in _leaves() if node[0] != "blueprints"] + [BEFORE]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


class History:
    """One blueprint's revisions, written as the services wrote them before the migration."""

    def __init__(self, apps, name: str) -> None:
        self.revisions = apps.get_model("blueprints", "BlueprintRevision")
        self.blueprint = apps.get_model("blueprints", "Blueprint").objects.create(name=name)
        self.data: dict[str, Any] = {"name": name, "version": "1.0", "packages": []}
        self.number = 0

    def add(self, message: str, source: str | None = None, **changes: Any) -> int:
        self.data = {**self.data, **changes}
        if source is not None:
            self.data = json5_load(source)
        self.number += 1
        self.revisions.objects.create(
            blueprint=self.blueprint,
            number=self.number,
            source=blueprint_dump(self.data) if source is None else source,
            data=self.data,
            version="1.0",
            message=message,
        )
        return self.number


def _revision(name: str, number: int) -> BlueprintRevision:
    return BlueprintRevision.objects.get(blueprint__name=name, number=number)


def _content(name: str, number: int, key: str = "files") -> str:
    return _revision(name, number).data[key][0]["content"]


def test_text_typed_in_the_files_form_is_stored_with_lf_in_every_revision_that_carries_it() -> None:
    history = History(_old_apps(), "kiosk")
    history.add("Created")
    typed = history.add(f"Set file {SCRIPT['path']}", files=[{**SCRIPT, "content": TYPED}])
    build_file = {**SCRIPT, "path": "/usr/local/bin/helper", "content": "exit 0\r\n"}
    history.add("Set build file /usr/local/bin/helper", build_files=[build_file])
    history.add("Changed basics", description="Shop kiosk")
    # The JSON5 editor: the person's own text, a comment included, the typed script kept.
    edited = history.add(
        "Edited the source",
        source='{\n  name: "kiosk",\n  // the shop kiosk\n  packages: [],\n'
        '  files: [{path: "/usr/local/bin/hello", mode: "0755", owner: "root",\n'
        "           content: '#!/bin/sh\\r\\necho hi\\r\\n'}],\n}\n",
    )

    _migrate(_leaves())

    assert _revision("kiosk", 1).data.get("files") is None
    for number in range(typed, edited + 1):
        assert _content("kiosk", number) == "#!/bin/sh\necho hi\n", number
        revision = _revision("kiosk", number)
        assert json5_load(revision.source) == revision.data, "source and data agree"
    assert _content("kiosk", 3, "build_files") == "exit 0\n"
    assert "\\r" not in _revision("kiosk", typed).source
    assert "// the shop kiosk" in _revision("kiosk", edited).source


def test_crlf_written_into_json5_or_mixed_line_endings_stay_as_they_are() -> None:
    apps = _old_apps()
    imported = History(apps, "imported")
    written = '{name: "imported", packages: [], files: [{path: "/etc/x.ini", content: "a\\r\\n"}]}'
    imported.add("Imported", source=written)
    uploaded = History(apps, "uploaded")  # no browser sends a bare LF from a textarea
    uploaded.add("Set file /etc/y.ini", files=[{"path": "/etc/y.ini", "content": "a\r\nb\n"}])
    binary = History(apps, "binary")
    binary.add("Set file /etc/z.bin", files=[{"path": "/etc/z.bin", "content_b64": "DQo="}])

    _migrate(_leaves())

    assert _content("imported", 1) == "a\r\n"
    assert _revision("imported", 1).source == written
    assert _content("uploaded", 1) == "a\r\nb\n"
    assert _revision("binary", 1).data["files"][0]["content_b64"] == "DQo="


def test_an_exported_blueprint_imported_again_loses_the_crs_of_the_text_typed_in_the_first() -> (
    None
):
    apps = _old_apps()
    original = History(apps, "kiosk")
    original.add(f"Set file {SCRIPT['path']}", files=[{**SCRIPT, "content": TYPED}])
    copy = History(apps, "kiosk-copy")
    copy.add("Imported", source=blueprint_dump({**original.data, "name": "kiosk-copy"}))

    _migrate(_leaves())

    assert _content("kiosk-copy", 1) == "#!/bin/sh\necho hi\n"
