from django.core.management.base import BaseCommand

from builds import paths
from builds.manifests import manifests_scrub
from builds.models import Artifact


class Command(BaseCommand):
    help = "Rewrite published manifest.json files without secrets (the migration runs it once)."

    def handle(self, *args: object, **options: object) -> None:
        counts = manifests_scrub(Artifact, paths.artifacts_root())
        self.stdout.write(
            f"{counts['scrubbed']} manifests scrubbed, {counts['unchanged']} already clean, "
            f"{counts['skipped']} missing or unreadable."
        )
