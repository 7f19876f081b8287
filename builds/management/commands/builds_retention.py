from django.core.management.base import BaseCommand

from builds.retention import builds_retention


class Command(BaseCommand):
    help = "Delete artifacts of old builds (keeps released and recent ones) and stale work dirs."

    def handle(self, *args: object, **options: object) -> None:
        result = builds_retention()
        self.stdout.write(
            f"Removed the files of {result['builds_expired']} old builds and "
            f"{result['dirs_cleaned']} stale work directories."
        )
