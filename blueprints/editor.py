"""The blueprint editor's sections: each shows part of a blueprint and turns one form post
into `changes` for blueprints.services.blueprint_update. Views stay thin; rules live here."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from blueprints import editor_forms as ef
from blueprints.buildspec import unit_name
from blueprints.package_lookup import package_summary, services_suggested_for
from blueprints.passwords import password_crypt_hash
from blueprints.secrets import settings_masked
from blueprints.system_ini_form import SystemIniForm
from hardware_profiles.models import HardwareProfile

Data = dict[str, Any]
Targets = list[HardwareProfile]


@dataclass
class Change:
    fields: dict[str, Any]
    message: str


@dataclass
class Bound:
    """A failed post, shown again with what the person typed and why it was refused."""

    post: QueryDict
    files: MultiValueDict
    errors: dict[str, list[str]]

    @property
    def form_key(self) -> str:
        return self.post.get("form", "main")


def _form(
    form_class: type[forms.Form], bound: Bound | None, key: str = "main", **kwargs: Any
) -> forms.Form:
    """A fresh form, or the posted one with its errors when that form was the one posted."""
    initial = kwargs.pop("initial", None)
    # Several sections have a "name" field on one page: ids must differ for labels to work.
    kwargs.setdefault("auto_id", f"id_{form_class.__name__.removesuffix('Form').lower()}_%s")
    if bound is None or bound.form_key != key:
        return form_class(initial=initial, **kwargs)
    form = form_class(bound.post, bound.files, **kwargs)
    form.is_valid()
    for field, messages in bound.errors.items():
        if field in form.fields:  # the rest is shown at the top of the section
            for message in messages:
                if message not in form.errors.get(field, []):
                    form.add_error(field, message)
    return form


class Section:
    name = ""
    title = ""
    help = ""
    permission = ""  # extra permission needed beyond changing blueprints
    # The field beside which pre-flight problems of a save are shown ("" = top of the section).
    problems_field = ""

    def context(
        self, data: dict[str, Any], targets: list[HardwareProfile], bound: Bound | None = None
    ) -> dict[str, Any]:
        return {}

    def apply(
        self,
        post: QueryDict,
        files: MultiValueDict,
        data: dict[str, Any],
        targets: list[HardwareProfile],
    ) -> Change:
        raise NotImplementedError


def _form_errors(form: forms.Form) -> ValidationError:
    return ValidationError({name: errors for name, errors in form.errors.items()})


def _valid(form: forms.Form) -> dict[str, Any]:
    if not form.is_valid():
        raise _form_errors(form)
    return form.cleaned_data


class BasicsSection(Section):
    name, title = "basics", "Basics"
    help = "What the appliance is called and what it does. Technicians see this."

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        return {"form": _form(ef.BasicsForm, bound, initial=data)}

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        cleaned = _valid(ef.BasicsForm(post))
        return Change(cleaned, "Changed basics")


class TargetsSection(Section):
    name, title = "targets", "Targets"
    problems_field = "targets"
    help = "The boards and machines this appliance is built for."

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        return {
            "form": _form(ef.TargetsForm, bound, initial={"targets": data.get("targets") or []}),
            "profiles": HardwareProfile.objects.filter(enabled=True),
        }

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        cleaned = _valid(ef.TargetsForm(post))
        slugs = [profile.slug for profile in cleaned["targets"]]
        return Change({"targets": slugs}, "Changed targets")


def _list_action(
    data: dict[str, Any], key: str, post: QueryDict, item: str | None, what: str
) -> Change:
    current = list(data.get(key) or [])
    remove = post.get("remove")
    if remove is not None:
        if remove not in current:
            raise ValidationError({"__all__": [f"{remove} is not in the list any more."]})
        current.remove(remove)
        return Change({key: current}, f"Removed {what} {remove}")
    if item is None:
        raise ValidationError({"__all__": ["Nothing to add."]})
    if item in current:
        raise ValidationError({"name": [f"{item} is already in the list."]})
    current.append(item)
    return Change({key: current}, f"Added {what} {item}")


class PackagesSection(Section):
    name, title = "packages", "Packages"
    problems_field = "name"
    help = (
        "Debian packages installed in the image. Type to search the Debian archive; each board "
        "adds its own kernel and firmware too."
    )

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        packages = [p for p in data.get("packages") or [] if not p.startswith("-")]
        removed = [p[1:] for p in data.get("packages") or [] if p.startswith("-")]
        return {
            "packages": packages,
            "removed": removed,
            "profile_packages": [
                (
                    profile,
                    [profile.kernel_package, *profile.board_firmware, *profile.extra_packages],
                )
                for profile in targets
            ],
            "summary": package_summary(packages=packages, targets=targets),
            "form": _form(ef.PackageForm, bound),
        }

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        packages = list(data.get("packages") or [])
        for toggle in ("exclude", "include"):
            if name := post.get(toggle):
                entry = f"-{name}"
                if toggle == "exclude" and entry not in packages:
                    packages.append(entry)
                elif toggle == "include" and entry in packages:
                    packages.remove(entry)
                verb = "Left out" if toggle == "exclude" else "Put back"
                return Change({"packages": packages}, f"{verb} the board's package {name}")
        # Whether each target has the package is the pre-flight's to say, on save.
        name = None if post.get("remove") is not None else _valid(ef.PackageForm(post))["name"]
        return _list_action(data, "packages", post, name, "package")


class ServicesSection(Section):
    name, title = "services", "Services"
    problems_field = "name"
    help = "Programs started at boot (systemd units), e.g. ssh, nginx, or backup.timer."

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        services = data.get("services") or []
        suggested = [
            unit
            for unit in services_suggested_for(packages=data.get("packages") or [], targets=targets)
            if unit not in services and unit_name(unit) not in map(unit_name, services)
        ]
        return {"services": services, "suggested": suggested, "form": _form(ef.ServiceForm, bound)}

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        name = None if post.get("remove") is not None else _valid(ef.ServiceForm(post))["name"]
        return _list_action(data, "services", post, name, "service")


def _named_items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [{"name": item} if isinstance(item, str) else dict(item) for item in data.get(key) or []]


class UsersSection(Section):
    name, title = "users", "Users and groups"
    help = (
        "Accounts on the appliance. A password you type is turned into a one-way hash on the "
        "server; only the hash is kept."
    )

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        return {
            "users": _named_items(data, "users"),
            "groups": _named_items(data, "groups"),
            "form": _form(ef.UserForm, bound),
            "group_form": _form(ef.GroupForm, bound, key="group"),
        }

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        users, groups = _named_items(data, "users"), _named_items(data, "groups")
        if name := post.get("remove_group"):
            return Change(
                {"groups": [g for g in groups if g["name"] != name]}, f"Removed group {name}"
            )
        if name := post.get("remove"):
            return Change(
                {"users": [u for u in users if u["name"] != name]}, f"Removed user {name}"
            )
        if post.get("form", "main") not in ("main", "group"):  # its errors would show nowhere
            raise ValidationError({"__all__": ["The form was out of date; reload the page."]})
        if post.get("form") == "group":
            group = _valid(ef.GroupForm(post))
            name = group["group_name"]
            if any(g["name"] == name for g in groups):
                raise ValidationError({"group_name": ["This group exists already."]})
            entry = {"name": name, **({"gid": group["gid"]} if group["gid"] is not None else {})}
            return Change({"groups": [*groups, entry]}, f"Added group {name}")
        cleaned = _valid(ef.UserForm(post))
        existing = next((u for u in users if u["name"] == cleaned["name"]), None)
        user: dict[str, Any] = {"name": cleaned["name"]}
        for key in ("uid", "comment", "shell"):
            if cleaned.get(key):
                user[key] = cleaned[key]
        if cleaned["additional_groups"]:
            user["additional_groups"] = cleaned["additional_groups"]
        if cleaned["ssh_keys"]:
            user["ssh_keys"] = cleaned["ssh_keys"]
        if cleaned["password"]:
            user["password_hash"] = password_crypt_hash(cleaned["password"])
        elif existing and existing.get("password_hash"):
            user["password_hash"] = existing["password_hash"]  # blank = keep the password
        others = [u for u in users if u["name"] != cleaned["name"]]
        verb = "Changed" if existing else "Added"
        return Change({"users": [*others, user]}, f"{verb} user {cleaned['name']}")


def _file_entry(cleaned: dict[str, Any]) -> dict[str, Any]:
    """A `files` / `build_files` entry from a FileForm's cleaned data."""
    entry: dict[str, Any] = {
        "path": cleaned["path"],
        "mode": cleaned["mode"],
        "owner": cleaned["owner"],
    }
    upload = cleaned.get("upload")
    if upload:
        content = upload.read()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:  # binary: NUL cannot be kept as text
            entry["content_b64"] = base64.b64encode(content).decode("ascii")
        else:
            entry["content"] = text
    else:
        entry["content"] = cleaned["content"]
    return entry


