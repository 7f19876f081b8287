"""The package index models, moved here from the blueprints app.

Only Django's picture of the models moves: the tables keep their names (`db_table`), their
rows and the PostgreSQL search indexes that blueprints/migrations/0002 made, because the
database is not touched at all.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("blueprints", "0002_package_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Package",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("suite", models.CharField(max_length=40)),
                        ("component", models.CharField(max_length=40)),
                        ("arch", models.CharField(max_length=16)),
                        ("name", models.CharField(max_length=200)),
                        ("version", models.CharField(max_length=200)),
                        (
                            "summary",
                            models.TextField(
                                blank=True, help_text="First line of the Description."
                            ),
                        ),
                        (
                            "installed_size",
                            models.PositiveBigIntegerField(
                                default=0, help_text="KiB, as dpkg says."
                            ),
                        ),
                        (
                            "size",
                            models.PositiveBigIntegerField(
                                default=0, help_text="Bytes of the .deb file."
                            ),
                        ),
                        ("section", models.CharField(blank=True, max_length=100)),
                        (
                            "provides",
                            models.JSONField(
                                blank=True, default=list, help_text="Virtual package names."
                            ),
                        ),
                        (
                            "units",
                            models.JSONField(
                                blank=True, default=list, help_text="systemd units it ships."
                            ),
                        ),
                    ],
                    options={
                        "db_table": "blueprints_package",
                        "ordering": ["name"],
                        "indexes": [models.Index(fields=["name"], name="package_name")],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("suite", "arch", "component", "name"),
                                name="unique_package_per_index",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="PackageIndexState",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("suite", models.CharField(max_length=40)),
                        ("component", models.CharField(max_length=40)),
                        ("arch", models.CharField(max_length=16)),
                        ("mirror", models.CharField(max_length=300)),
                        ("updated_at", models.DateTimeField()),
                        ("package_count", models.PositiveIntegerField(default=0)),
                        (
                            "release_date",
                            models.DateTimeField(
                                blank=True, help_text="Release `Date`.", null=True
                            ),
                        ),
                        (
                            "valid_until",
                            models.DateTimeField(
                                blank=True, help_text="Release `Valid-Until`.", null=True
                            ),
                        ),
                        (
                            "etag",
                            models.CharField(
                                blank=True, help_text="ETag of the Release file.", max_length=200
                            ),
                        ),
                        (
                            "source_sha256",
                            models.CharField(
                                blank=True,
                                help_text="Digest of the index files read; same → no reload.",
                                max_length=64,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "blueprints_packageindexstate",
                        "ordering": ["suite", "component", "arch"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("suite", "component", "arch"),
                                name="unique_package_index_state",
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
