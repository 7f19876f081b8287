"""The system.ini a blueprint's image starts with: its defaults, rendered for one profile.

Parsing, validation and rendering live in the one module the device shares
(builds/engine/device/system_ini.py); this only feeds it a blueprint's values.
"""

from __future__ import annotations

from typing import Any

from blueprints.models import BlueprintRevision
from builds.engine.device.system_ini import (
    AppSetting,
    parse_ini,
    render_system_ini,
    validate_system_ini,
)
from hardware_profiles.models import HardwareProfile


def _ini_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n  ".join(str(item) for item in value)  # continuation lines
    return str(value)


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


def render_defaults(data: dict[str, Any], profile: HardwareProfile) -> str:
    """The commented system.ini for blueprint `data` on `profile` (CRLF, for Notepad)."""
    capabilities = frozenset(profile.capabilities)
    declared = app_settings(data)
    defaults = data.get("system_ini") or {}
    raw = "\n".join(f"{key}={_ini_text(value)}" for key, value in defaults.items())
    result = validate_system_ini(parse_ini(raw), capabilities=capabilities, app_settings=declared)
    header = f"{data['name']} {data.get('version', '')} for {profile.name}".replace("  ", " ")
    return render_system_ini(
        result.values, capabilities=capabilities, app_settings=declared, header=header
    )


def default_system_ini(revision: BlueprintRevision, profile: HardwareProfile) -> str:
    """The system.ini written into a build of `revision` for `profile`."""
    return render_defaults(revision.data, profile)
