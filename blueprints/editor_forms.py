"""Forms of the blueprint editor's sections. Field rules come from the shared modules
(system.ini checks from the device's own module, names from blueprints.checks)."""

from __future__ import annotations

from typing import Any

from django import forms

from appliance.system_ini import validate_values
from blueprints.buildspec import unit_name
from blueprints.checks import DEBIAN_PACKAGE
from blueprints.limits import MAX_FILE_BYTES, size_text
from blueprints.system_ini_form import OneLineField, for_people, lines_split
from hardware_profiles.models import HardwareProfile
from image_builder.spec import (
    ACCOUNT_RE,
    FORBIDDEN_FILE_ROOTS,
    SPECIAL_MODE_BITS,
    UNIT_RE,
    protected_file_problem,
)


class BasicsForm(forms.Form):
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One or two sentences: what the appliance does and for whom.",
    )
    version = forms.CharField(
        required=False,
        max_length=40,
        help_text="Your version number for this appliance, e.g. 1.4. Shown to technicians.",
    )


class TargetsForm(forms.Form):
    targets = forms.ModelMultipleChoiceField(
        queryset=HardwareProfile.objects.filter(enabled=True),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Choose every board or machine this appliance should run on.",
    )


class PackageForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Package",
        help_text="Type part of a name or a word from its description, then pick a package.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lower()
        if "/" in name:
            raise forms.ValidationError(
                "That looks like a Gentoo package atom; use the Debian package name."
            )
        if not DEBIAN_PACKAGE.match(name) or name.startswith("-"):
            raise forms.ValidationError("Debian package names use a-z, 0-9, + - and . only.")
        return name


class ServiceForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Service",
        help_text="A systemd unit, e.g. ssh, nginx.service, backup.timer, getty@tty1.service.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not UNIT_RE.match(unit_name(name)):
            raise forms.ValidationError(
                "Not a systemd unit name: letters, digits, - _ . : @ and a suffix such as "
                ".service or .timer."
            )
        return name


def _ssh_keys(text: str) -> list[str]:
    keys = lines_split(text)
    if not keys:
        return []
    result = validate_values({"ssh_pubkey": keys}, capabilities=frozenset({"ethernet"}))
    if "ssh_pubkey" in result.rejected:
        raise forms.ValidationError(for_people(result.rejected["ssh_pubkey"]))
    return keys


class UserForm(forms.Form):
    name = forms.CharField(max_length=32, help_text="Login name: lower-case letters, digits, _ -.")
    comment = forms.CharField(required=False, max_length=100, help_text="Full name or purpose.")
    uid = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=65533,
        help_text="Leave empty to let the system choose.",
    )
    shell = forms.ChoiceField(
        choices=[("/bin/bash", "bash"), ("/bin/sh", "sh"), ("/usr/sbin/nologin", "no login")],
        initial="/bin/bash",
    )
    additional_groups = forms.CharField(
        required=False, help_text="Extra groups, separated by spaces, e.g. sudo dialout."
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty for no password (key login only) or to keep the current one.",
    )
    ssh_keys = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        label="SSH public keys",
        help_text="One key per line, e.g. ssh-ed25519 AAAA… you@laptop.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not ACCOUNT_RE.match(name):
            raise forms.ValidationError("Use lower-case letters, digits, _ and -, at most 32.")
        return name

    def clean_additional_groups(self) -> list[str]:
        groups = self.cleaned_data["additional_groups"].replace(",", " ").split()
        for group in groups:
            if not ACCOUNT_RE.match(group):
                raise forms.ValidationError(f"“{group}” is not a valid group name.")
        return groups

    def clean_ssh_keys(self) -> list[str]:
        return _ssh_keys(self.cleaned_data["ssh_keys"])


class GroupForm(forms.Form):
    group_name = forms.CharField(max_length=32, label="Group")
    gid = forms.IntegerField(required=False, min_value=0, max_value=65533, label="GID")

    def clean_group_name(self) -> str:
        name = self.cleaned_data["group_name"].strip()
        if not ACCOUNT_RE.match(name):
            raise forms.ValidationError("Use lower-case letters, digits, _ and -, at most 32.")
        return name


