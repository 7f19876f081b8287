"""The appliance code on the device Python: /usr/bin/python3 -I tests/appliance/device_python.py

The image runs appliance/ with Debian's python3 (3.11), standard library only; the main suite
runs on the project's newer Python with pytest. This script needs neither pytest nor Django,
so test_device_python.py runs it with the host's Debian python3 to prove, on that version:
every appliance module imports, and every sample of the shared corpus (tests/data/system_ini)
parses and validates to the result its .expected.json carries, renders back to the same
values, passes the web's check of values, and survives the device's status file.
Prints one line per failure and a summary; exits 1 on any failure.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "system_ini"
ZONEINFO = Path("/usr/share/zoneinfo")
sys.path.insert(0, str(ROOT))  # -I leaves the repository off the path: only appliance/ is used

import appliance  # noqa: E402
from appliance.system_ini import (  # noqa: E402
    AppSetting,
    SystemIniResult,
    parse_ini,
    parse_status_report,
    render_system_ini,
    status_report,
    validate_system_ini,
    validate_values,
)


def import_every_module() -> list[str]:
    names = ["appliance"]
    for module in pkgutil.walk_packages(appliance.__path__, "appliance."):
        importlib.import_module(module.name)
        names.append(module.name)
    return names


def _differences(result: SystemIniResult, expected: dict) -> list[str]:
    """The same comparison as test_system_ini.test_corpus_file_gives_expected_result."""
    wrong = []
    if result.values != expected["values"]:
        wrong.append(f"values {result.values!r}")
    if set(result.rejected) != set(expected["rejected"]):
        wrong.append(f"rejected keys {sorted(result.rejected)!r}")
    for key, fragment in expected["rejected"].items():
        if fragment not in result.rejected.get(key, ""):
            wrong.append(f"reason for {key}: {result.rejected.get(key)!r}")
    if sorted(result.unknown) != sorted(expected["unknown"]):
        wrong.append(f"unknown {result.unknown!r}")
    if result.network_fallback is not expected["network_fallback"]:
        wrong.append(f"network_fallback {result.network_fallback!r}")
    if "app_sections" in expected and result.app_sections != expected["app_sections"]:
        wrong.append(f"app_sections {result.app_sections!r}")
    wanted = expected.get("problems", [])
    if not wanted and result.problems:
        wrong.append(f"problems {result.problems!r}")
    for fragment in wanted:
        if not any(fragment in problem for problem in result.problems):
            wrong.append(f"no problem mentions {fragment!r}")
    return wrong


def _round_trips(result: SystemIniResult, capabilities: frozenset[str]) -> list[str]:
    """What the web renders from the applied values reads back the same, on both ways in."""
    wrong = []
    rendered = render_system_ini(result.values, capabilities=capabilities)
    again = validate_system_ini(parse_ini(rendered), capabilities=capabilities, zoneinfo_dir=None)
    if again.values != result.values or again.rejected:
        wrong.append(f"re-rendered file reads back as {again!r}")
    checked = validate_values(result.values, capabilities=capabilities, zoneinfo_dir=None)
    if checked.values != result.values or checked.rejected:
        wrong.append(f"values checked as data give {checked!r}")
    report = parse_status_report(status_report(result, image="corpus", build="1", time="now"))
    if set(report["rejected"]) != set(result.rejected) or report["image"] != "corpus":
        wrong.append(f"status file reads back as {report!r}")
    return wrong


def check_sample(ini_path: Path, zoneinfo_dir: Path | None) -> list[str]:
    expected = json.loads(ini_path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    capabilities = frozenset(expected["capabilities"])
    declared = expected.get("app_settings")
    result = validate_system_ini(
        parse_ini(ini_path.read_bytes()),
        capabilities=capabilities,
        app_settings=[AppSetting(**s) for s in declared] if declared is not None else None,
        zoneinfo_dir=zoneinfo_dir,
    )
    wrong = _differences(result, expected)
    if zoneinfo_dir is None:
        wrong += _round_trips(result, capabilities)
    return wrong


def main() -> int:
    modules = import_every_module()
    samples = sorted(CORPUS.glob("*.ini"))
    zone_modes = [None, ZONEINFO] if ZONEINFO.is_dir() else [None]
    failures = 0
    for ini_path in samples:
        for zoneinfo_dir in zone_modes:
            for problem in check_sample(ini_path, zoneinfo_dir):
                failures += 1
                print(f"FAIL {ini_path.name} (zoneinfo {zoneinfo_dir}): {problem}")
    version = ".".join(map(str, sys.version_info[:3]))
    print(
        f"python {version}: {len(modules)} modules imported, {len(samples)} samples x "
        f"{len(zone_modes)} zone modes checked, {failures} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
