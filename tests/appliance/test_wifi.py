"""The Wi-Fi client's configuration, read back by wpa_supplicant's own parser.

`wpa_supplicant -dd -K` prints every value it parsed (the SSID and keys as hex dumps) before it
gives up on an interface that does not exist: what it read is compared byte for byte with
what the technician typed, for SSIDs and keys no quoting scheme survives.
"""

from __future__ import annotations

import re
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from appliance.system_ini import parse_ini, validate_system_ini, validate_values
from appliance.system_ini.wifi import wifi_event, wpa_psk, wpa_supplicant_conf

WIFI = frozenset({"ethernet", "wifi"})
PRINTABLE = string.printable[:95]  # every printable ASCII character, space included

pytestmark = pytest.mark.skipif(
    shutil.which("wpa_supplicant") is None, reason="wpa_supplicant missing: run scripts/install.sh"
)


def parsed_by_wpa_supplicant(conf: str, tmp_path: Path) -> dict[str, object]:
    """What wpa_supplicant read from ``conf``: fields -> bytes (dumps) or text."""
    path = tmp_path / "wpa_supplicant.conf"
    path.write_text(conf, encoding="utf-8")
    output = subprocess.run(
        ["wpa_supplicant", "-dd", "-K", "-c", str(path), "-i", "genpacktest0", "-D", "nl80211"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "Failed to read or parse configuration" not in output, output
    assert not re.search(r"^Line \d+: (?!- start)", output, re.M), output
    fields: dict[str, object] = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        dump = re.match(r"(\w+) - hexdump_ascii\(len=(\d+)\):$", line)
        if dump:
            length, data = int(dump.group(2)), b""
            for row in lines[index + 1 :]:
                if len(data) >= length:
                    break
                # "    " then " %02x" per byte (16 a row, padded), then the ASCII column.
                count = min(16, length - len(data))
                data += bytes.fromhex(row[4 : 4 + 3 * count])
            fields[dump.group(1)] = data
        elif match := re.match(r"PSK - hexdump\(len=32\): ([0-9a-f ]+)$", line):
            fields["psk"] = bytes.fromhex(match.group(1))
        elif match := re.match(r"key_mgmt: (0x[0-9a-f]+)$", line):
            fields["key_mgmt"] = int(match.group(1), 16)
        elif match := re.match(r"(scan_ssid|ieee80211w)=(\d+) ", line):
            fields[match.group(1)] = int(match.group(2))
        elif match := re.match(r"country='(..)'$", line):
            fields["country"] = match.group(1)
    return fields


def wpa_passphrase(ssid: str, passphrase: str) -> bytes:
    """The key Debian's own tool derives (the reference for wpa_psk)."""
    output = subprocess.run(
        ["wpa_passphrase", ssid, passphrase], capture_output=True, text=True, check=True
    ).stdout
    return bytes.fromhex(re.search(r"^\s*psk=([0-9a-f]{64})$", output, re.M).group(1))


def chunks(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


HOSTILE_SSIDS = [
    *chunks(PRINTABLE, 32),  # every printable ASCII character, 32 at a time
    'a"b', '"', '""', "#", "x # y", '"#', 'x" # "y', 'ab"#cd',
    "x ; y", "%s%n", "a=b", "\\", "\\x41\\n", "}",
    "network={", " leading and trailing ", "Caf\u00e9 \u00dcn\u00efc\u00f8d\u00e9",
    "\u65e5\u672c\u8a9e\u306eWi-Fi",  # 3-byte UTF-8 letters
    "\U0001f4f6 signal",  # 4-byte UTF-8
    "x" * 32,
    "\u00e9" * 16,  # 32 bytes in 16 letters
]  # fmt: skip
HOSTILE_KEYS = [
    *chunks(PRINTABLE, 63),
    PRINTABLE[-8:],
    'pass"word', 'pa"#ss"word', "pass#word", "pass;word", "%d%d%d%d", "back\\slash", "  spaces  ",
    "k" * 63, "12345678",
]  # fmt: skip


@pytest.mark.parametrize("ssid", HOSTILE_SSIDS)
def test_any_ssid_reaches_the_client_byte_for_byte(ssid: str, tmp_path: Path) -> None:
    result = validate_values({"wifi_ssid": ssid, "wifi_key": "a password"}, capabilities=WIFI)
    assert result.rejected == {}
    read = parsed_by_wpa_supplicant(wpa_supplicant_conf(result.values), tmp_path)
    assert read["ssid"] == ssid.encode()
    assert read["psk"] == wpa_passphrase(ssid, "a password")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_any_wpa2_passphrase_gives_the_key_wpa_passphrase_derives(key: str, tmp_path: Path) -> None:
    ssid = 'My "home" #net'
    result = validate_values({"wifi_ssid": ssid, "wifi_key": key}, capabilities=WIFI)
    assert result.rejected == {}
    conf = wpa_supplicant_conf(result.values)
    assert key not in conf  # the passphrase itself never reaches the file
    read = parsed_by_wpa_supplicant(conf, tmp_path)
    assert read["psk"] == wpa_passphrase(ssid, key)
    assert read["key_mgmt"] == 0x2 | 0x100  # WPA-PSK, WPA-PSK-SHA256
    assert read["ieee80211w"] == 1


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_any_wpa3_password_reaches_the_client_byte_for_byte(key: str, tmp_path: Path) -> None:
    values = {"wifi_ssid": "sae net", "wifi_key": key, "wifi_wpa3": True}
    result = validate_values(values, capabilities=WIFI)
    assert result.rejected == {}
    read = parsed_by_wpa_supplicant(wpa_supplicant_conf(result.values), tmp_path)
    assert read["sae_password"] == key.encode()
    assert read["key_mgmt"] == 0x400  # SAE
    assert read["ieee80211w"] == 2  # WPA3 requires protected management frames


@pytest.mark.parametrize("key", ["0123456789abcdef" * 4, "ABCDEF0123456789" * 4])
def test_64_hex_digits_are_the_key_itself(key: str, tmp_path: Path) -> None:
    result = validate_values({"wifi_ssid": "hex", "wifi_key": key}, capabilities=WIFI)
    read = parsed_by_wpa_supplicant(wpa_supplicant_conf(result.values), tmp_path)
    assert read["psk"] == bytes.fromhex(key)


def test_open_hidden_network_in_a_country(tmp_path: Path) -> None:
    values = {"wifi_ssid": "cafe", "wifi_hidden": True, "wifi_country": "de"}
    result = validate_values(values, capabilities=WIFI)
    read = parsed_by_wpa_supplicant(wpa_supplicant_conf(result.values), tmp_path)
    assert read["key_mgmt"] == 0x4  # NONE: an open network
    assert read["scan_ssid"] == 1
    assert read["country"] == "DE"
    assert "psk" not in read


def test_a_notepad_file_with_quotes_and_comment_signs_reaches_the_client(tmp_path: Path) -> None:
    raw = (
        '\ufeffwifi_ssid = "Caf\u00e9 ; # \\"x\\""\r\nwifi_key = "p#ss; word="\r\n'
        "wifi_country = jp\r\n"
    ).encode("utf-8")
    result = validate_system_ini(parse_ini(raw), capabilities=WIFI)
    assert result.rejected == {}
    ssid, key = result.values["wifi_ssid"], result.values["wifi_key"]
    read = parsed_by_wpa_supplicant(wpa_supplicant_conf(result.values), tmp_path)
    assert read["ssid"] == ssid.encode()
    assert read["psk"] == wpa_passphrase(ssid, key)
    assert read["country"] == "JP"


@pytest.mark.parametrize(
    ("values", "rejected"),
    [
        ({"wifi_ssid": "x" * 33}, "wifi_ssid"),
        ({"wifi_ssid": "\u00e9" * 17}, "wifi_ssid"),  # 34 bytes
        ({"wifi_ssid": "a\nnetwork={"}, "wifi_ssid"),
        ({"wifi_ssid": "x", "wifi_key": "short"}, "wifi_key"),
        ({"wifi_ssid": "x", "wifi_key": "k" * 64}, "wifi_key"),  # 64, not hex
        ({"wifi_ssid": "x", "wifi_key": "caf\u00e9-caf\u00e9"}, "wifi_key"),
        ({"wifi_ssid": "x", "wifi_key": "good password\n"}, "wifi_key"),
        ({"wifi_ssid": "x", "wifi_country": "XX"}, "wifi_country"),
        ({"wifi_ssid": "x", "wifi_interface": "wlan0; reboot"}, "wifi_interface"),
        ({"wifi_ssid": "x", "wifi_wpa3": True}, "wifi_wpa3"),
    ],
)
def test_what_the_client_cannot_use_is_rejected_with_a_reason(
    values: dict[str, object], rejected: str
) -> None:
    result = validate_values(values, capabilities=WIFI)
    assert rejected in result.rejected
    assert result.rejected[rejected]
    key = values.get("wifi_key")
    assert not key or all(key not in reason for reason in result.rejected.values())


def test_a_rejected_key_never_joins_an_open_network_instead() -> None:
    result = validate_values({"wifi_ssid": "x", "wifi_key": "short"}, capabilities=WIFI)
    assert "wifi_ssid" not in result.values
    assert "wifi_ssid" in result.rejected


def test_psk_derivation_matches_the_ieee_test_vector() -> None:
    # IEEE 802.11i-2004, H.4.1: "password" on SSID "IEEE".
    assert wpa_psk("password", "IEEE") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    )


@pytest.mark.parametrize(
    ("line", "state", "words"),
    [
        ("<3>CTRL-EVENT-CONNECTED - Connection to 02:00:00:00:01:00 completed [id=0 id_str=]",
         "joined", ""),
        ('<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid="a b" auth_failures=1 duration=10 '
         "reason=WRONG_KEY", "failed", "wrong key"),
        ("<3>CTRL-EVENT-NETWORK-NOT-FOUND", "failed", "network not found"),
        ("<3>CTRL-EVENT-ASSOC-REJECT bssid=02:00:00:00:01:00 status_code=17", "failed",
         "refused the connection (status 17)"),
    ],
)  # fmt: skip
def test_client_events_become_plain_words(line: str, state: str, words: str) -> None:
    event = wifi_event(line)
    assert event is not None and event.state == state and words in event.reason


def test_other_client_chatter_is_not_an_event() -> None:
    assert wifi_event("<3>CTRL-EVENT-SCAN-STARTED ") is None
    assert wifi_event("<2>Trying to associate with 02:00:00:00:01:00") is None