def typed_text_lf(text: str) -> str:
    """Text typed in a browser with the line endings the person meant: LF (CRLF or a lone CR,
    as a textarea may send them, become LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


MODE_PROBLEM = (
    "A file mode is 3 or 4 octal digits (0 to 7) such as 0644 for files, 0755 for programs."
)
OWNER_PROBLEM = (
    "The owner is a user name: lower-case letters, digits, _ and -, at most 32, e.g. root."
)


class FileForm(forms.Form):
    # Product managers' files may not replace the accounts or the appliance's own code, nor be
    # setuid/setgid; build files (setup-commands permission, see BuildFileForm) may.
    protected = True

    path = forms.CharField(max_length=400, help_text="Absolute path, e.g. /etc/myapp/config.toml.")
    mode = forms.RegexField(
        regex=r"^0?[0-7]{3,4}$",
        initial="0644",
        # The pattern bounds the length: one message whatever was typed.
        widget=forms.TextInput(attrs={"maxlength": 5}),
        help_text="Permissions in octal: 0644 for files, 0755 for programs.",
        error_messages={"invalid": MODE_PROBLEM},
    )
    owner = forms.RegexField(
        regex=r"^[a-z_][a-z0-9_-]{0,31}$",
        initial="root",
        widget=forms.TextInput(attrs={"maxlength": 32}),
        error_messages={"invalid": OWNER_PROBLEM},
    )
    content = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="Saved with Unix line endings (LF), as programs and scripts in the image expect.",
    )
    upload = forms.FileField(
        required=False,
        help_text=f"Or upload a file (up to {size_text(MAX_FILE_BYTES)}); it is kept byte for "
        "byte, line endings included.",
    )

    def clean_path(self) -> str:
        path = self.cleaned_data["path"].strip()
        parts = path.split("/")
        if not path.startswith("/") or path.endswith("/") or ".." in parts or "" in parts[1:]:
            raise forms.ValidationError("Use an absolute file path without .. or //.")
        if any(path == root or path.startswith(root + "/") for root in FORBIDDEN_FILE_ROOTS):
            raise forms.ValidationError(
                f"Files cannot go under {', '.join(FORBIDDEN_FILE_ROOTS)}: those are created by "
                "the running system."
            )
        if self.protected and protected_file_problem(path):
            raise forms.ValidationError(
                "This file belongs to the system's accounts (passwd, shadow, group, gshadow) or "
                "to the appliance's own programs and units, and cannot be replaced."
            )
        return path

    def clean_content(self) -> str:
        # Browsers send a textarea's line breaks as CRLF whatever the person typed (HTML's
        # form submission rule); in the image a CR breaks scripts ("/bin/sh^M") and config.
        return typed_text_lf(self.cleaned_data["content"])

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"].zfill(4)
        if self.protected and int(mode, 8) & SPECIAL_MODE_BITS:
            raise forms.ValidationError(
                "setuid and setgid modes (4000, 2000) are not allowed; use e.g. 0755 for programs."
            )
        return mode

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("upload")
        limit = size_text(MAX_FILE_BYTES)
        if upload and upload.size > MAX_FILE_BYTES:
            self.add_error("upload", f"This file is {size_text(upload.size)}; at most {limit}.")
        content = cleaned.get("content") or ""
        if not upload and not content:
            self.add_error("content", "Type the file's content or upload a file.")
        elif not upload and len(content.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            size = size_text(len(content.encode("utf-8", "surrogatepass")))
            self.add_error("content", f"This text is {size}; a file may have at most {limit}.")
        return cleaned


class BuildFileForm(FileForm):
    """A file the setup commands need, placed before they run; any path and mode."""

    protected = False


class SettingForm(forms.Form):
    section = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_-]*$",
        max_length=40,
        help_text="Usually your service's name, e.g. kiosk.",
        error_messages={
            "invalid": "A section name uses lower-case letters, digits, _ and -, e.g. kiosk."
        },
    )
    key = forms.RegexField(
        regex=r"^[a-z_][a-z0-9_]*$",
        max_length=40,
        help_text="lower_snake_case, e.g. start_url.",
        error_messages={
            "invalid": "A key uses lower-case letters, digits and _ (no spaces), e.g. start_url."
        },
    )
    type = forms.ChoiceField(
        choices=[
            ("string", "Text"),
            ("int", "Whole number"),
            ("bool", "Yes / no"),
            ("choice", "One of a list"),
        ]
    )
    default = OneLineField(required=False, max_length=500)
    choices = OneLineField(required=False, help_text="For “one of a list”: comma-separated.")
    help = forms.CharField(
        required=False,
        max_length=300,
        help_text="Explain it in plain words; it appears in system.ini.",
    )

    def clean_choices(self) -> list[str]:
        return [c.strip() for c in self.cleaned_data["choices"].split(",") if c.strip()]

    def clean(self) -> dict[str, Any]:
        from appliance.system_ini import AppSetting

        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            AppSetting(
                section=cleaned["section"],
                key=cleaned["key"],
                type=cleaned["type"],
                default=cleaned["default"] or None,
                choices=tuple(cleaned["choices"]),
            )
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return cleaned


class AdvancedForm(forms.Form):
    setup_commands = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}),
        help_text="One shell command per line, run as root inside the image after the build "
        "files are placed (the other files come last, after every command). Only for people "
        "who know what the commands do.",
    )
    compression = forms.ChoiceField(
        choices=[("xz", "xz — smallest (default)"), ("gzip", "gzip — faster to build")],
        help_text="How system.img is compressed.",
    )
