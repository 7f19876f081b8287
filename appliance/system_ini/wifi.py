"""What system.ini's Wi-Fi keys mean to the device's Wi-Fi client, wpa_supplicant.

The configuration is written so that no character of an SSID or key can reach the client's
parser as syntax: the SSID and a WPA3 password are written as hex (wpa_supplicant reads an
unquoted string value as hex), a WPA2 passphrase as the 256-bit key derived from it
(PBKDF2-HMAC-SHA1 over the SSID, 4096 rounds: IEEE 802.11i, the same as ``wpa_passphrase``).
Nothing typed by a person is ever inside quotes, so ``"``, ``#``, ``\\``, ``=`` or a line
break have nothing to end.

The client's events (``CTRL-EVENT-...`` on its control socket) are turned into the plain
words of the status file by :func:`wifi_event`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

CONTROL_DIR = "/run/wpa_supplicant"

_HEX64_RE = re.compile(r"[0-9A-Fa-f]{64}\Z")


def wpa_psk(passphrase: str, ssid: str) -> str:
    """The WPA2 pre-shared key for a passphrase, as 64 hex digits."""
    import hashlib  # here: it loads OpenSSL, which the agent needs only for a Wi-Fi passphrase

    key = hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32)
    return key.hex()


def wpa_supplicant_conf(values: Mapping[str, object]) -> str:
    """wpa_supplicant.conf for validated system.ini values (``validate_system_ini().values``).

    ``wifi_ssid`` must be set. ``wifi_key`` empty or missing: an open network; 64 hex
    digits: the WPA2 key itself; else the passphrase. ``wifi_wpa3``: SAE with protected
    management frames; ``wifi_hidden``: probe for the network by name; ``wifi_country``:
    the regulatory domain (else the world domain applies).
    """
    ssid = values.get("wifi_ssid")
    if not isinstance(ssid, str) or not ssid:
        raise ValueError("wifi_ssid is not set")
    key = values.get("wifi_key") or ""
    if not isinstance(key, str):
        raise ValueError("wifi_key must be text")
    lines = [
        "# Written by genpack-agent from system.ini at every boot; edit system.ini instead.",
        f"ctrl_interface={CONTROL_DIR}",
        "update_config=0",
        "p2p_disabled=1",
    ]
    country = values.get("wifi_country")
    if country:
        if not re.fullmatch(r"[A-Z]{2}", str(country)):
            raise ValueError("wifi_country must be two capital letters")
        lines.append(f"country={country}")
    network = [f"ssid={ssid.encode().hex()}"]
    if values.get("wifi_hidden"):
        network.append("scan_ssid=1")
    if not key:
        network.append("key_mgmt=NONE")
    elif values.get("wifi_wpa3"):
        network += ["key_mgmt=SAE", "ieee80211w=2", f"sae_password={key.encode().hex()}"]
    else:
        psk = key.lower() if _HEX64_RE.match(key) else wpa_psk(key, ssid)
        # WPA-PSK-SHA256 and optional protected frames: also joins WPA2/WPA3 mixed networks.
        network += ["key_mgmt=WPA-PSK WPA-PSK-SHA256", "ieee80211w=1", f"psk={psk}"]
    lines += ["network={", *(f"\t{line}" for line in network), "}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The client's events, in the status file's words
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WifiEvent:
    """``state`` is ``joined``, ``failed`` or ``trying``; ``reason`` says why, in plain words."""

    state: str
    reason: str = ""


_REASONS = {
    "WRONG_KEY": "wrong key: the network refused the Wi-Fi password (check wifi_key)",
    "AUTH_FAILED": "the network refused to let the device in (check wifi_key and wifi_wpa3)",
    "CONN_FAILED": "the connection to the network failed",
}


def wifi_event(line: str) -> WifiEvent | None:
    """Read one event line from wpa_supplicant's control socket (``<3>CTRL-EVENT-...``)."""
    text = re.sub(r"\A<\d>", "", line.strip())
    if text.startswith("CTRL-EVENT-CONNECTED"):
        return WifiEvent("joined")
    if text.startswith("CTRL-EVENT-SSID-TEMP-DISABLED"):
        match = re.search(r"\breason=(\S+)", text)
        code = match.group(1) if match else ""
        return WifiEvent("failed", _REASONS.get(code, f"the network could not be joined ({code})"))
    if text.startswith("CTRL-EVENT-NETWORK-NOT-FOUND"):
        return WifiEvent(
            "failed",
            "network not found: no access point with this name (wifi_ssid) is in range",
        )
    if text.startswith("CTRL-EVENT-ASSOC-REJECT"):
        match = re.search(r"\bstatus_code=(\d+)", text)
        code = f" (status {match.group(1)})" if match else ""
        return WifiEvent("failed", f"the access point refused the connection{code}")
    if text.startswith("CTRL-EVENT-DISCONNECTED"):
        return WifiEvent("trying", "disconnected; trying again")
    return None
