"""The shared system.ini corpus (tests/data/system_ini) and small helpers for its tests."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from appliance.system_ini import AppSetting, SystemIniResult, parse_ini, validate_system_ini

CORPUS = Path(__file__).resolve().parents[1] / "data" / "system_ini"
CORPUS_FILES = sorted(CORPUS.glob("*.ini"))
SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")
ETHERNET = frozenset({"ethernet"})
WIFI = frozenset({"ethernet", "wifi"})


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


make_corpus = _load_make_corpus()
FULL_VALUES: dict[str, object] = json.loads((CORPUS / "all_keys.expected.json").read_text())[
    "values"
]
KIOSK_SETTINGS = [AppSetting(**s) for s in make_corpus.APP_SETTINGS]


def validate_text(raw: bytes | str, **kwargs) -> SystemIniResult:
    kwargs.setdefault("zoneinfo_dir", None)
    return validate_system_ini(parse_ini(raw), **kwargs)
