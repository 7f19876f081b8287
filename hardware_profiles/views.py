from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from hardware_profiles.forms import HardwareProfileForm
from hardware_profiles.models import HardwareProfile


@permission_required("hardware_profiles.view_hardwareprofile", raise_exception=True)
@require_safe
def profile_list(request: HttpRequest) -> HttpResponse:
    profiles = HardwareProfile.objects.all()
    if not request.user.has_perm("hardware_profiles.change_hardwareprofile"):
        profiles = profiles.filter(enabled=True)
    return render(request, "hardware_profiles/list.html", {"profiles": profiles})


@permission_required("hardware_profiles.view_hardwareprofile", raise_exception=True)
@require_safe
def profile_detail(request: HttpRequest, slug: str) -> HttpResponse:
    profile = get_object_or_404(HardwareProfile, slug=slug)
    return render(request, "hardware_profiles/detail.html", {"profile": profile})


@permission_required("hardware_profiles.add_hardwareprofile", raise_exception=True)
def profile_create(request: HttpRequest) -> HttpResponse:
    form = HardwareProfileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        messages.success(request, f"Hardware profile “{profile.name}” created.")
        return redirect("hardware_profiles:detail", slug=profile.slug)
    return render(request, "hardware_profiles/form.html", {"form": form, "profile": None})


@permission_required("hardware_profiles.change_hardwareprofile", raise_exception=True)
def profile_edit(request: HttpRequest, slug: str) -> HttpResponse:
    profile = get_object_or_404(HardwareProfile, slug=slug)
    form = HardwareProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Hardware profile “{profile.name}” saved.")
        return redirect("hardware_profiles:detail", slug=profile.slug)
    return render(request, "hardware_profiles/form.html", {"form": form, "profile": profile})
