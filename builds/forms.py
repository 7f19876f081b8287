"""The per-device system.ini form of the personalised download."""

from __future__ import annotations

from typing import Any

from blueprints.system_ini_form import SystemIniForm


class DeviceSystemIniForm(SystemIniForm):
    """One device's settings, pre-filled with the blueprint's defaults."""

    def device_values(self, cleaned: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        """One device's whole top-level system.ini, from this form pre-filled with `defaults`.

        What the form sends replaces the defaults (a field the technician emptied stays
        empty); keys the form has no field for (factory_reset) keep the blueprint's value.
        """
        kept = {key: value for key, value in defaults.items() if key not in self.fields}
        return {**kept, **self.system_ini_values(cleaned, keep_wifi_key=defaults)}
