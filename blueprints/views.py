from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from blueprints.forms import BlueprintCreateForm, BlueprintSourceForm
from blueprints.json5_io import BlueprintSourceError
from blueprints.models import Blueprint
from blueprints.services import BlueprintConflictError, blueprint_create, blueprint_revise


@permission_required("blueprints.view_blueprint", raise_exception=True)
def blueprint_list(request: HttpRequest) -> HttpResponse:
    blueprints = Blueprint.objects.select_related("latest_revision").prefetch_related(
        "latest_revision__targets"
    )
    return render(request, "blueprints/list.html", {"blueprints": blueprints})


@permission_required("blueprints.add_blueprint", raise_exception=True)
def blueprint_new(request: HttpRequest) -> HttpResponse:
    form = BlueprintCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        blueprint = blueprint_create(
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            targets=list(form.cleaned_data["targets"]),
            author=request.user,
        )
        messages.success(request, f"Blueprint “{blueprint.name}” created.")
        return redirect("blueprints:detail", name=blueprint.name)
    return render(request, "blueprints/new.html", {"form": form})


@permission_required("blueprints.view_blueprint", raise_exception=True)
def blueprint_detail(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    revisions = blueprint.revisions.select_related("author")[:20]
    return render(
        request,
        "blueprints/detail.html",
        {"blueprint": blueprint, "revision": blueprint.latest_revision, "revisions": revisions},
    )


@permission_required("blueprints.change_blueprint", raise_exception=True)
def blueprint_edit(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    latest = blueprint.latest_revision
    initial = {"source": latest.source, "based_on": latest.number} if latest else {}
    form = BlueprintSourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            revision = blueprint_revise(
                blueprint=blueprint,
                source=form.cleaned_data["source"],
                message=form.cleaned_data["message"],
                based_on=form.cleaned_data["based_on"],
                author=request.user,
            )
        except (BlueprintSourceError, BlueprintConflictError) as error:
            form.add_error("source" if isinstance(error, BlueprintSourceError) else None, error)
        else:
            messages.success(request, f"Saved as revision {revision.number}.")
            return redirect("blueprints:detail", name=blueprint.name)
    return render(request, "blueprints/edit.html", {"blueprint": blueprint, "form": form})
