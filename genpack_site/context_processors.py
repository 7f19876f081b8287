"""The navigation each role sees: only what its permissions let it open."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

# (label, url name, permission needed)
NAVIGATION = [
    ("Blueprints", "blueprints:list", "blueprints.view_blueprint"),
    ("Builds", "builds:list", "builds.view_build"),
    ("Hardware profiles", "hardware_profiles:list", "hardware_profiles.view_hardwareprofile"),
    ("People", "accounts:people", "auth.view_user"),
]


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [
        {"label": label, "url": reverse(name), "active": request.path.startswith(reverse(name))}
        for label, name, permission in NAVIGATION
        if user.has_perm(permission)
    ]
    if user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    return {"nav_items": items}
