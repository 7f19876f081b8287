"""A semantic diff between two blueprint revisions: what a product manager cares about
(packages added and removed, users, files, settings changed), not lines of JSON5."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from appliance.system_ini import SECRET_MASK, is_secret_key

LIST_FIELDS = ("targets", "packages", "buildtime_packages", "services", "setup_commands")
KEYED_FIELDS = {
    "users": lambda item: item if isinstance(item, str) else item.get("name"),
    "groups": lambda item: item if isinstance(item, str) else item.get("name"),
    "files": lambda item: item.get("path"),
    "build_files": lambda item: item.get("path"),
    "settings": lambda item: f"{item.get('section')}.{item.get('key')}",
}
SCALAR_FIELDS = ("description", "version", "compression")
LABELS = {
    "buildtime_packages": "Build-time packages",
    "setup_commands": "Setup commands",
    "build_files": "Build files",
    "system_ini": "Default system.ini",
    "settings": "Custom settings",
    "arch": "Per architecture",
}


@dataclass
class FieldDiff:
    field: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS.get(self.field, self.field.replace("_", " ").capitalize())

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _list_diff(name: str, old: list[str], new: list[str]) -> FieldDiff:
    return FieldDiff(
        name,
        added=[item for item in new if item not in old],
        removed=[item for item in old if item not in new],
    )


def _keyed_diff(name: str, old: list[Any], new: list[Any]) -> FieldDiff:
    key = KEYED_FIELDS[name]
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    return FieldDiff(
        name,
        added=[str(k) for k in after if k not in before],
        removed=[str(k) for k in before if k not in after],
        changed=[str(k) for k in after if k in before and before[k] != after[k]],
    )


def _shown(key: str, value: Any) -> str:
    if value in (None, ""):
        return "(not set)"
    return SECRET_MASK if is_secret_key(key) else json.dumps(value, ensure_ascii=False)


def revision_diff(old: dict[str, Any], new: dict[str, Any]) -> list[FieldDiff]:
    """Only the fields that differ, in a stable order."""
    diffs = [_list_diff(name, old.get(name) or [], new.get(name) or []) for name in LIST_FIELDS]
    diffs += [_keyed_diff(name, old.get(name) or [], new.get(name) or []) for name in KEYED_FIELDS]
    for name in SCALAR_FIELDS:
        if old.get(name) != new.get(name):
            diffs.append(
                FieldDiff(
                    name, changed=[f"{_shown(name, old.get(name))} → {_shown(name, new.get(name))}"]
                )
            )
    ini_old, ini_new = old.get("system_ini") or {}, new.get("system_ini") or {}
    ini = FieldDiff("system_ini")
    for key in dict.fromkeys([*ini_old, *ini_new]):
        if ini_old.get(key) != ini_new.get(key):
            ini.changed.append(
                f"{key}: {_shown(key, ini_old.get(key))} → {_shown(key, ini_new.get(key))}"
            )
    diffs.append(ini)
    for name in ("arch", "variants"):
        if old.get(name) != new.get(name):
            diffs.append(FieldDiff(name, changed=["per-architecture / variant settings changed"]))
    return [diff for diff in diffs if diff]
