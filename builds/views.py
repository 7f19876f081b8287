from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from builds.models import Build


@permission_required("builds.view_build", raise_exception=True)
def build_list(request: HttpRequest) -> HttpResponse:
    builds = Build.objects.select_related("revision__blueprint", "profile")
    state = request.GET.get("state", "")
    if state in Build.State.values:
        builds = builds.filter(state=state)
    return render(
        request,
        "builds/list.html",
        {"builds": builds[:100], "states": Build.State.choices, "state": state},
    )