class FilesSection(Section):
    name, title = "files", "Files"
    help = (
        "Files placed into the image, such as configuration for your services. They are "
        "written last, after everything the build runs."
    )

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        return {"files": data.get("files") or [], "form": _form(ef.FileForm, bound)}

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        current = list(data.get("files") or [])
        if path := post.get("remove"):
            return Change(
                {"files": [f for f in current if f.get("path") != path]}, f"Removed file {path}"
            )
        entry = _file_entry(_valid(ef.FileForm(post, files)))
        others = [f for f in current if f.get("path") != entry["path"]]
        return Change({"files": [*others, entry]}, f"Set file {entry['path']}")


class SettingsSection(Section):
    name, title = "settings", "Custom settings"
    help = (
        "Settings your own services read. Each appears in system.ini under its section, so a "
        "technician can change it; services get them as environment variables."
    )

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        return {
            "settings": settings_masked(data.get("settings") or []),
            "form": _form(ef.SettingForm, bound),
        }

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        current = list(data.get("settings") or [])
        if name := post.get("remove"):
            return Change(
                {"settings": [s for s in current if f"{s['section']}.{s['key']}" != name]},
                f"Removed setting {name}",
            )
        cleaned = _valid(ef.SettingForm(post))
        entry = {k: v for k, v in cleaned.items() if v not in ("", None, [])}
        name = f"{entry['section']}.{entry['key']}"
        others = [s for s in current if f"{s['section']}.{s['key']}" != name]
        return Change({"settings": [*others, entry]}, f"Set setting {name}")


