"""The system.ini of a blueprint's image, or of one device: rendered from the values.

Parsing, validation and rendering live in the one module the device shares
(appliance/system_ini/); this feeds it a blueprint's values. The preview, the
build and the personalised download all come through :func:`render_for`, so a technician
gets in the image exactly what the product manager saw.

Values are checked as values (``validate_values``) and written from what passed; they are
never joined into INI text and parsed again, where a line break inside a hostname or a list
item ``"factory_reset=yes"`` would turn into a setting of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.system_ini import (
    AppSetting,
    render_system_ini,
    validate_values,
)
from blueprints.models import BlueprintRevision
from hardware_profiles.models import HardwareProfile


def app_settings(data: dict[str, Any]) -> list[AppSetting]:
    return [
        AppSetting(
            section=item["section"],
            key=item["key"],
            type=item.get("type", "string"),
            default=item.get("default"),
            help=item.get("help", ""),
            choices=tuple(item.get("choices") or ()),
        )
        for item in data.get("settings") or []
    ]


def render_for(
    data: dict[str, Any],
    profile: HardwareProfile | None,
    *,
    device_values: Mapping[str, object] | None = None,
) -> str:
    """The commented system.ini (CRLF, for Notepad) of blueprint `data` on `profile`.

    Without `device_values` it holds the blueprint's defaults (the build, the preview). With
    them it is one device's file, and they are its whole top-level setting (the per-device
    form starts filled in with the defaults: ``DeviceSystemIniForm.device_values``). A value the
    checks reject is left out, as the device would ignore it; forms report the reasons
    before it comes to that. `profile` None (a blueprint without targets yet) means a wired
    device without Wi-Fi.
    """
    capabilities = frozenset(profile.capabilities if profile else ("ethernet",))
    declared = app_settings(data)
    values = device_values if device_values is not None else data.get("system_ini") or {}
    result = validate_values(values, capabilities=capabilities, app_settings=declared)
    header = " ".join(part for part in (data.get("name", ""), data.get("version", "")) if part)
    if profile is not None:
        header += f" for {profile.name}"
    if device_values is not None:
        hostname = result.values.get("hostname")
        header += f", device {hostname}" if hostname else ", personalised"
    return render_system_ini(
        result.values,
        capabilities=capabilities,
        app_settings=declared,
        app_values=result.app_sections,
        header=header,
    )


def default_system_ini(revision: BlueprintRevision, profile: HardwareProfile) -> str:
    """The system.ini written into a build of `revision` for `profile`."""
    return render_for(revision.data, profile)
