from __future__ import annotations

import logging
import secrets
import subprocess

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.http import content_disposition_header
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST, require_safe

from blueprints.models import Blueprint
from builds import paths
from builds.boot_test_presenting import boot_test
from builds.boot_tests import boot_test_cancel
from builds.changes import (
    ChangesRefusedError,
    changes,
    changes_since_previous,
    comparable_builds,
    previous_release,
)
from builds.download_choices import download_choices
from builds.downloads import ArtifactFileMissing, artifact_response
from builds.forms import BuildCompareForm, DeviceSystemIniForm
from builds.hosts import build_host_problem, unclaimed_minutes
from builds.logs import log_read
from builds.models import Artifact, Build, builds_visible_to
from builds.personalise import (
    PersonaliseRefusedError,
    artifact_personalised,
    device_system_ini,
    personal_checksum_path,
    personal_checksum_read,
    personal_copy_name,
)
from builds.presenting import (
    build_failure,
    build_progress,
    build_rows,
    fix_link,
    newer_revision,
    usual_duration,
)
from builds.releases import (
    ReleaseRefusedError,
    current_overrides,
    release,
    release_events_visible_to,
    release_options,
    withdraw,
)
from builds.services import (
    BuildQueueUnavailableError,
    BuildRefusedError,
    build_cancel,
    build_enqueue,
    build_rebuild,
)
from builds.updates import build_updates
from hardware_profiles.models import HardwareProfile
from image_builder.errors import SpecError
from image_builder.image_tools import ImageError

logger = logging.getLogger(__name__)
HTMX_STOP_POLLING = 286  # htmx stops an `every` trigger on this status
RELEASE_HISTORY_PAGE_SIZE = 50
RELEASE_EVENTS_SHOWN = 5  # on the build page; the history page has the rest


@permission_required("builds.view_build", raise_exception=True)
@require_safe
def build_list(request: HttpRequest) -> HttpResponse:
    builds = builds_visible_to(request.user)
    state = request.GET.get("state", "")
    if state in Build.State.values:
        builds = builds.filter(state=state)
    blueprint = request.GET.get("blueprint", "")
    if blueprint:
        builds = builds.filter(revision__blueprint__name=blueprint)
    profile = request.GET.get("profile", "")
    if profile:
        builds = builds.filter(profile__slug=profile)
    shown = list(builds[:200])
    context = {
        "rows": build_rows(shown, overrides=current_overrides(shown)),
        "states": Build.State.choices,
        "state": state,
        "blueprint": blueprint,
        "profile": profile,
        "blueprints": Blueprint.objects.values_list("name", flat=True),
        "profiles": HardwareProfile.objects.values_list("slug", "name"),
    }
    return render(request, "builds/list.html", context)


def _ascii_int(text: str, limit: int = 10**18) -> int | None:
    """A non-negative number typed in ASCII digits, capped at `limit`; None for anything else
    (str.isdigit() and int() also accept '²' or Arabic-Indic digits)."""
    if not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= 18 else limit


def _visible_build(request: HttpRequest, build_id: int) -> Build:
    return get_object_or_404(builds_visible_to(request.user), pk=build_id)


def _reused_visible(request: HttpRequest, build: Build) -> bool:
    """A released cache hit may reuse an unreleased build: name it only to who may open it."""
    source = build.cache_hit_of
    return bool(source and builds_visible_to(request.user).filter(pk=source.pk).exists())


