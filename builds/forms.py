"""The per-device system.ini form of the personalised download."""

from __future__ import annotations

from typing import Any

from blueprints.system_ini_form import SystemIniForm


class DeviceSystemIniForm(SystemIniForm):
    """One device's settings, pre-filled with the blueprint's defaults (`defaults`); the
    blueprint's Wi-Fi password is the saved one (kept when the field is left empty)."""

    def __init__(self, *args: Any, defaults: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.defaults = dict(defaults or {})
        kwargs.setdefault("initial", self.initial_from(self.defaults))
        kwargs.setdefault("saved_wifi_key", self.defaults.get("wifi_key", ""))
        super().__init__(*args, **kwargs)

    def device_values(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """One device's whole top-level system.ini, from this form pre-filled with the defaults.

        What the form sends replaces the defaults (a field the technician emptied stays
        empty); keys the form has no field for (factory_reset) keep the blueprint's value.
        """
        kept = {key: value for key, value in self.defaults.items() if key not in self.fields}
        return {**kept, **self.system_ini_values(cleaned)}
