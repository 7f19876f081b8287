"""Pre-flight: what would make a target's build fail, found when the blueprint is saved.

The package index knows which packages exist for each target's suite and architecture, which
systemd units each ships (Contents) and what each depends on. A service counts as provided
when the image will hold its unit file: from the blueprint's packages and their dependencies,
the profile's packages (kernel, firmware, extras), the builder's own packages and units, or
the blueprint's own files and build files. Checks a target's index cannot answer yet (not
loaded, or loaded before dependencies were kept) are skipped, never guessed: "package list
loading…", and the build is not blocked.

Every write path checks through `revision_problems` (blueprints.services), every build
through `build_blockers` (builds.services); the blueprint page shows `preflight_summary`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from blueprints.buildspec import buildspec_for, unit_name
from blueprints.checks import DEBIAN_PACKAGE, GENTOO_ATOM
from blueprints.errors import BlueprintSourceError
from blueprints.json5_io import line_of_item, line_of_key
from hardware_profiles.models import HardwareProfile
from image_builder.customize import DEVICE_UNITS, ENGINE_SERVICES, UNIT_DIRS, unit_file_names
from image_builder.errors import SpecError
from image_builder.rootfs import engine_packages
from image_builder.spec import UNIT_RE, BuildSpec
from package_index.checks import (
    package_index_missing,
    package_index_outdated,
    package_name_suggestion,
    packages_installed,
    packages_unknown,
    unit_shippers,
    units_shipped,
)

# The unit types Contents is read for (package_index.mirror.UNIT_LINE); others are not known.
CHECKED_UNIT_SUFFIXES = (".service", ".socket", ".timer")
LOADING = "package list loading…"
KERNEL_REMOVED = "cannot be removed"  # blueprints.buildspec: "-<kernel package>"


@dataclass(frozen=True)
class Problem:
    """Something that stops a build. `field` is the blueprint field to fix ("packages",
    "services", or "" for the target itself), `item` the entry as written there."""

    field: str
    item: str
    message: str


@dataclass
class TargetCheck:
    """One target's pre-flight: ready, or why not; `loading` lists what was not checked."""

    profile: HardwareProfile
    problems: list[Problem] = field(default_factory=list)
    loading: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """For the disabled build button: the first problem, and how many more."""
        if not self.problems:
            return ""
        more = len(self.problems) - 1
        return self.problems[0].message + (f" (and {more} more)" if more else "")


def _layers(data: dict[str, Any]) -> list[dict[str, Any]]:
    layers = [data]
    for group in ("arch", "variants"):
        if isinstance(data.get(group), dict):
            layers += [layer for layer in data[group].values() if isinstance(layer, dict)]
    return layers


def _written(data: dict[str, Any], key: str) -> list[str]:
    """The text entries of list `key` in every layer, in the order they are written."""
    entries: list[str] = []
    for layer in _layers(data):
        value = layer.get(key)
        entries += [e for e in value if isinstance(e, str)] if isinstance(value, list) else []
    return list(dict.fromkeys(entries))


