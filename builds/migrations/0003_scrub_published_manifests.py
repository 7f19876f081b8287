"""Rewrite manifests published before the builder kept secrets out of them (issue 8)."""

from pathlib import Path

from django.conf import settings
from django.db import migrations


def scrub(apps, schema_editor):
    from builds.manifests import manifests_scrub

    manifests_scrub(apps.get_model("builds", "Artifact"), Path(settings.GENPACK_ARTIFACTS_DIR))


class Migration(migrations.Migration):
    dependencies = [("builds", "0002_build_queue")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop, elidable=True)]
