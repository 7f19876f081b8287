"""Read, check and write ``system.ini``: the one settings file a field technician edits.

This package is shared by the web app (checking what people type, rendering the file
into a downloaded image, reading a device's status file) and by the boot-time agent on the
appliance (applying the file, writing the status file back). Both sides run this exact code,
so what the web accepts is what the device applies. That is why it uses the Python standard
library only and runs on Python 3.11 (Debian bookworm inside the image) as well as 3.12+.
Its modules import one another relatively, so the image installs the package as the
top-level ``system_ini`` next to the agent and the same code imports there.

Behaviour follows ``SYSTEM_INI.md``; the shared sample corpus in ``tests/data/system_ini``
pins it down. In short:

- the file may come from Notepad, TextEdit or vi (any BOM / encoding / line ending);
- a bad value never stops the rest from applying: the key is rejected with a plain-English
  reason, and a rejected network setting makes the device fall back to DHCP;
- secrets (``wifi_key``, app settings that look like passwords) never appear in a repr,
  a status file or a rejection reason.

One module per job: ``keys`` (names, secrets, shared patterns), ``reader`` (decoding and
parsing), ``app_settings`` (a blueprint's own settings), ``checks`` (one per known key),
``validate`` (a parsed file or a mapping of values), ``render`` (writing the file, changing
one key in place) and ``status`` (the status file). Import the names below from here.
"""

from .app_settings import AppSetting
from .checks import single_line_problem
from .keys import (
    APP_SETTING_TYPES,
    BOOT_ANALYSIS_FILE_NAME,
    DEFAULT_ZONEINFO_DIR,
    KNOWN_KEYS,
    NETWORK_KEYS,
    SECRET_MASK,
    STATUS_FILE_NAME,
    WIFI_KEYS,
    is_secret_key,
)
from .reader import ParsedIni, decode_ini_bytes, parse_ini
from .render import render_system_ini, rewrite_setting
from .status import parse_status_report, status_report
from .validate import SystemIniResult, validate_system_ini, validate_values

__all__ = [
    "APP_SETTING_TYPES",
    "BOOT_ANALYSIS_FILE_NAME",
    "DEFAULT_ZONEINFO_DIR",
    "KNOWN_KEYS",
    "NETWORK_KEYS",
    "SECRET_MASK",
    "STATUS_FILE_NAME",
    "WIFI_KEYS",
    "AppSetting",
    "ParsedIni",
    "SystemIniResult",
    "decode_ini_bytes",
    "is_secret_key",
    "parse_ini",
    "parse_status_report",
    "render_system_ini",
    "rewrite_setting",
    "single_line_problem",
    "status_report",
    "validate_system_ini",
    "validate_values",
]
