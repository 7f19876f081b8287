"""Moving the models from blueprints to package_index kept the tables, their rows and indexes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from package_index.models import Package, PackageIndexState

BEFORE = [("blueprints", "0002_package_index"), ("package_index", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_read_after_it() -> None:
    old_apps = _migrate(BEFORE).loader.project_state(BEFORE[:1]).apps
    old_apps.get_model("blueprints", "Package").objects.create(
        suite="bookworm", component="main", arch="amd64", name="vim", version="2:9.0", units=[]
    )
    old_apps.get_model("blueprints", "PackageIndexState").objects.create(
        suite="bookworm",
        component="main",
        arch="amd64",
        mirror="http://m",
        updated_at="2026-07-11T00:00Z",
    )

    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())

    assert Package.objects.get(name="vim").version == "2:9.0"
    assert PackageIndexState.objects.get().mirror == "http://m"


@pytest.mark.django_db
def test_the_postgresql_search_indexes_are_still_on_the_table() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the trigram indexes exist on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s", [Package._meta.db_table]
        )
        names = {row[0] for row in cursor.fetchall()}

    assert {"package_name_bytes", "package_name_trgm", "package_summary_trgm"} <= names