@permission_required("builds.view_build", raise_exception=True)
@require_safe
def build_detail(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    failure = build_failure(build)
    artifacts = list(build.artifact_source.artifacts.all())
    context = {
        "build": build,
        "artifacts": artifacts,
        "downloads": download_choices(build.profile, artifacts),
        "progress": build_progress(build),
        "boot_test": boot_test(build),
        "usual": usual_duration(build) if build.state == Build.State.QUEUED else "",
        "failure": failure,
        "fix": fix_link(failure, build, request.user),
        "newer_revision": newer_revision(build),
        # A queued build no host can take fails after GENPACK_UNCLAIMED_BUILD_SECONDS: say so.
        "host_problem": build_host_problem(build.profile)
        if build.state == Build.State.QUEUED
        else None,
        "unclaimed_minutes": unclaimed_minutes(),
        "reused_visible": _reused_visible(request, build),
        "changes_since": changes_since_previous(build, request.user)
        if build.state == Build.State.SUCCEEDED
        else None,
        "release": release_options(build, request.user),
        "release_override": current_overrides([build]).get(build.pk),
        "release_events": build.release_events.select_related("by")[:RELEASE_EVENTS_SHOWN],
        # Outside the polled status region: read for the whole page only.
        "updates": None if request.htmx else build_updates(build=build),
    }
    template = "builds/detail.html#status" if request.htmx else "builds/detail.html"
    response = render(request, template, context)
    if request.htmx and build.is_finished:
        response.status_code = HTMX_STOP_POLLING
    return response


class _CompareProblem(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _named_build(request: HttpRequest, key: str) -> Build | None:
    """The build ?key= names, if the person may see it; None when it names none."""
    text = request.GET.get(key, "").strip()
    if not text:
        return None
    number = _ascii_int(text.removeprefix("#"))
    if number is None:
        raise _CompareProblem(f"“{text[:40]}” is not a build number.", 400)
    # One answer for a build that does not exist and one this person may not see.
    build = builds_visible_to(request.user).filter(pk=number).first()
    if build is None:
        raise _CompareProblem(f"There is no build #{number} that you can see.", 404)
    return build


@permission_required("builds.view_build", raise_exception=True)
@require_safe
def build_compare(request: HttpRequest) -> HttpResponse:
    """What changed from build `a` to build `b` of one blueprint (?a=&b=). With one build
    named, it is compared with its previous release, as on its build page."""
    try:
        old, new = _named_build(request, "a"), _named_build(request, "b")
    except _CompareProblem as problem:
        return _compare_page(request, str(problem), problem.status)
    if new is None:
        old, new = None, old
    if new is None:
        return _compare_page(request, "Open a build and follow “Compare with another build”.", 400)
    is_release = False
    defaulted = old is None
    if old is None:
        old, is_release = previous_release(new, request.user)
    context = {
        "form": BuildCompareForm(builds=comparable_builds(new, request.user), old=old, new=new),
        "old": old,
        "new": new,
        "is_release": is_release,
        "defaulted": defaulted,
    }
    if old is None:
        message = (
            f"There is no earlier succeeded build of {new.revision.blueprint.name} for "
            f"{new.profile.name} to compare build #{new.pk} with: choose one above."
        )
        return _compare_page(request, message, 200, context)
    try:
        context["changes"] = changes(
            old=old, new=new, include_blueprint=request.user.has_perm("blueprints.view_blueprint")
        )
    except ChangesRefusedError as refused:
        return _compare_page(request, str(refused), 400, context)
    return render(request, "builds/compare.html", context)


def _compare_page(
    request: HttpRequest, error: str, status: int, context: dict | None = None
) -> HttpResponse:
    return render(
        request, "builds/compare.html", {**(context or {}), "error": error}, status=status
    )


# The log holds text users wrote (file paths, comments): opened on its own it is a sandboxed
# document that may load and run nothing, should a browser ever treat it as a page.
@permission_required("builds.view_build", raise_exception=True)
@csp_override({"default-src": [CSP.NONE], "sandbox": True})
@require_safe
def build_log(request: HttpRequest, build_id: int) -> HttpResponse:
    """The log bytes after `offset`; the next offset is in X-Log-Offset. 286 once final.

    Plain text, added to the page as a text node by static/js/build-log.js."""
    build = _visible_build(request, build_id)
    offset = _ascii_int(request.GET.get("offset", "0")) or 0
    chunk = log_read(paths.build_log_path(build.artifact_source.pk), offset)
    done = build.is_finished and chunk.next_offset >= chunk.size
    response = HttpResponse(chunk.text, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"  # even if the site-wide setting is off
    response["X-Log-Offset"] = str(chunk.next_offset)
    if done:
        response.status_code = HTMX_STOP_POLLING if request.htmx else 200
        response["X-Log-Complete"] = "1"
    return response


@permission_required("builds.cancel_build", raise_exception=True)
@require_POST
def build_cancel_view(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    if build_cancel(build=build, by=request.user):
        messages.success(request, f"Build #{build.pk} cancelled.")
    else:
        messages.info(request, f"Build #{build.pk} had already finished.")
    return redirect("builds:detail", build_id=build.pk)


@permission_required("builds.view_build", raise_exception=True)
@require_safe
def build_boot_test(request: HttpRequest, build_id: int) -> HttpResponse:
    """The build page's boot-test section, which polls itself while the test may change;
    286 once it cannot. Opened on its own: the build page."""
    build = _visible_build(request, build_id)
    if not request.htmx:
        return redirect(reverse("builds:detail", args=[build.pk]) + "#boot-test")
    test = boot_test(build)
    context = {
        "build": build,
        "boot_test": test,
        "reused_visible": _reused_visible(request, build),
    }
    response = render(request, "builds/_boot_test.html", context)
    if test is None or not test.polling:
        response.status_code = HTMX_STOP_POLLING
    return response


@permission_required("builds.cancel_build", raise_exception=True)
@require_POST
def build_boot_test_cancel_view(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    if boot_test_cancel(build=build, by=request.user):
        messages.success(request, f"The boot test of build #{build.pk} was cancelled.")
    else:
        messages.info(request, f"The boot test of build #{build.pk} had already finished.")
    return redirect("builds:detail", build_id=build.pk)


@permission_required("builds.release_build", raise_exception=True)
@require_POST
def build_release_view(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    try:
        event = release(build, by=request.user, reason=request.POST.get("reason", ""))
    except ReleaseRefusedError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            "Released to field technicians without a passed boot test; they see your reason."
            if event.override
            else "Released to field technicians.",
        )
    return redirect("builds:detail", build_id=build.pk)


@permission_required("builds.release_build", raise_exception=True)
@require_POST
def build_withdraw_view(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    try:
        withdraw(build, by=request.user, reason=request.POST.get("reason", ""))
    except ReleaseRefusedError as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "No longer offered to field technicians.")
    return redirect("builds:detail", build_id=build.pk)


@permission_required("builds.view_build", raise_exception=True)
@require_safe
def release_history(request: HttpRequest) -> HttpResponse:
    """Who released or withdrew which build, when and why; ?build=N for one build."""
    events = release_events_visible_to(request.user)
    build_id = _ascii_int(request.GET.get("build", ""))
    if build_id is not None:
        events = events.filter(build_id=build_id)
    page = Paginator(events, RELEASE_HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "events": page.object_list, "build_id": build_id}
    return render(request, "builds/releases.html", context)


@permission_required("builds.add_build", raise_exception=True)
@require_POST
def build_rebuild_view(request: HttpRequest, build_id: int) -> HttpResponse:
    build = _visible_build(request, build_id)
    try:
        new = build_rebuild(build=build, requested_by=request.user)
    except (BuildRefusedError, SpecError) as error:
        messages.error(request, str(error))
        return redirect("builds:detail", build_id=build.pk)
    messages.success(request, f"Rebuilding with the latest packages as build #{new.pk}.")
    return redirect("builds:detail", build_id=new.pk)


@permission_required("builds.add_build", raise_exception=True)
@require_POST
def build_start(request: HttpRequest, name: str) -> HttpResponse:
    """Start builds of a blueprint's latest revision: one target, or all of them."""
    blueprint = get_object_or_404(Blueprint, name=name)
    revision = blueprint.latest_revision
    targets = revision.targets.all()
    slug = request.POST.get("profile")
    if slug:
        targets = targets.filter(slug=slug)
    started = []
    for profile in targets:
        try:
            started.append(
                build_enqueue(revision=revision, profile=profile, requested_by=request.user)
            )
        except BuildQueueUnavailableError as error:
            messages.error(request, str(error))
            break  # the other targets would wait for the same broker
        except (BuildRefusedError, SpecError) as error:
            messages.error(request, f"{profile.name}: {error}")
    if len(started) == 1:
        return redirect("builds:detail", build_id=started[0].pk)
    if started:
        messages.success(request, f"{len(started)} builds started.")
    elif not targets:
        messages.error(request, "Choose at least one target before building.")
    return redirect(f"/builds/?blueprint={blueprint.name}")


@permission_required("builds.download_artifact", raise_exception=True)
def build_personalise(request: HttpRequest, build_id: int) -> HttpResponseBase:
    """Download the disk image with one device's settings (hostname, address, Wi-Fi...)."""
    build = _visible_build(request, build_id)
    artifact = get_object_or_404(build.artifact_source.artifacts, kind=Artifact.Kind.DISK_RAW)
    has_wifi = build.profile.has_wifi
    defaults = build.revision.data.get("system_ini") or {}
    form = DeviceSystemIniForm(request.POST or None, has_wifi=has_wifi, defaults=defaults)
    if request.method == "POST" and form.is_valid():
        values = form.device_values(form.cleaned_data)
        name = personal_copy_name(artifact, str(values.get("hostname") or ""))
        checksum_path = personal_checksum_path(
            user_id=request.user.pk,
            build_id=build.pk,
            token=request.POST.get("download_token", ""),
        )
        try:
            copy = artifact_personalised(
                artifact=artifact,
                system_ini=device_system_ini(build, values),
                name=name,
                checksum_path=checksum_path,
            )
        except ArtifactFileMissing as missing:
            return _file_missing(request, build, str(missing))
        except PersonaliseRefusedError as refused:
            messages.error(request, str(refused))
            return redirect("builds:personalise", build_id=build.pk)
        except (ImageError, OSError, subprocess.SubprocessError):
            logger.exception("personalising build %s failed", build.pk)
            messages.error(request, "The image could not be prepared; please try again.")
            return redirect("builds:detail", build_id=build.pk)
        response = StreamingHttpResponse(copy, content_type="application/octet-stream")
        response["Content-Length"] = str(copy.size)
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
    context = {
        "build": build,
        "release_override": current_overrides([build]).get(build.pk),
        "form": form,
        "has_wifi": has_wifi,
        "download_token": secrets.token_hex(16),
    }
    return render(request, "builds/personalise.html", context)


@permission_required("builds.download_artifact", raise_exception=True)
@csp_override({"default-src": [CSP.NONE], "sandbox": True})
@require_safe
def build_personal_checksum(request: HttpRequest, build_id: int, token: str) -> HttpResponse:
    """The SHA-256 of this person's personalised download `token`, as a checksum file; 404
    until the whole image has been sent."""
    build = _visible_build(request, build_id)
    path = personal_checksum_path(user_id=request.user.pk, build_id=build.pk, token=token)
    line = personal_checksum_read(path) if path else None
    if line is None:
        return HttpResponse(
            "Not there yet: the checksum is written once the whole image has been sent.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(line, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        False, line.split("  ", 1)[-1].strip() + ".sha256"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@permission_required("builds.download_artifact", raise_exception=True)
@require_safe
def artifact_download(request: HttpRequest, build_id: int, kind: str) -> HttpResponseBase:
    build = _visible_build(request, build_id)
    artifact = get_object_or_404(build.artifact_source.artifacts, kind=kind)
    try:
        return artifact_response(request, artifact)
    except ArtifactFileMissing as missing:
        return _file_missing(request, build, str(missing))


def _file_missing(request: HttpRequest, build: Build, message: str) -> HttpResponse:
    """The row outlived its file: say so plainly (404), with the way forward."""
    return render(
        request, "builds/file_missing.html", {"build": build, "message": message}, status=404
    )
