"""Forms of the blueprint editor's sections. Field rules come from the shared modules
(system.ini checks from the device's own module, names from blueprints.checks)."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import Any

from django import forms

from appliance.system_ini import single_line_problem, validate_values
from blueprints.checks import DEBIAN_PACKAGE, unit_name
from hardware_profiles.models import HardwareProfile
from image_builder.spec import (
    ACCOUNT_RE,
    FORBIDDEN_FILE_ROOTS,
    SPECIAL_MODE_BITS,
    UNIT_RE,
    protected_file_problem,
)

MAX_FILE_BYTES = 256 * 1024
COMMON_LOCALES = [
    "en_US.UTF-8",
    "en_GB.UTF-8",
    "de_DE.UTF-8",
    "fr_FR.UTF-8",
    "es_ES.UTF-8",
    "it_IT.UTF-8",
    "ja_JP.UTF-8",
    "zh_CN.UTF-8",
    "ko_KR.UTF-8",
    "pt_BR.UTF-8",
    "nl_NL.UTF-8",
    "sv_SE.UTF-8",
    "C.UTF-8",
]


class OneLineField(forms.CharField):
    """Text that goes on one line of system.ini: a line break or control character of any
    kind is an error, also at the edges, where the usual strip would silently drop it."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and (problem := single_line_problem(value)):
            raise forms.ValidationError(f"This {problem}.")
        return super().to_python(value)


@cache
def timezone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")
    return [("", "— image default (UTC) —"), *[(zone, zone.replace("_", " ")) for zone in zones]]


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


def _lines(text: str) -> list[str]:
    """The non-empty lines of a textarea (browsers send CRLF). Only CR and LF end a line
    here: any other line separator stays inside its item, where the checks refuse it."""
    return [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def _ssh_keys(text: str) -> list[str]:
    keys = _lines(text)
    if not keys:
        return []
    result = validate_values({"ssh_pubkey": keys}, capabilities=frozenset({"ethernet"}))
    if "ssh_pubkey" in result.rejected:
        raise forms.ValidationError(result.rejected["ssh_pubkey"])
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


class FileForm(forms.Form):
    # Product managers' files may not replace the accounts or the appliance's own code, nor be
    # setuid/setgid; build files (setup-commands permission, see BuildFileForm) may.
    protected = True

    path = forms.CharField(max_length=400, help_text="Absolute path, e.g. /etc/myapp/config.toml.")
    mode = forms.RegexField(
        regex=r"^0?[0-7]{3,4}$",
        initial="0644",
        max_length=5,
        help_text="Permissions in octal: 0644 for files, 0755 for programs.",
    )
    owner = forms.RegexField(regex=r"^[a-z_][a-z0-9_-]{0,31}$", initial="root", max_length=32)
    content = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
    )
    upload = forms.FileField(required=False, help_text="Or upload a file (up to 256 KiB).")

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
        if upload and upload.size > MAX_FILE_BYTES:
            self.add_error("upload", "This file is larger than 256 KiB.")
        if not upload and not cleaned.get("content"):
            self.add_error("content", "Type the file's content or upload a file.")
        return cleaned


class BuildFileForm(FileForm):
    """A file the setup commands need, placed before they run; any path and mode."""

    protected = False


