"""What the blueprint pages may read of builds: the one allowed edge from blueprints to builds.

Imports go builds → blueprints everywhere else; blueprints/views.py alone reads these
(read-only) facts for its pages, so nothing here writes or imports blueprints' views.
"""

from __future__ import annotations

from typing import Any

from blueprints.models import Blueprint
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
