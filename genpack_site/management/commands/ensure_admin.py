import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from genpack_site.roles import ADMIN


def _answers(url: str) -> bool:
    """True once a web server answers at `url` with any HTTP status (a redirect to the
    login page, a 403...); False while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Create the first admin if there is none, and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument(
            "--wait-for-web",
            action="store_true",
            help="First wait until the web server answers at --url (make run's last words).",
        )
        parser.add_argument("--wait-seconds", type=float, default=120.0)

    def handle(
        self,
        *args: object,
        username: str,
        url: str,
        wait_for_web: bool,
        wait_seconds: float,
        **options: Any,
    ) -> None:
        if wait_for_web:
            deadline = time.monotonic() + wait_seconds
            while not _answers(url):
                if time.monotonic() > deadline:
                    raise CommandError(f"The web server did not answer at {url}; see above.")
                time.sleep(0.25)
            self.stdout.write(self.style.SUCCESS(f"\ngenpack-site is running at {url}"))
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            where = "" if wait_for_web else f" at {url}"
            self.stdout.write(
                f"  Log in{where} as {existing.get_username()} (forgot the password? "
                f".venv/bin/python manage.py changepassword {existing.get_username()})"
            )
        else:
            password = secrets.token_urlsafe(12)
            admin = users.objects.create_superuser(username=username, password=password, email="")
            admin.groups.add(Group.objects.get(name=ADMIN))
            where = "" if wait_for_web else f" Log in at {url}"
            self.stdout.write(
                self.style.SUCCESS(
                    f"  First admin created.{where}\n"
                    f"    user:     {username}\n    password: {password}\n"
                    "  (shown once; change it with: .venv/bin/python manage.py changepassword "
                    f"{username})"
                )
            )
        if wait_for_web:
            self.stdout.write("  Ctrl-C stops the web server and the build worker.")
