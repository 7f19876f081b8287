"""Hardware profile writes beyond the form's own save."""

from __future__ import annotations

from typing import Any

from django.forms.models import model_to_dict

from hardware_profiles.models import HardwareProfile

# What a copy does not take over: a new profile needs its own identity.
NOT_COPIED = ("id", "slug", "name")


def profile_copy_initial(*, source: HardwareProfile) -> dict[str, Any]:
    """The new-profile form filled in from `source`, all but its slug, as "Copy of …"."""
    initial = {key: value for key, value in model_to_dict(source).items() if key not in NOT_COPIED}
    initial["name"] = f"Copy of {source.name}"
    return initial
