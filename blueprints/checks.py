"""What makes blueprint data valid, with messages a product manager can act on.

Shapes that the engine also checks (users, groups, files, settings) are checked by the
engine's own normalisation, so the form, the import and the build agree; system_ini values
by the module the device itself runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from appliance.system_ini import KNOWN_KEYS, AppSetting, validate_values
from blueprints.buildspec import unit_name, user_entry
from blueprints.errors import BlueprintProblemsError
from blueprints.json5_io import BlueprintSourceError, json5_load, line_of_item, line_of_key
from blueprints.secrets import placeholders_refuse
from image_builder.errors import SpecError
from image_builder.spec import UNIT_RE, BuildSpec

KNOWN_FIELDS = frozenset(
    {
        "name",
        "description",
        "version",
        "packages",
        "buildtime_packages",
        "services",
        "users",
        "groups",
        "files",
        "build_files",
        "setup_commands",
        "targets",
        "system_ini",
        "settings",
        "arch",
        "variants",
        "compression",
    }
)
# Allowed inside `arch` and `variants` layers (genpack's merge).
LAYER_FIELDS = frozenset(
    {
        "packages",
        "buildtime_packages",
        "services",
        "users",
        "groups",
        "files",
        "build_files",
        "setup_commands",
        "settings",
        "description",
        "version",
        "compression",
    }
)
# genpack fields with no meaning for Debian builds: kept in the source, ignored, warned about.
GENPACK_ONLY_FIELDS = frozenset(
    {
        "use",
        "accept_keywords",
        "license",
        "mask",
        "env",
        "binpkg_excludes",
    }
)
SHAPED_FIELDS = ("users", "groups", "files", "build_files", "settings")
STRING_LIST_FIELDS = ("packages", "buildtime_packages", "services", "setup_commands", "targets")
COMPRESSIONS = ("xz", "gzip")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Debian package names (policy 5.6.1), optionally prefixed with "-" to remove one.
DEBIAN_PACKAGE = re.compile(r"^-?[a-z0-9][a-z0-9+.-]+$")
GENTOO_ATOM = re.compile(r"^[<>=~!]*[a-z0-9-]+/[A-Za-z0-9_+.-]+")
# Well-known Gentoo names whose Debian name differs.
GENTOO_TO_DEBIAN = {
    "net-misc/openssh": "openssh-server",
    "app-editors/vim": "vim",
    "net-misc/curl": "curl",
    "dev-lang/python": "python3",
    "www-servers/nginx": "nginx",
    "app-misc/screen": "screen",
    "net-misc/chrony": "chrony",
    "sys-apps/iproute2": "iproute2",
    "dev-vcs/git": "git",
    "net-wireless/wpa_supplicant": "wpasupplicant",
    "app-admin/sudo": "sudo",
}


def _fail(message: str, source: str, key: str) -> BlueprintSourceError:
    return BlueprintSourceError(message, line=line_of_key(source, key))


class Problems:
    """Problems collected across independent checks, raised together at the end."""

    def __init__(self) -> None:
        self.errors: list[BlueprintSourceError] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except BlueprintSourceError as error:
            self.add(error)

    def add(self, error: BlueprintSourceError) -> None:
        if isinstance(error, BlueprintProblemsError):
            self.errors.extend(error.errors)
        elif str(error) not in map(str, self.errors):
            self.errors.append(error)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise BlueprintProblemsError(self.errors)


def _check_string_list(layer: dict[str, Any], key: str, source: str) -> None:
    value = layer.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(
            f'“{key}” must be a list of text values, e.g. {key}: ["one", "two"].', source, key
        )


def _check_packages(layer: dict[str, Any], source: str) -> None:
    problems = Problems()
    for key in ("packages", "buildtime_packages"):
        for name in layer.get(key) or []:
            with problems.check():
                _check_package(key, name, source)
    problems.raise_any()


def _check_package(key: str, name: str, source: str) -> None:
    if GENTOO_ATOM.match(name):
        atom = name.lstrip("<>=~!").split(":")[0]
        atom = re.sub(r"-[0-9].*$", "", atom)
        guess = GENTOO_TO_DEBIAN.get(atom)
        hint = f" — perhaps “{guess}”" if guess else ""
        raise BlueprintSourceError(
            f"“{name}” is a Gentoo package atom; genpack-site builds from Debian "
            f"packages, so use a Debian package name{hint}.",
            line=line_of_item(source, key, name),
        )
    if not DEBIAN_PACKAGE.match(name):
        raise BlueprintSourceError(
            f"“{name}” in {key} is not a valid Debian package name "
            "(lower-case letters, digits, + - and . only).",
            line=line_of_item(source, key, name),
        )


def _check_services(layer: dict[str, Any], source: str) -> None:
    problems = Problems()
    for service in layer.get("services") or []:
        if not UNIT_RE.match(unit_name(service).lstrip("-")):
            problems.add(
                BlueprintSourceError(
                    f"“{service}” is not a systemd unit name (e.g. ssh.service, backup.timer, "
                    "getty@tty1.service).",
                    line=line_of_item(source, "services", service),
                )
            )
    problems.raise_any()


def _check_shapes(layer: dict[str, Any], source: str) -> None:
    """users, groups, files, build files and settings, as the engine will read them."""
    for key in SHAPED_FIELDS:
        if key in layer and not isinstance(layer[key], list):
            raise _fail(f"“{key}” must be a list.", source, key)
    try:
        spec = BuildSpec(
            name="check",
            users=tuple(user_entry(user) for user in layer.get("users") or []),
            groups=tuple(layer.get("groups") or []),
            files=tuple(layer.get("files") or []),
            build_files=tuple(layer.get("build_files") or []),
            settings=tuple(layer.get("settings") or []),
        ).normalise()
    except (SpecError, TypeError, ValueError) as error:
        key = str(error).split(":", 1)[0].split()[0] if str(error) else "users"
        key = key if key in SHAPED_FIELDS else _guess_key(str(error))
        raise _fail(str(error), source, key) from None
    for setting in spec.settings:
        # A default and the choices are written into system.ini: the device's rules decide
        # (one line each, the right type).
        try:
            AppSetting(**setting)
        except ValueError as error:
            raise _fail(str(error), source, "settings") from None


def _guess_key(message: str) -> str:
    for key in ("user", "group", "file", "setting"):
        if message.startswith(key):
            return f"{key}s"
    return "users"


def _check_layer(layer: Any, source: str, where: str) -> None:
    if not isinstance(layer, dict):
        raise _fail(f"“{where}” entries must be objects like {{packages: [...]}}.", source, where)
    problems = Problems()
    for key in layer:
        if key not in LAYER_FIELDS:
            problems.add(_fail(f"“{key}” cannot be set inside “{where}”.", source, key))
    lists_ok = True
    for key in ("packages", "buildtime_packages", "services", "setup_commands"):
        with problems.check():
            try:
                _check_string_list(layer, key, source)
            except BlueprintSourceError:
                lists_ok = False
                raise
    if lists_ok:  # the names are checked once they are text
        with problems.check():
            _check_packages(layer, source)
        with problems.check():
            _check_services(layer, source)
    with problems.check():
        _check_shapes(layer, source)
    problems.raise_any()


def _check_system_ini(data: dict[str, Any], source: str) -> None:
    values = data.get("system_ini")
    if values is None:
        return
    if not isinstance(values, dict):
        raise _fail("“system_ini” must be an object of key: value pairs.", source, "system_ini")
    for key in values:
        if key not in KNOWN_KEYS:
            raise _fail(
                f"“{key}” is not a system.ini key. Known keys: {', '.join(KNOWN_KEYS)}.",
                source,
                "system_ini",
            )
    # The values as values: a list item or a text is never joined into INI text, where a
    # line break or "factory_reset=yes" in dns would become a setting of its own.
    result = validate_values(values, capabilities=frozenset({"ethernet", "wifi"}))
    if result.rejected:
        # The cause, not a key that was only "ignored because" of it.
        key, reason = next(
            ((k, r) for k, r in result.rejected.items() if not r.startswith("ignored because")),
            next(iter(result.rejected.items())),
        )
        raise _fail(f"system_ini “{key}”: {reason}", source, key)


def build_host_code(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """What of a blueprint runs as root on the build host: setup commands and build files, at
    the top level and in every arch / variants layer, keyed by (group, layer name); "" is the
    top level. Canonical: two blueprints run the same build-host code iff the results are equal
    (command order counts, build file order does not). Expects checked data."""

    def code(layer: Any) -> dict[str, Any]:
        if not isinstance(layer, dict):
            return {}
        found: dict[str, Any] = {}
        if commands := layer.get("setup_commands"):
            found["setup_commands"] = list(commands)
        if files := layer.get("build_files"):
            found["build_files"] = sorted(files, key=lambda f: json.dumps(f, sort_keys=True))
        return found

    layers = {("", ""): code(data)}
    for group in ("arch", "variants"):
        if isinstance(data.get(group), dict):
            for name, layer in data[group].items():
                layers[(group, name)] = code(layer)
    return {where: found for where, found in layers.items() if found}


MoreChecks = Callable[[dict[str, Any]], list[BlueprintSourceError]]


def blueprint_check(data: Any, *, source: str = "", more: MoreChecks | None = None) -> list[str]:
    """Raise BlueprintSourceError for the problems, all of them at once where they are
    independent (BlueprintProblemsError); return warnings for ignored fields. `more` adds
    checks that need the database (blueprints.preflight), run on the same data."""
    from blueprints.limits import data_limits_check

    if not isinstance(data, dict):
        raise BlueprintSourceError('A blueprint is an object: { name: "...", packages: [...] }.')
    data_limits_check(data)  # first: the checks below walk every package and file
    # First: a placeholder would otherwise fail later as "not a crypt hash" or pass as a key.
    placeholders_refuse(data, source)
    warnings = []
    problems = Problems()
    for key in data:
        if not isinstance(key, str):
            raise BlueprintSourceError("Field names must be text.")
        if key in GENPACK_ONLY_FIELDS:
            warnings.append(
                f"“{key}” (line {line_of_key(source, key)}) is a Gentoo/genpack setting with "
                "no meaning for Debian builds; it is kept but ignored."
            )
        elif key not in KNOWN_FIELDS:
            problems.add(
                _fail(
                    f"Unknown field “{key}”. Known fields: {', '.join(sorted(KNOWN_FIELDS))}.",
                    source,
                    key,
                )
            )
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.add(
            _fail(
                "“name” is required: lower-case letters, digits and hyphens, at most 63 "
                "characters.",
                source,
                "name",
            )
        )
    for key in ("description", "version"):
        if key in data and not isinstance(data[key], str):
            problems.add(_fail(f"“{key}” must be text.", source, key))
    if data.get("compression", "xz") not in COMPRESSIONS:
        problems.add(
            _fail(f"“compression” must be one of {', '.join(COMPRESSIONS)}.", source, "compression")
        )
    with problems.check():
        _check_string_list(data, "targets", source)
    with problems.check():
        _check_layer({k: v for k, v in data.items() if k in LAYER_FIELDS}, source, "blueprint")
    for group in ("arch", "variants"):
        layers = data.get(group)
        if layers is None:
            continue
        if not isinstance(layers, dict):
            problems.add(
                _fail(f"“{group}” must be an object: {{name: {{packages: [...]}}}}.", source, group)
            )
            continue
        for layer in layers.values():
            with problems.check():
                _check_layer(layer, source, group)
    with problems.check():
        _check_system_ini(data, source)
    if more is not None:
        for error in more(data):
            problems.add(error)
    problems.raise_any()
    return warnings


@dataclass
class ParsedBlueprint:
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def blueprint_parse(source: str, *, more: MoreChecks | None = None) -> ParsedBlueprint:
    """Parse and check blueprint JSON5. Raises BlueprintSourceError; returns data + warnings."""
    data = json5_load(source)
    warnings = blueprint_check(data, source=source, more=more)
    return ParsedBlueprint(data=data, warnings=warnings)