def _sanitised(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the package and service names the blueprint checks refuse already (they
    are named there), so the rest can still be checked against the index in the same go."""

    def keep(layer: dict[str, Any]) -> dict[str, Any]:
        layer = dict(layer)
        for key in ("packages", "buildtime_packages", "services"):
            if isinstance(layer.get(key), list):
                valid = _valid_service if key == "services" else _valid_package
                layer[key] = [e for e in layer[key] if isinstance(e, str) and valid(e)]
        return layer

    cleaned = keep(data)
    for group in ("arch", "variants"):
        if isinstance(data.get(group), dict):
            cleaned[group] = {
                name: keep(layer) if isinstance(layer, dict) else layer
                for name, layer in data[group].items()
            }
    return cleaned


def _valid_package(name: str) -> bool:
    return bool(DEBIAN_PACKAGE.match(name)) and not GENTOO_ATOM.match(name)


def _valid_service(name: str) -> bool:
    return bool(UNIT_RE.match(unit_name(name).lstrip("-")))


def _file_units(spec: BuildSpec) -> set[str]:
    """Units whose file the blueprint writes itself (files and build files)."""
    units = set()
    for entry in (*spec.files, *spec.build_files):
        directory, _, name = str(entry.get("path", "")).lstrip("/").rpartition("/")
        if directory in UNIT_DIRS and name:
            units.add(name)
    return units


def _made_by_commands(spec: BuildSpec, unit: str) -> bool:
    """A setup command that names the unit may write its file: not refused on a guess."""
    stem = unit.split("@")[0].rsplit(".", 1)[0]
    return any(re.search(rf"(?<![\w-]){re.escape(stem)}(?![\w-])", c) for c in spec.setup_commands)


def _package_problems(
    spec: BuildSpec, profile: HardwareProfile, written: list[str]
) -> tuple[list[Problem], set[str]]:
    where = f"Debian {profile.suite} for {profile.arch}"
    names = [*spec.packages, *spec.buildtime_packages]
    names.sort(key=lambda name: written.index(name) if name in written else len(written))
    unknown = packages_unknown(
        names=names, suite=profile.suite, arches=[profile.arch], components=profile.components
    ).get(profile.arch, [])
    problems = []
    for name in (name for name in names if name in unknown):
        guess = package_name_suggestion(
            name=name, suite=profile.suite, arch=profile.arch, components=profile.components
        )
        hint = f" Did you mean “{guess}”?" if guess else " Check the spelling in Packages."
        problems.append(Problem("packages", name, f"“{name}” is not a package of {where}.{hint}"))
    return problems, set(unknown)


def _service_problems(
    spec: BuildSpec, profile: HardwareProfile, written: dict[str, str], unknown: set[str]
) -> list[Problem]:
    checked = [
        unit
        for unit in spec.services
        if unit.endswith(CHECKED_UNIT_SUFFIXES) and not _made_by_commands(spec, unit)
    ]
    if not checked:
        return []
    index = {"suite": profile.suite, "arch": profile.arch, "components": profile.components}
    wanted = [
        *spec.packages,
        spec.kernel_package,
        *spec.firmware_packages,
        *spec.extra_packages,
        *engine_packages(spec),
    ]
    installed = packages_installed(names=[p for p in wanted if p not in unknown], **index)
    provided = units_shipped(packages=installed, **index)
    provided |= {*ENGINE_SERVICES, *DEVICE_UNITS, *_file_units(spec)}
    problems = []
    for unit in checked:
        if unit_file_names(unit) & provided:
            continue
        item = written.get(unit, unit)
        shippers = [
            name
            for candidate in sorted(unit_file_names(unit))
            for name in unit_shippers(unit=candidate, **index)
        ]
        if shippers:
            message = (
                f"“{unit}” comes with the package {shippers[0]}, which this blueprint does not "
                f"install for {profile.arch}: add {shippers[0]} in Packages."
            )
        else:
            close = difflib.get_close_matches(unit, sorted(provided), n=1, cutoff=0.7)
            hint = (
                f"Did you mean “{close[0]}”?"
                if close
                else f"Check the name, or add its unit file in Files (/etc/systemd/system/{unit})."
            )
            message = (
                f"No package of Debian {profile.suite} for {profile.arch} in this image provides "
                f"“{unit}”. {hint}"
            )
        problems.append(Problem("services", item, message))
    return problems


def target_content_check(data: dict[str, Any], profile: HardwareProfile) -> TargetCheck:
    """The blueprint's packages and services for one target, against its package index."""
    check = TargetCheck(profile=profile)
    index = {"suite": profile.suite, "arches": [profile.arch], "components": profile.components}
    if package_index_missing(**index):
        check.loading.append(LOADING)
        return check
    try:
        spec = buildspec_for(_sanitised(data), profile)
    except SpecError as error:
        if KERNEL_REMOVED in str(error):  # the one merge problem only the target shows
            check.problems.append(Problem("packages", profile.kernel_package, f"The {error}."))
        return check  # otherwise a shape the blueprint checks name already
    except (TypeError, ValueError, AttributeError, KeyError):
        return check
    written = [*_written(data, "packages"), *_written(data, "buildtime_packages")]
    problems, unknown = _package_problems(spec, profile, written)
    check.problems += problems
    if package_index_outdated(**index):
        check.loading.append(f"{LOADING} (services are checked once it is read again)")
    else:
        services = {unit_name(entry): entry for entry in reversed(_written(data, "services"))}
        check.problems += _service_problems(spec, profile, services, unknown)
    return check


def _profiles(data: dict[str, Any]) -> list[HardwareProfile]:
    slugs = data.get("targets")
    if not isinstance(slugs, list):
        return []
    slugs = [slug for slug in slugs if isinstance(slug, str)]
    profiles = {p.slug: p for p in HardwareProfile.objects.filter(slug__in=slugs)}
    return [profiles[slug] for slug in dict.fromkeys(slugs) if slug in profiles]


def blueprint_problems(data: dict[str, Any]) -> list[Problem]:
    """Every target's problems, each once (the same message for two targets is one)."""
    found: dict[str, Problem] = {}
    for profile in _profiles(data):
        for problem in target_content_check(data, profile).problems:
            found.setdefault(problem.message, problem)
    return list(found.values())


def revision_problems(
    data: dict[str, Any], *, source: str, before: dict[str, Any] | None
) -> list[BlueprintSourceError]:
    """The problems a save would add, each with its line in `source`. Those the revision it
    is based on (`before`) had already are left to the pre-flight summary: a Debian package
    withdrawn since then must not stop someone fixing the description."""
    known = {(p.field, p.item) for p in blueprint_problems(before)} if before else set()
    return [
        BlueprintSourceError(
            problem.message,
            line=line_of_item(source, problem.field, problem.item)
            if problem.item
            else line_of_key(source, problem.field),
        )
        for problem in blueprint_problems(data)
        if (problem.field, problem.item) not in known
    ]


def preflight_summary(
    data: dict[str, Any], targets: Iterable[HardwareProfile], host_problems: dict[int, str]
) -> list[TargetCheck]:
    """Each target ready or not: its content, and `host_problems` (builds.selectors
    target_problems: disabled, not makeable, no build host online) first."""
    checks = []
    for profile in targets:
        check = target_content_check(data, profile)
        if problem := host_problems.get(profile.pk):
            check.problems.insert(0, Problem("", "", problem))
        checks.append(check)
    return checks


def build_blockers(data: dict[str, Any], profile: HardwareProfile) -> list[str]:
    """Why a build of `data` for `profile` would fail in the packages or services step."""
    return [problem.message for problem in target_content_check(data, profile).problems]
