from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from blueprints.diff import revision_diff
from blueprints.editor import SECTIONS, Bound
from blueprints.errors import error_messages
from blueprints.forms import (
    BlueprintCreateForm,
    BlueprintImportConfirmForm,
    BlueprintImportForm,
    BlueprintImportUpdateForm,
    BlueprintSourceForm,
)
from blueprints.json5_io import BlueprintSourceError
from blueprints.models import Blueprint, BlueprintRevision
from blueprints.package_lookup import package_search_for
from blueprints.preflight import preflight_summary
from blueprints.secrets import export_source, ini_masked, source_masked
from blueprints.services import (
    BlueprintConflictError,
    blueprint_create,
    blueprint_import,
    blueprint_import_existing,
    blueprint_import_preview,
    blueprint_import_update,
    blueprint_restore,
    blueprint_revise,
    blueprint_update,
)
from blueprints.summary import blueprint_summary
from blueprints.system_ini_form import COMMON_LOCALES, SystemIniForm, preview_warnings

# The one allowed edge from blueprints to builds (README): read-only selectors.
from builds.selectors import last_build_per_target, system_ini_text, target_problems


@permission_required("blueprints.view_blueprint", raise_exception=True)
@require_safe
def blueprint_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    blueprints = Blueprint.objects.select_related("latest_revision").prefetch_related(
        "latest_revision__targets"
    )
    if query:
        blueprints = blueprints.filter(
            Q(name__icontains=query) | Q(latest_revision__description__icontains=query)
        )
    rows = []
    for blueprint in blueprints:
        last_builds = last_build_per_target(blueprint)
        targets = blueprint.latest_revision.targets.all() if blueprint.latest_revision else []
        rows.append(
            {
                "blueprint": blueprint,
                "targets": [(profile, last_builds.get(profile.pk)) for profile in targets],
            }
        )
    template = "blueprints/list.html#rows" if request.htmx else "blueprints/list.html"
    return render(request, template, {"rows": rows, "query": query})


@permission_required("blueprints.add_blueprint", raise_exception=True)
def blueprint_new(request: HttpRequest) -> HttpResponse:
    form = BlueprintCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            blueprint = blueprint_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                targets=list(form.cleaned_data["targets"]),
                author=request.user,
            )
        except BlueprintSourceError as error:  # e.g. the name was taken a moment ago
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Blueprint “{blueprint.name}” created. Add packages next.")
            return redirect("blueprints:edit", name=blueprint.name)
    return render(request, "blueprints/new.html", {"form": form})


