from django.core.management.base import BaseCommand

from genpack_site.roles import roles_sync
from hardware_profiles.seed import profiles_seed


class Command(BaseCommand):
    help = "Create the roles and the standard hardware profiles (safe to run again)."

    def handle(self, *args: object, **options: object) -> None:
        roles_sync()
        created = profiles_seed()
        if int(options.get("verbosity", 1)) < 1:  # make run passes -v0
            return
        names = ", ".join(profile.slug for profile in created) or "none (all present)"
        self.stdout.write(f"Roles up to date. Hardware profiles created: {names}.")
