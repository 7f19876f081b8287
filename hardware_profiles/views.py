from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from blueprints.profile_checks import blueprints_targeting, profile_packages_check
from genpack_site.permissions import permission_required
from hardware_profiles.forms import HardwareProfileForm
from hardware_profiles.models import HardwareProfile
from hardware_profiles.services import profile_copy_initial


@permission_required("hardware_profiles.view_hardwareprofile")
@require_safe
def profile_list(request: HttpRequest) -> HttpResponse:
    profiles = HardwareProfile.objects.all()
    if not request.user.has_perm("hardware_profiles.change_hardwareprofile"):
        profiles = profiles.filter(enabled=True)
    return render(request, "hardware_profiles/list.html", {"profiles": profiles})


@permission_required("hardware_profiles.view_hardwareprofile")
@require_safe
def profile_detail(request: HttpRequest, slug: str) -> HttpResponse:
    profile = get_object_or_404(HardwareProfile, slug=slug)
    return render(request, "hardware_profiles/detail.html", {"profile": profile})


def _warn_not_checked(request: HttpRequest, form: HardwareProfileForm) -> None:
    if form.packages_not_loaded:
        messages.warning(
            request,
            f"The package list {', '.join(form.packages_not_loaded)} is not loaded yet, so "
            "the kernel and firmware names were not checked; a build with a wrong name fails "
            "at “Installing packages”. Save again after the package update to check them.",
        )


@permission_required("hardware_profiles.add_hardwareprofile")
def profile_create(request: HttpRequest) -> HttpResponse:
    source = None
    if slug := request.GET.get("copy"):
        source = get_object_or_404(HardwareProfile, slug=slug)
    initial = profile_copy_initial(source=source) if source else None
    form = HardwareProfileForm(
        request.POST or None, initial=initial, packages_check=profile_packages_check
    )
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        messages.success(request, f"Hardware profile “{profile.name}” created.")
        _warn_not_checked(request, form)
        return redirect("hardware_profiles:detail", slug=profile.slug)
    context = {
        "form": form,
        "profile": None,
        "copy_choices": HardwareProfile.objects.all(),
        "copied_from": source,
    }
    return render(request, "hardware_profiles/form.html", context)


@permission_required("hardware_profiles.change_hardwareprofile")
def profile_edit(request: HttpRequest, slug: str) -> HttpResponse:
    profile = get_object_or_404(HardwareProfile, slug=slug)
    affected = blueprints_targeting(profile)
    form = HardwareProfileForm(
        request.POST or None, instance=profile, packages_check=profile_packages_check
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        saved = f"Hardware profile “{profile.name}” saved."
        if affected and form.has_changed():
            count = len(affected)
            who = "1 blueprint builds" if count == 1 else f"{count} blueprints build"
            saved += f" {who} for it; the change applies from their next build."
        messages.success(request, saved)
        _warn_not_checked(request, form)
        return redirect("hardware_profiles:detail", slug=profile.slug)
    context = {"form": form, "profile": profile, "affected": affected}
    return render(request, "hardware_profiles/form.html", context)
