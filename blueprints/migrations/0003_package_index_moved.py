"""Package and PackageIndexState now belong to the package_index app (same tables, same rows).

State only: dropping the tables here would lose the index; package_index/0001 took them over.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("blueprints", "0002_package_index"),
        ("package_index", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="Package"),
                migrations.DeleteModel(name="PackageIndexState"),
            ],
        ),
    ]