@permission_required("blueprints.view_blueprint", raise_exception=True)
@require_safe
def blueprint_detail(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    revisions = blueprint.revisions.select_related("author")[:10]
    revision = blueprint.latest_revision
    targets = list(revision.targets.all()) if revision else []
    data = revision.data if revision else {}
    preflight = preflight_summary(data, targets, target_problems(targets))
    return render(
        request,
        "blueprints/detail.html",
        {
            "blueprint": blueprint,
            "revision": revision,
            "revisions": revisions,
            "targets": [(check.profile, check.reason) for check in preflight],
            "preflight": preflight,
            "any_buildable": any(check.ready for check in preflight),
            "source": source_masked(revision.source, revision.data) if revision else "",
            "summary": blueprint_summary(revision.data if revision else {}, targets),
            "view": "json5" if request.GET.get("view") == "json5" else "summary",
        },
    )


def _section_html(request: HttpRequest, blueprint: Blueprint, section, **extra: object) -> str:
    revision = blueprint.latest_revision
    targets = list(revision.targets.all())
    bound = extra.get("bound")
    general = [
        message
        for field, messages in (bound.errors.items() if bound else [])
        for message in messages
        if field == "__all__" or field not in _field_names(section, bound)
    ]
    context = {
        "blueprint": blueprint,
        "revision": revision,
        "section": section,
        # Once, not per form: a section with 2,000 packages has 2,000 remove buttons.
        "section_url": reverse("blueprints:section", args=[blueprint.name, section.name]),
        "locales": COMMON_LOCALES,
        "general_errors": general,
        **extra,
        **section.context(revision.data, targets, extra.get("bound")),
    }
    if "profiles" in context:  # the targets section: say which boards cannot be built now
        problems = target_problems(context["profiles"])
        context["profile_cards"] = [(p, problems.get(p.pk)) for p in context["profiles"]]
    return render_to_string("blueprints/editor.html#section", context, request=request)


def _field_names(section, bound: Bound) -> set[str]:
    """Fields of the forms the section shows, so their errors are not shown twice."""
    names: set[str] = set()
    revision_data: dict = {}
    for value in section.context(revision_data, [], bound).values():
        if hasattr(value, "fields"):
            names |= set(value.fields)
    return names


def _editor_page(request: HttpRequest, blueprint: Blueprint, **failed: object) -> HttpResponse:
    sections = [
        section
        for section in SECTIONS.values()
        if not section.permission or request.user.has_perm(section.permission)
    ]
    failed_name = failed.get("failed_section")
    html = [
        _section_html(
            request, blueprint, section, **(failed if section.name == failed_name else {})
        )
        for section in sections
    ]
    return render(
        request,
        "blueprints/editor.html",
        {
            "blueprint": blueprint,
            "revision": blueprint.latest_revision,
            "sections": sections,
            "sections_html": html,
        },
    )


@permission_required("blueprints.change_blueprint", raise_exception=True)
@require_safe
def blueprint_edit(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    return _editor_page(request, blueprint)


def _section_or_404(request: HttpRequest, section_name: str):
    section = SECTIONS.get(section_name)
    if section is None:
        raise Http404("No such section.")
    if section.permission and not request.user.has_perm(section.permission):
        raise PermissionDenied
    return section


@permission_required("blueprints.change_blueprint", raise_exception=True)
def blueprint_section(request: HttpRequest, name: str, section_name: str) -> HttpResponse:
    """One editor section: GET shows it, POST saves it as a new revision (htmx or plain)."""
    blueprint = get_object_or_404(Blueprint, name=name)
    section = _section_or_404(request, section_name)
    if request.method != "POST":
        return HttpResponse(_section_html(request, blueprint, section))
    revision = blueprint.latest_revision
    try:
        based_on = int(request.POST.get("based_on", ""))
        change = section.apply(
            request.POST, request.FILES, revision.data, list(revision.targets.all())
        )
        revision = blueprint_update(
            blueprint=blueprint,
            changes=change.fields,
            message=change.message,
            author=request.user,
            based_on=based_on,
        )
    except (ValidationError, BlueprintSourceError, BlueprintConflictError, ValueError) as error:
        if isinstance(error, BlueprintSourceError):
            # Lines of the text the section wrote mean nothing here; the field does.
            errors = {section.problems_field or "__all__": error_messages(error, lines=False)}
        elif isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            errors = error.message_dict
        else:
            errors = {"__all__": [_message(error)]}
        bound = Bound(request.POST, request.FILES, errors)
        if not request.htmx:
            return _editor_page(request, blueprint, failed_section=section.name, bound=bound)
        return HttpResponse(_section_html(request, blueprint, section, bound=bound))
    blueprint.refresh_from_db()
    if not request.htmx:
        messages.success(request, f"{change.message} (revision {revision.number}).")
        return redirect(f"/blueprints/{blueprint.name}/edit/#section-{section.name}")
    response = HttpResponse(_section_html(request, blueprint, section, saved=change.message))
    trigger_client_event(
        response, "blueprintSaved", {"revision": revision.number, "section": section.name}
    )
    return response


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    if isinstance(error, ValueError) and not isinstance(error, BlueprintSourceError):
        return "The form was incomplete or out of date; reload the page and try again."
    return str(error)


@permission_required("blueprints.change_blueprint", raise_exception=True)
@require_safe
def package_search(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    query = request.GET.get("name", request.GET.get("q", "")).strip()[:100]
    targets = list(blueprint.latest_revision.targets.all())
    results = package_search_for(query=query, targets=targets) if len(query) >= 2 else []
    chosen = set(blueprint.latest_revision.data.get("packages") or [])
    return render(
        request,
        "blueprints/sections/package_results.html",
        {
            "results": results,
            "query": query,
            "chosen": chosen,
            "blueprint": blueprint,
            "revision": blueprint.latest_revision,
        },
    )


@permission_required("blueprints.change_blueprint", raise_exception=True)
@require_POST
def system_ini_preview(request: HttpRequest, name: str) -> HttpResponse:
    """The exact system.ini a technician will see for one target, from the form as typed."""
    blueprint = get_object_or_404(Blueprint, name=name)
    revision = blueprint.latest_revision
    targets = list(revision.targets.all())
    profile = next((p for p in targets if p.slug == request.POST.get("preview_profile")), None)
    profile = profile or (targets[0] if targets else None)
    form = SystemIniForm(
        request.POST,
        has_wifi=any(p.has_wifi for p in targets),
        saved_wifi_key=(revision.data.get("system_ini") or {}).get("wifi_key", ""),
    )
    form.is_valid()
    values = form.system_ini_values(
        {k: v for k, v in form.cleaned_data.items() if k not in form.errors}
    )
    text = system_ini_text({**revision.data, "system_ini": values}, profile)
    capabilities = frozenset(profile.capabilities if profile else ("ethernet",))
    return render(
        request,
        "blueprints/sections/system_ini_preview.html",
        {
            "text": ini_masked(text.replace("\r\n", "\n")),
            "profile": profile,
            "warnings": preview_warnings(form, values, capabilities),
        },
    )


@permission_required("blueprints.change_blueprint", raise_exception=True)
def blueprint_source_edit(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    latest = blueprint.latest_revision
    # Secrets appear as placeholders; blueprint_revise puts the stored values back.
    initial = {"source": source_masked(latest.source, latest.data), "based_on": latest.number}
    form = BlueprintSourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            revision = blueprint_revise(
                blueprint=blueprint,
                source=form.cleaned_data["source"],
                message=form.cleaned_data["message"] or "Edited as JSON5",
                based_on=form.cleaned_data["based_on"],
                author=request.user,
            )
        except BlueprintSourceError as error:
            form.add_error("source", error_messages(error))  # every problem, with its line
        except BlueprintConflictError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved as revision {revision.number}.")
            return redirect("blueprints:detail", name=blueprint.name)
    return render(request, "blueprints/source.html", {"blueprint": blueprint, "form": form})


@permission_required("blueprints.view_blueprint", raise_exception=True)
@require_safe
def blueprint_history(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    revisions = blueprint.revisions.select_related("author")
    return render(
        request, "blueprints/history.html", {"blueprint": blueprint, "revisions": revisions}
    )


@permission_required("blueprints.view_blueprint", raise_exception=True)
@require_safe
def blueprint_diff(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    try:
        numbers = sorted({int(request.GET["a"]), int(request.GET["b"])})
    except (KeyError, ValueError):
        messages.error(request, "Choose two revisions to compare.")
        return redirect("blueprints:history", name=name)
    old = get_object_or_404(BlueprintRevision, blueprint=blueprint, number=numbers[0])
    new = get_object_or_404(BlueprintRevision, blueprint=blueprint, number=numbers[-1])
    return render(
        request,
        "blueprints/diff.html",
        {
            "blueprint": blueprint,
            "old": old,
            "new": new,
            "diffs": revision_diff(old.data, new.data),
        },
    )


@permission_required("blueprints.change_blueprint", raise_exception=True)
@require_POST
def blueprint_restore_view(request: HttpRequest, name: str, number: int) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    try:
        revision = blueprint_restore(
            blueprint=blueprint,
            number=number,
            author=request.user,
            based_on=int(request.POST.get("based_on", "0")),
        )
    except (
        BlueprintConflictError,
        BlueprintRevision.DoesNotExist,
        ValueError,
        BlueprintSourceError,
    ) as error:
        messages.error(request, str(error) or "That revision does not exist.")
        return redirect("blueprints:history", name=name)
    messages.success(request, f"Revision {number} restored as revision {revision.number}.")
    return redirect("blueprints:detail", name=name)


@permission_required("blueprints.view_blueprint", raise_exception=True)
@require_safe
def blueprint_export(request: HttpRequest, name: str) -> HttpResponse:
    blueprint = get_object_or_404(Blueprint, name=name)
    revision = blueprint.latest_revision
    if number := request.GET.get("revision"):
        # ASCII digits only: str.isdigit() accepts '²', which int() then refuses.
        wanted = int(number) if number.isascii() and number.isdigit() and len(number) < 19 else 0
        revision = get_object_or_404(blueprint.revisions, number=wanted)
    include_secrets = request.GET.get("secrets") == "1"
    if include_secrets and not request.user.has_perm("blueprints.change_blueprint"):
        raise PermissionDenied
    text = export_source(
        revision=revision,
        include_secrets=include_secrets,
        user=request.user,
        address=request.META.get("REMOTE_ADDR"),
    )
    response = HttpResponse(text, content_type="application/json5; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{blueprint.name}.genpack.json5"'
    return response


@permission_required("blueprints.add_blueprint", raise_exception=True)
def blueprint_import_view(request: HttpRequest) -> HttpResponse:
    form = BlueprintImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        existing = blueprint_import_existing(
            source=form.source_text(), name=form.cleaned_data["name"] or None
        )
        if existing and request.user.has_perm("blueprints.change_blueprint"):
            # The name is taken: offer the file as the next revision of that blueprint.
            return _import_update_page(request, existing, form.source_text(), from_import=True)
        try:
            blueprint, warnings = blueprint_import(
                source=form.source_text(),
                author=request.user,
                name=form.cleaned_data["name"] or None,
            )
        except BlueprintSourceError as error:
            form.add_error(None, error_messages(error))  # every problem, with its line
        else:
            for warning in warnings:
                messages.warning(request, warning)
            messages.success(request, f"Imported as “{blueprint.name}”.")
            return redirect("blueprints:detail", name=blueprint.name)
    return render(request, "blueprints/import.html", {"form": form})


def _problems(error: BlueprintSourceError) -> list[BlueprintSourceError]:
    """Each problem of a refused text (BlueprintProblems lists them), with its line."""
    return list(getattr(error, "problems", None) or getattr(error, "errors", None) or [error])


def _import_update_page(
    request: HttpRequest,
    blueprint: Blueprint,
    source: str,
    *,
    conflict_from: int | None = None,
    from_import: bool = False,
) -> HttpResponse:
    """The changes `source` would make to `blueprint`, with a confirm button; or, if it
    cannot be saved, every problem with its line and the text to correct. Saves nothing."""
    context: dict[str, object] = {"blueprint": blueprint, "from_import": from_import}
    status = 200
    try:
        preview = blueprint_import_preview(blueprint=blueprint, source=source, author=request.user)
    except BlueprintSourceError as error:
        context["problems"] = _problems(error)
        context["form"] = BlueprintImportUpdateForm(initial={"source": source})
    else:
        context["preview"] = preview
        context["confirm"] = BlueprintImportConfirmForm(
            initial={
                "source_b64": BlueprintImportConfirmForm.encoded(source),
                "based_on": preview.based_on,
            }
        )
    if conflict_from is not None:
        status = 409
        latest = blueprint.latest_revision.number if blueprint.latest_revision else 0
        context["conflict"] = (
            f"Revision {latest} was saved while you were looking at the changes against "
            f"revision {conflict_from}. Nothing was saved. The changes below are against "
            f"revision {latest}: check them, then save again."
        )
    return render(request, "blueprints/import_update.html", context, status=status)


@permission_required("blueprints.change_blueprint", raise_exception=True)
def blueprint_import_update_view(request: HttpRequest, name: str) -> HttpResponse:
    """Import genpack.json5 as the next revision: upload → changes shown → confirm → saved."""
    blueprint = get_object_or_404(Blueprint, name=name)
    if request.method == "POST" and "source_b64" in request.POST:
        confirm = BlueprintImportConfirmForm(request.POST)
        if not confirm.is_valid():
            messages.error(request, "The import was incomplete; choose the file again.")
            return redirect("blueprints:import_update", name=name)
        based_on = confirm.cleaned_data["based_on"]
        try:
            revision = blueprint_import_update(
                blueprint=blueprint,
                source=confirm.source_text(),
                author=request.user,
                based_on=based_on,
            )
        except BlueprintConflictError:
            return _import_update_page(
                request, blueprint, confirm.source_text(), conflict_from=based_on
            )
        except BlueprintSourceError:  # refused now although the preview passed: say why
            return _import_update_page(request, blueprint, confirm.source_text())
        messages.success(request, f"Imported as revision {revision.number}.")
        return redirect("blueprints:detail", name=name)
    form = BlueprintImportUpdateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        return _import_update_page(request, blueprint, form.source_text())
    return render(request, "blueprints/import_update.html", {"blueprint": blueprint, "form": form})
