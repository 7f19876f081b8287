"""The system.ini fields as a form: shared by the blueprint editor (the defaults every image
carries) and the per-device download form in builds (builds/forms.py), which both apply the
rules of the module the device itself runs."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import Any

from django import forms

from appliance.system_ini import KNOWN_KEYS, WIFI_KEYS, single_line_problem, validate_values

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


def lines_split(text: str) -> list[str]:
    """The non-empty lines of a textarea (browsers send CRLF). Only CR and LF end a line
    here: any other line separator stays inside its item, where the checks refuse it."""
    return [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


# What a person reads for each key in the device's reasons, which name keys because
# technicians edit them in system.ini (the status file keeps them); forms and pages say words.
KEY_WORDS = {
    "hostname": "the host name",
    "ip_address": "the IP address",
    "ip_gateway": "the gateway",
    "dns": "the DNS server list",
    "interface": "the interface",
    "wifi_ssid": "the Wi-Fi network name",
    "wifi_key": "the Wi-Fi password",
    "wifi_wpa3": "WPA3",
    "wifi_hidden": "the hidden network setting",
    "wifi_country": "the Wi-Fi country",
    "wifi_interface": "the Wi-Fi interface",
    "timezone": "the time zone",
    "locale": "the locale",
    "ntp": "the NTP server list",
    "ssh_pubkey": "the SSH keys",
    "autologin": "automatic login",
    "debug": "debug",
    "factory_reset": "the factory reset",
}
_NAMED_KEY_RE = re.compile(r" \((" + "|".join(KEY_WORDS) + r")\)")
# Keys with an underscore cannot be ordinary words; the others only as "because dns was".
_KEY_RE = re.compile(
    r"\b(" + "|".join(k for k in KEY_WORDS if "_" in k) + r")\b"
    r"|(?<=because )(" + "|".join(k for k in KEY_WORDS if "_" not in k) + r")(?= was\b)"
)


def for_people(reason: str) -> str:
    """A reason from ``appliance.system_ini`` in the words of the form instead of key names:
    "ignored because ip_address was rejected" -> "... because the IP address was rejected";
    a key only named in brackets after its words goes. It starts with a capital letter, as it
    stands alone under a field or in a list."""
    reason = _KEY_RE.sub(lambda match: KEY_WORDS[match.group()], _NAMED_KEY_RE.sub("", reason))
    return reason[:1].upper() + reason[1:]


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
        required=False,
        help_text="Interface for the fixed address, e.g. eth0; empty = the first wired one.",
    )
    wifi_ssid = OneLineField(
        required=False,
        label="Wi-Fi network name",
        help_text=(
            "The network the device joins; Ethernet keeps working beside it. Leave empty for "
            "no Wi-Fi."
        ),
    )
    wifi_key = OneLineField(
        required=False,
        label="Wi-Fi password",
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="8 to 63 characters, or 64 hex digits. Leave empty for an open network.",
    )
    wifi_key_forget = forms.BooleanField(
        required=False,
        label="Remove the saved Wi-Fi password",
        help_text="For an open network, or to type the password again later.",
    )
    wifi_wpa3 = forms.BooleanField(
        required=False,
        label="WPA3",
        help_text="The network uses WPA3 (SAE) instead of WPA2. It needs the password.",
    )
    wifi_hidden = forms.BooleanField(
        required=False,
        label="Hidden network",
        help_text="The network does not announce its name.",
    )
    wifi_country = OneLineField(
        required=False,
        max_length=2,
        label="Wi-Fi country",
        help_text=(
            "Two letters, e.g. US, DE, JP: the channels and power allowed there. Empty = only "
            "the channels allowed everywhere."
        ),
    )
    wifi_interface = OneLineField(
        required=False,
        label="Wi-Fi interface",
        help_text="e.g. wlan0; empty = the first Wi-Fi interface.",
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
    WIFI_FIELDS = (*WIFI_KEYS, "wifi_key_forget")
    WIFI_BOXES = ("wifi_wpa3", "wifi_hidden", "wifi_key_forget")
    BOXES = ("autologin", "debug", "wifi_wpa3", "wifi_hidden")  # system.ini's yes/no keys

    def __init__(
        self, *args: Any, has_wifi: bool = False, saved_wifi_key: object = "", **kwargs: Any
    ) -> None:
        """`saved_wifi_key`: the password saved so far. It is never put back into the page;
        an empty password field keeps it, unless the network name is cleared too."""
        super().__init__(*args, **kwargs)
        self.has_wifi = has_wifi
        self.saved_wifi_key = saved_wifi_key if has_wifi and isinstance(saved_wifi_key, str) else ""
        if not has_wifi:
            for name in self.WIFI_FIELDS:
                del self.fields[name]
            return
        self.fields[
            "interface"
        ].help_text += " Give the Wi-Fi interface (e.g. wlan0) to put the fixed address on Wi-Fi."
        if self.saved_wifi_key:
            self.fields["wifi_ssid"].help_text += " That also removes the saved password."
            self.fields["wifi_key"].help_text = (
                "A password is saved: leave this empty to keep it, or type a new one "
                "(8 to 63 characters, or 64 hex digits)."
            )
        else:
            del self.fields["wifi_key_forget"]  # nothing saved to remove

    @classmethod
    def initial_from(cls, values: dict[str, Any]) -> dict[str, Any]:
        initial = {k: v for k, v in values.items() if k != "wifi_key"}
        # A blueprint may spell a yes/no as text ("no"), which a checkbox would show ticked:
        # the boxes show what the device makes of it.
        typed = validate_values(values, capabilities=frozenset({"ethernet", "wifi"})).values
        for key in cls.BOXES:
            if key in initial:
                initial[key] = typed.get(key) is True
        for key in cls.LIST_KEYS:
            if isinstance(initial.get(key), list):
                initial[key] = ("\n" if key == "ssh_pubkey" else " ").join(initial[key])
        initial["network"] = "static" if values.get("ip_address") else "dhcp"
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("network") == "static" and not cleaned.get("ip_address"):
            self.add_error("ip_address", "A fixed address is needed, e.g. 192.168.1.20/24.")
        # The values as they would be saved, the kept password included: the device's rules
        # are about all of them together (WPA3 needs a password; nothing without a network).
        values = self.system_ini_values(cleaned)
        capabilities = frozenset({"ethernet", "wifi"} if self.has_wifi else {"ethernet"})
        result = validate_values(values, capabilities=capabilities)
        no_network = "wifi_ssid" not in values and "wifi_ssid" not in self.errors
        for key, reason in result.rejected.items():
            if key not in self.fields or key in self.errors:
                continue
            if no_network and key in WIFI_KEYS:
                self.add_error(key, _needs_network(key))
            elif not reason.startswith("ignored because"):  # the cause has its own error
                self.add_error(key, for_people(reason))
        return cleaned

    def system_ini_values(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The blueprint's `system_ini` object: only keys with a value."""
        values: dict[str, Any] = {}
        static = cleaned.get("network") == "static"
        for name in self.fields:
            value = cleaned.get(name)
            if name not in KNOWN_KEYS or (name in self.NETWORK_FIELDS and not static):
                continue
            if name in self.LIST_KEYS and isinstance(value, str):
                # Split only where a person separates items (lines; spaces and commas): any
                # other separator stays inside an item, and the item is refused.
                value = lines_split(value) if name == "ssh_pubkey" else _servers(value)
            if value not in ("", None, False, []):
                values[name] = value
        if not values.get("wifi_key") and self._keeps_saved_wifi_key(cleaned):
            values["wifi_key"] = self.saved_wifi_key  # an empty password field keeps it
        return values

    def _keeps_saved_wifi_key(self, cleaned: dict[str, Any]) -> bool:
        return bool(
            self.saved_wifi_key and cleaned.get("wifi_ssid") and not cleaned.get("wifi_key_forget")
        )

    def saved_wifi_key_removed(self) -> str:
        """On a valid form: a sentence saying the saved Wi-Fi password goes, or ""."""
        cleaned = self.cleaned_data
        if not self.saved_wifi_key or cleaned.get("wifi_key"):
            return ""
        if not cleaned.get("wifi_ssid"):
            return "The saved Wi-Fi password was removed with the network name."
        if cleaned.get("wifi_key_forget"):
            return "The saved Wi-Fi password was removed."
        return ""


def preview_warnings(
    form: SystemIniForm, values: dict[str, Any], capabilities: frozenset[str]
) -> list[tuple[str, str]]:
    """(field label, reason) for each value the preview of `values` leaves out: what the form
    refused, and what the device with `capabilities` would ignore (Wi-Fi on a wired board)."""
    warnings = [
        (str(form[name].label) if name in form.fields else "", str(message))
        for name, messages in form.errors.items()
        for message in messages
    ]
    rejected = validate_values(values, capabilities=capabilities).rejected
    for key, reason in rejected.items():
        if key in form.errors:
            continue
        if key in form.fields:
            label = str(form[key].label)
        else:
            words = KEY_WORDS.get(key, key).removeprefix("the ")
            label = words[:1].upper() + words[1:]
        warnings.append((label, for_people(reason)))
    return warnings


def _needs_network(key: str) -> str:
    """What a Wi-Fi setting without a network name (wifi_ssid) asks the person to do."""
    undo = "untick this" if key in SystemIniForm.WIFI_BOXES else "clear this"
    return f"Only used with a Wi-Fi network name: type the name above, or {undo}."
