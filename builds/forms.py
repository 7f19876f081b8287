"""The per-device system.ini form of the personalised download; the compare form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils import timezone

from blueprints.system_ini_form import SystemIniForm
from builds.models import Build


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


class BuildCompareForm(forms.Form):
    """Two builds of one blueprint to compare, from the succeeded ones the person may see.

    Only for showing the choice: the view looks up what the address names itself, because a
    link may name a build the lists leave out (a failed one: "no package list")."""

    a = forms.ChoiceField(label="From")
    b = forms.ChoiceField(label="To")

    def __init__(self, *, builds: Iterable[Build], old: Build | None, new: Build) -> None:
        super().__init__(initial={"a": old.pk if old else "", "b": new.pk})
        offered = {build.pk: build for build in builds}
        for build in (new, old):
            if build is not None:
                offered.setdefault(build.pk, build)
        by_board: dict[str, list[tuple[int, str]]] = {}
        for build in sorted(offered.values(), key=lambda b: (b.created_at, b.pk), reverse=True):
            by_board.setdefault(build.profile.name, []).append((build.pk, _build_label(build)))
        choices = list(by_board.items())
        if old is None:
            choices.insert(0, ("", "Choose a build…"))
        self.fields["a"].choices = choices
        self.fields["b"].choices = list(by_board.items())


def _build_label(build: Build) -> str:
    """#12 · r3 · 2026-11-30 14:05 · released"""
    when = timezone.localtime(build.finished_at or build.created_at).strftime("%Y-%m-%d %H:%M")
    parts = [f"#{build.pk}", f"r{build.revision.number}", when]
    if build.state != Build.State.SUCCEEDED:
        parts.append(build.get_state_display().lower())
    elif build.released:
        parts.append("released")
    return " · ".join(parts)
