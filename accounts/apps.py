from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """People, roles and passwords, managed in the site (no models of its own: Django's users
    and groups)."""

    name = "accounts"
    verbose_name = "people"