class SettingForm(forms.Form):
    section = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_-]*$",
        max_length=40,
        help_text="Usually your service's name, e.g. kiosk.",
    )
    key = forms.RegexField(
        regex=r"^[a-z_][a-z0-9_]*$", max_length=40, help_text="lower_snake_case, e.g. start_url."
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


def _servers(text: str) -> list[str]:
    return [item for item in re.split(r"[ ,]+", text) if item]


class SystemIniForm(forms.Form):
    """The default system.ini. Values are checked by the module the device runs."""

    hostname = OneLineField(
        required=False, max_length=63, help_text="The device's network name, e.g. kiosk-01."
    )
    network = forms.ChoiceField(
        choices=[("dhcp", "Automatic (DHCP)"), ("static", "Fixed address")],
        widget=forms.RadioSelect,
        initial="dhcp",
        label="Network",
        help_text="Most networks hand out addresses automatically (DHCP).",
    )
    ip_address = OneLineField(
        required=False,
        label="IP address",
        help_text="Address with prefix length, e.g. 192.168.1.20/24.",
    )
    ip_gateway = OneLineField(
        required=False,
        label="Gateway",
        help_text="The router, inside the same network, e.g. 192.168.1.1.",
    )
    dns = OneLineField(
        required=False,
        label="DNS servers",
        help_text="Separated by spaces, e.g. 192.168.1.1 1.1.1.1.",
    )
    interface = OneLineField(
        required=False, help_text="Wired interface for the fixed address; empty = first."
    )
    wifi_ssid = OneLineField(required=False, label="Wi-Fi network name")
    wifi_key = OneLineField(
        required=False,
        label="Wi-Fi password",
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the saved password.",
    )
    wifi_country = OneLineField(
        required=False,
        max_length=2,
        label="Wi-Fi country",
        help_text="Two letters, e.g. US, DE, JP.",
    )
    timezone = forms.ChoiceField(required=False, choices=timezone_choices)
    locale = OneLineField(
        required=False,
        help_text="e.g. en_US.UTF-8",
        widget=forms.TextInput(attrs={"list": "locales"}),
    )
    ntp = OneLineField(
        required=False,
        label="NTP servers",
        help_text="Time servers separated by spaces; empty = Debian's pool.",
    )
    ssh_pubkey = forms.CharField(
        required=False,
        label="SSH keys for root",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One public key per line; lets your team log in over the network.",
    )
    autologin = forms.BooleanField(required=False, help_text="Log in on the console automatically.")
    debug = forms.BooleanField(required=False, help_text="Verbose messages while booting.")

    LIST_KEYS = ("dns", "ntp", "ssh_pubkey")
    NETWORK_FIELDS = ("ip_address", "ip_gateway", "dns", "interface")

    def __init__(self, *args: Any, has_wifi: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_wifi = has_wifi
        if not has_wifi:
            for name in ("wifi_ssid", "wifi_key", "wifi_country"):
                del self.fields[name]

    @classmethod
    def initial_from(cls, values: dict[str, Any]) -> dict[str, Any]:
        initial = {k: v for k, v in values.items() if k != "wifi_key"}
        for key in cls.LIST_KEYS:
            if isinstance(initial.get(key), list):
                initial[key] = ("\n" if key == "ssh_pubkey" else " ").join(initial[key])
        initial["network"] = "static" if values.get("ip_address") else "dhcp"
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("network") == "static" and not cleaned.get("ip_address"):
            self.add_error("ip_address", "A fixed address is needed, e.g. 192.168.1.20/24.")
        values = self.system_ini_values(cleaned)
        capabilities = frozenset({"ethernet", "wifi"} if self.has_wifi else {"ethernet"})
        result = validate_values(values, capabilities=capabilities)
        for key, reason in result.rejected.items():
            if key in self.fields and key not in self.errors and "ignored because" not in reason:
                self.add_error(key, reason)
        return cleaned

    def system_ini_values(
        self, cleaned: dict[str, Any], keep_wifi_key: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The blueprint's `system_ini` object: only keys with a value."""
        values: dict[str, Any] = {}
        static = cleaned.get("network") == "static"
        for name in self.fields:
            value = cleaned.get(name)
            if name == "network" or (name in self.NETWORK_FIELDS and not static):
                continue
            if name in self.LIST_KEYS and isinstance(value, str):
                # Split only where a person separates items (lines; spaces and commas): any
                # other separator stays inside an item, and the item is refused.
                value = _lines(value) if name == "ssh_pubkey" else _servers(value)
            if value not in ("", None, False, []):
                values[name] = value
        saved_key = (keep_wifi_key or {}).get("wifi_key")
        if "wifi_key" in self.fields and not values.get("wifi_key") and saved_key:
            values["wifi_key"] = saved_key  # an empty password field keeps the saved one
        return values

    def device_values(self, cleaned: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        """One device's whole top-level system.ini, from this form pre-filled with `defaults`.

        What the form sends replaces the defaults (a field the technician emptied stays
        empty); keys the form has no field for (factory_reset) keep the blueprint's value.
        """
        kept = {key: value for key, value in defaults.items() if key not in self.fields}
        return {**kept, **self.system_ini_values(cleaned, keep_wifi_key=defaults)}


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
