import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from genpack_site.roles import ADMIN


class Command(BaseCommand):
    help = "Create the first admin if there is none, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: object, username: str, url: str, **options: object) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                f"Log in at {url} with your admin account "
                f"(forgot the password? python manage.py changepassword {username})."
            )
            return
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(username=username, password=password, email="")
        admin.groups.add(Group.objects.get(name=ADMIN))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  First admin created. Log in at {url}\n"
                f"    user:     {username}\n    password: {password}\n"
                "  (shown once; change it with: python manage.py changepassword "
                f"{username})\n"
            )
        )
