"""Roles are Django groups with permissions; views check permissions, never group names."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

PRODUCT_MANAGER = "Product managers"
FIELD_TECHNICIAN = "Field technicians"
ADMIN = "Admins"

# "app_label.codename" for each role. Admins get every permission (and staff status).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    PRODUCT_MANAGER: [
        "blueprints.view_blueprint",
        "blueprints.add_blueprint",
        "blueprints.change_blueprint",
        "builds.view_build",
        "builds.add_build",
        "builds.cancel_build",
        "builds.release_build",
        "builds.download_artifact",
        "hardware_profiles.view_hardwareprofile",
    ],
    FIELD_TECHNICIAN: [
        "builds.view_build",
        "builds.download_artifact",
        "hardware_profiles.view_hardwareprofile",
    ],
}


def _permissions(names: list[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


@transaction.atomic
def roles_sync() -> None:
    """Create the role groups and set their permissions; running it again changes nothing."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions(names))
    admins, _ = Group.objects.get_or_create(name=ADMIN)
    admins.permissions.set(Permission.objects.all())
