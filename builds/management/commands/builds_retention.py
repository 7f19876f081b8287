from django.core.management.base import BaseCommand

from builds.retention import builds_retention


class Command(BaseCommand):
    help = (
        "Delete artifacts of old builds (keeps released and recent ones), stale work dirs "
        "and leftover personalised copies."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = builds_retention()
        self.stdout.write(
            f"Removed the files of {result['builds_expired']} old builds, "
            f"{result['dirs_cleaned']} stale work directories, "
            f"{result['personal_copies_removed']} leftover personalised copies and "
            f"{result['personal_checksums_removed']} old checksums of personalised downloads."
        )