class SystemIniSection(Section):
    name, title = "system_ini", "Default system.ini"
    help = (
        "The settings file on the card's boot partition. A technician can change any of these "
        "later with Notepad; these are the values a new device starts with."
    )

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        has_wifi = any(profile.has_wifi for profile in targets)
        saved = data.get("system_ini") or {}
        initial = SystemIniForm.initial_from(saved)
        form = _form(
            SystemIniForm,
            bound,
            initial=initial,
            has_wifi=has_wifi,
            saved_wifi_key=saved.get("wifi_key", ""),
        )
        return {"form": form, "has_wifi": has_wifi, "preview_targets": targets}

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        has_wifi = any(profile.has_wifi for profile in targets)
        saved = data.get("system_ini") or {}
        form = SystemIniForm(post, has_wifi=has_wifi, saved_wifi_key=saved.get("wifi_key", ""))
        values = form.system_ini_values(_valid(form))
        message = "Changed default system.ini"
        if removed := form.saved_wifi_key_removed():
            message = f"{message}. {removed}"
        return Change({"system_ini": values}, message)


class AdvancedSection(Section):
    name, title = "advanced", "Advanced"
    help = (
        "Shell commands run inside the image while it is built, the build files they need, "
        "and the image compression."
    )
    permission = "blueprints.run_setup_commands"

    def context(self, data: Data, targets: Targets, bound: Bound | None = None) -> Data:
        initial = {
            "setup_commands": "\n".join(data.get("setup_commands") or []),
            "compression": data.get("compression", "xz"),
        }
        return {
            "form": _form(ef.AdvancedForm, bound, initial=initial),
            "build_files": data.get("build_files") or [],
            "build_file_form": _form(ef.BuildFileForm, bound, key="build_file"),
        }

    def apply(self, post: QueryDict, files: MultiValueDict, data: Data, targets: Targets) -> Change:
        current = list(data.get("build_files") or [])
        if path := post.get("remove_build_file"):
            return Change(
                {"build_files": [f for f in current if f.get("path") != path]},
                f"Removed build file {path}",
            )
        if post.get("form") == "build_file":
            entry = _file_entry(_valid(ef.BuildFileForm(post, files)))
            others = [f for f in current if f.get("path") != entry["path"]]
            return Change({"build_files": [*others, entry]}, f"Set build file {entry['path']}")
        cleaned = _valid(ef.AdvancedForm(post))
        commands = [line for line in cleaned["setup_commands"].splitlines() if line.strip()]
        compression = None if cleaned["compression"] == "xz" else cleaned["compression"]
        return Change(
            {"setup_commands": commands, "compression": compression}, "Changed advanced settings"
        )


SECTIONS: dict[str, Section] = {
    section.name: section
    for section in (
        BasicsSection(),
        TargetsSection(),
        PackagesSection(),
        ServicesSection(),
        UsersSection(),
        FilesSection(),
        SettingsSection(),
        SystemIniSection(),
        AdvancedSection(),
    )
}
NAME_RE = re.compile(r"^[a-z_]+$")
