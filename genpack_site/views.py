from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from blueprints.models import Blueprint
from builds.models import builds_visible_to


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The start page: what this user can do, with the latest work of the kind they may see."""
    user = request.user
    context: dict[str, object] = {}
    if user.has_perm("blueprints.view_blueprint"):
        context["blueprints"] = Blueprint.objects.select_related("latest_revision")[:5]
    if user.has_perm("builds.view_build"):
        # The same rule as the build pages: technicians see released, succeeded builds only.
        context["builds"] = builds_visible_to(user)[:5]
    return render(request, "home.html", context)
