"""What the blueprint pages may read of builds: the one allowed edge from blueprints to builds.

Imports go builds → blueprints everywhere else; blueprints/views.py alone reads these
(read-only) facts for its pages, so nothing here writes or imports blueprints' views.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blueprints.models import Blueprint
from builds.hosts import build_host_problem, online_architectures
from builds.models import Build
from builds.system_ini import render_for
from hardware_profiles.models import HardwareProfile


def last_build_per_target(blueprint: Blueprint) -> dict[int, Build]:
    """Hardware profile id → the newest build of any revision of `blueprint` for it."""
    last: dict[int, Build] = {}
    for build in Build.objects.filter(revision__blueprint=blueprint).select_related("profile"):
        last.setdefault(build.profile_id, build)  # newest first
    return last


def system_ini_text(data: dict[str, Any], profile: HardwareProfile | None) -> str:
    """The system.ini an image of blueprint `data` for `profile` carries, as the build writes it."""
    return render_for(data, profile)


def target_problems(profiles: Iterable[HardwareProfile]) -> dict[int, str]:
    """Hardware profile id → why a build for it would be refused right now (the builder
    cannot make it, it is disabled, no build host for its architecture is online); profiles
    that can be built are left out. The same checks build_enqueue makes, told on the button."""
    online = online_architectures()
    problems: dict[int, str] = {}
    for profile in profiles:
        if builder := profile.builder_problem:
            problem: str | None = f"The builder cannot make images for this profile: {builder}."
        elif not profile.enabled:
            problem = "Disabled by an admin."
        else:
            problem = build_host_problem(profile, online)
        if problem:
            problems[profile.pk] = problem
    return problems
